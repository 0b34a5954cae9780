"""Running a compiled mapping: read a source, run the plans, write files and reports.

Layers, each importing only those below it: ``sync`` (state, changes, guards) >
``run`` (load a mapping, one stateless run, write files) > ``report`` > ``engine``
(the typed tables and the plans compiled modules are made of) > ``sources`` (CSV
packages and REST APIs) > ``errors`` and ``redact``.
"""
