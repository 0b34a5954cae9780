"""The ``rostermap`` command (click): parses options, calls the layers below, prints.

The top layer: it may import anything, and nothing imports it.
"""
