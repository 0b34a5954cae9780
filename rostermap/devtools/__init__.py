"""Tools for writing, trying and testing profiles: ``generate`` writes a realistic
district, ``serve`` serves a CSV package as a OneRoster REST API on 127.0.0.1,
``lsp`` is the language server editors start for mapping files.

Not on a run's path: the runtime never imports them.
"""
