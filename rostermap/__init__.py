"""rostermap: compile declarative OneRoster mappings into checked product import transforms.

The package is layered, each layer importing only those below it (a test holds
this): ``cli`` and ``devtools`` on top, then ``runtime`` (sources, the engine
compiled modules run on, runs, sync state, reports), ``compiler``, and ``dsl``,
the mapping language and the OneRoster model. ARCHITECTURE.md draws the tree.
"""
