"""The registry of diagnostic codes, and the constructors that report them.

Each code is registered once, with what documents it (title, explanation, severity),
and owns the constructors that word its diagnostics, one per situation it is raised
in; the constructors sit beside the entry, in the module of the code's range. Call
sites pass only the facts: ``codes.unknown_field(name, entity, record, span, hint)``.
docs/diagnostics.md is generated from the entries (``markdown()``).

Codes are stable: tools, tests and support notes refer to them, so a code is never
reused for another meaning, even after the check that raised it is gone (mark it
retired instead). Ranges: RM1xx syntax, RM2xx names, RM3xx types and profile rules,
RM4xx source data (RM440-RM459, fetching from a REST API, in rm44x_rest), RM5xx
run usage (parameters, paths); rules on linked records, `match` misused and output
contracts have modules of their own (RM330-RM339 in rm33x_lang, RM470-RM479 in
rm47x_contracts), and so have impact and the console (RM525-RM529, RM480-RM489 in
rm52x_console), and so have push outputs (RM350-RM359, RM491-RM499,
RM530-RM539 in rm35x_push).
"""

from __future__ import annotations

from rostermap.dsl.codes import (
    rm1xx_syntax,
    rm2xx_names,
    rm3xx_types,
    rm4xx_data,
    rm5xx_usage,
    rm33x_lang,
    rm35x_push,
    rm44x_rest,
    rm47x_contracts,
    rm52x_console,
)
from rostermap.dsl.codes._registry import (
    CODES,
    ERROR,
    ERROR_OR_WARNING,
    WARNING,
    Code,
    Draft,
    code,
    constructors,
    lookup,
    markdown,
)
from rostermap.dsl.codes.rm1xx_syntax import *  # noqa: F403
from rostermap.dsl.codes.rm2xx_names import *  # noqa: F403
from rostermap.dsl.codes.rm3xx_types import *  # noqa: F403
from rostermap.dsl.codes.rm4xx_data import *  # noqa: F403
from rostermap.dsl.codes.rm5xx_usage import *  # noqa: F403
from rostermap.dsl.codes.rm33x_lang import *  # noqa: F403
from rostermap.dsl.codes.rm35x_push import *  # noqa: F403
from rostermap.dsl.codes.rm44x_rest import *  # noqa: F403
from rostermap.dsl.codes.rm47x_contracts import *  # noqa: F403
from rostermap.dsl.codes.rm52x_console import *  # noqa: F403

__all__ = ["CODES", "ERROR", "ERROR_OR_WARNING", "WARNING", "Code", "Draft", "code",
           "constructors", "lookup", "markdown"]
# The constructors, by range: codes.unknown_field(...), wherever it is defined.
__all__ += rm1xx_syntax.__all__
__all__ += rm2xx_names.__all__
__all__ += rm3xx_types.__all__
__all__ += rm4xx_data.__all__
__all__ += rm44x_rest.__all__
__all__ += rm5xx_usage.__all__
__all__ += rm33x_lang.__all__
__all__ += rm47x_contracts.__all__
__all__ += rm52x_console.__all__
__all__ += rm35x_push.__all__
