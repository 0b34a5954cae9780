"""Runs against the last one: the state file (``state``), change rows (``changes``),
mass-change limits (``guard``), the sync run itself (``run``), history and diffs
(``history``) and many tenants at once (``many``).
"""
