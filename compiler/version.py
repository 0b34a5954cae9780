"""rostermap's version, as generated modules and the compile cache name it."""

VERSION = "0.1.0"
