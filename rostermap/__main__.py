"""``python -m rostermap``: the same command line as the ``rostermap`` script."""

from rostermap.cli.main import main

main()
