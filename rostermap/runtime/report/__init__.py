"""What a run reports: ``model`` (report.json's typed parts and JSON Schema),
``json_report`` (built from a run's results, and the terminal summary),
``html_report`` (report.html).
"""
