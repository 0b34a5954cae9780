"""Where OneRoster records come from: a CSV package (a zip or a folder; deltas
applied by ``delta``) or a REST API (``rest``, with ``config`` and ``auth``), each
giving the same raw tables (``raw``).
"""
