"""rostermap's version, as generated modules, the compile cache and ``--version`` name it."""

from importlib import metadata

try:
    VERSION = metadata.version("rostermap")
except metadata.PackageNotFoundError:  # imported from a checkout that is not installed
    VERSION = "0+unknown"
