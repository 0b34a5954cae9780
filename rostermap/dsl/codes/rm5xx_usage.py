"""RM5xx: run usage: parameters, profiles, records and files named on the command line.

Most call sites are in rostermap.runtime and still build their Diagnostic themselves
(rm4xx_data says how to convert one); reading a mapping file is in rostermap.dsl and
goes through its constructors.
"""

from __future__ import annotations

from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.diagnostics import DataLocation

__all__ = ["mapping_not_utf8", "unreadable_mapping"]

code("RM501", "unknown parameter",
     "--param names a parameter the profile does not declare.")

code("RM502", "missing parameter",
     "The profile declares a parameter without a default.")

code("RM503", "bad parameter value",
     "--param gives a value that does not have the parameter's type.")

code("RM504", "unknown profile",
     "PROFILE is a name in mappings/ or a path to a mapping file.")

code("RM505", "record not found",
     "--record is <entity>/<sourcedId> of a record in the source.")

_UNREADABLE_MAPPING = code("RM506", "unreadable mapping file",
                           "A mapping file cannot be read, or is not UTF-8 text.")


@_UNREADABLE_MAPPING
def unreadable_mapping(path: str, reason: str) -> Draft:
    """``reason`` is the operating system's (No such file or directory)."""
    return Draft(f"cannot read the mapping file `{path}`: {reason}", location=DataLocation(path))


@_UNREADABLE_MAPPING
def mapping_not_utf8(path: str, byte: int, line: int) -> Draft:
    return Draft(f"{path} is not UTF-8 (byte 0x{byte:02x} at line {line})",
                 location=DataLocation(path, line), notes=("help: save the mapping file as UTF-8",))


code("RM507", "bad tenants file",
     "run-many's TOML lists [[tenant]] entries, each with a distinct name and out "
     "folder, a profile and a source.")

code("RM508", "output folder overlaps the source",
     "--out is the source package, inside it, or holds it: the outputs would change what "
     "is read.")
