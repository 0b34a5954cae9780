"""Tools for trying and testing profiles: ``generate`` writes a realistic district,
``serve`` serves a CSV package as a OneRoster REST API on 127.0.0.1.

Not on a run's path: the runtime never imports them.
"""
