"""One run: find and load a mapping (``loader``, ``cache``), read its inputs and run
it (``pipeline``), write its files all or nothing (``outputs``), or explain what it
does with one record (``explain``).
"""
