"""The registry of diagnostic codes.

Codes are stable: tools, tests and support notes refer to them, so a code is never
reused for another meaning, even after the check that raised it is gone (mark it
retired instead). Ranges: RM1xx syntax, RM2xx names, RM3xx types and profile rules,
RM4xx source data (RM440–RM459: fetching from a REST API), RM5xx run usage
(parameters, paths).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CODES", "Code", "lookup"]


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    title: str
    explanation: str
    severity: str = "error"  # error | warning | error or warning (documentation only)


_TABLE: tuple[tuple[str, str, str], ...] = (
    # --- RM1xx: syntax -------------------------------------------------------------
    ("RM100", "unexpected character", "A character that cannot start any word of the language."),
    ("RM101", "syntax error", "The parser met a word it did not expect at this place."),
    ("RM102", "unterminated string", "A string literal must end with `\"` on the same line."),
    ("RM103", "missing `<-`", "A column rule is `column <- expression`."),
    ("RM104", "unexpected end of statement", "The statement ended inside an expression or "
     "bracket."),
    ("RM105", "invalid string escape", "Strings accept the escapes \\\" \\\\ \\n \\t \\uXXXX."),
    ("RM106", "statement outside an output", "`where`, `key`, `distinct`, `sort by`, `warn` "
     "and column rules belong to the `output` block above them."),
    ("RM107", "duplicate header", "`profile` and `oneroster` may appear once, before outputs."),
    ("RM108", "missing profile", "A mapping file starts with `profile <name>`."),
    ("RM109", "keyword used as a column", "A column named like a keyword must be quoted."),
    # --- RM2xx: names --------------------------------------------------------------
    ("RM201", "unknown field", "The name is not a field of this OneRoster entity."),
    ("RM202", "unknown entity", "`from` and `of` name a OneRoster entity such as users."),
    ("RM203", "unknown name", "A bare name must be a field, a parameter or a rule."),
    ("RM204", "unknown function", "The function is not in the rostermap function library."),
    ("RM205", "unknown output", "Membership tests name another output of this mapping."),
    ("RM206", "duplicate output", "Two outputs write the same file."),
    ("RM207", "duplicate column", "An output sets the same column twice."),
    ("RM208", "duplicate definition", "A parameter or rule name is defined twice."),
    ("RM209", "ambiguous name", "A name is both a field and a parameter or rule."),
    ("RM210", "unknown OneRoster version", "Supported versions are 1.1 and 1.2."),
    ("RM211", "field not in every declared version", "The field exists in only some of the "
     "OneRoster versions the profile declares; it is empty in the others."),
    ("RM212", "unknown column", "`key` and `sort by` name columns of the same output."),
    ("RM213", "unknown type", "Parameter types are str, int, bool, date and list[...]."),
    ("RM214", "recursive rule", "A rule cannot use itself, directly or through other rules."),
    ("RM215", "`this` outside a record", "`this` is the record an output or lookup reads."),
    # --- RM3xx: types and profile rules -------------------------------------------
    ("RM220", "mapping not found", "`extends` and `import` name a mapping file next to this "
     "one or in the mapping folders."),
    ("RM221", "extends or imports in a cycle", "Mappings cannot extend or import each other "
     "in a circle."),
    ("RM222", "override of a different entity", "An output that overrides the parent's must "
     "be made from the same entity."),
    ("RM223", "not a library or not a profile", "`import` takes a library file (rules and "
     "definitions only); `extends` takes a profile."),
    ("RM224", "clashing imports", "Two imported libraries define the same name."),
    ("RM301", "mismatched types", "The two sides of a comparison have incompatible types."),
    ("RM302", "not a condition", "`where`, `if`, `and`, `or` and `not` need true/false values."),
    ("RM303", "list in a scalar column", "A column holds one value: use first(...) or "
     "join(..., \",\") to turn a list into one."),
    ("RM304", "bad function arguments", "The call does not match the function's signature."),
    ("RM305", "not a list", "Indexing and `any of`/`all of` need a list."),
    ("RM306", "no such attribute", "Only references to other records have fields."),
    ("RM307", "uncorrelated lookup", "A lookup's `where` must tie it to the outer record with "
     "`<field> = this` or `<field> = this.<field>`."),
    ("RM308", "lookup outside a function", "A lookup yields many values: pass it to min, max, "
     "count, exists, first, last or join."),
    ("RM309", "membership of the wrong kind", "`x in out.csv` needs a reference to the "
     "entity that out.csv is made from."),
    ("RM310", "outputs depend on each other in a cycle", "Membership tests must form no cycle."),
    ("RM311", "value outside the enumeration", "OneRoster defines the values of this field; "
     "a literal outside them can never match."),
    ("RM312", "mismatched branch types", "All branches of `if` or `match` give one type."),
    ("RM313", "bad parameter default", "A parameter's default must have the declared type."),
    ("RM314", "output without columns", "An output needs at least one column rule."),
    ("RM315", "nested lookup", "A lookup inside a lookup is not supported; use a rule."),
    ("RM316", "`in` needs a list", "The right side of `in` is a list, a list parameter or "
     "another output."),
    ("RM318", "bad literal argument", "Patterns and formats are literals the compiler checks."),
    ("RM319", "match misses values", "A `match` over an enumeration covers every value the "
     "field can have (after the output's `where` rules), or has `else`."),
    ("RM320", "unknown sync word", "`when missing` takes deactivate, delete or keep, and "
     "`after N runs` or `after N days`; `limit` takes create, update or deactivate, and "
     "`per school`."),
    ("RM321", "limit out of range", "A `limit` is a count of rows (0 or more) or a share "
     "from 0% to 100%; a grace period is a whole number of runs or days."),
    ("RM322", "change set without a key", "An output with `when missing` or `limit` but no "
     "`key` tells rows apart by all their columns: a changed row is a deactivation and a "
     "creation, never an update."),
    ("RM323", "reserved output name", "`report.json`, `report.html`, `changes` and `held` "
     "are what every run writes beside its outputs."),
    # --- RM4xx: source data --------------------------------------------------------
    ("RM401", "source not found", "--source names a .zip or a folder of OneRoster CSV files."),
    ("RM402", "no manifest", "The package has no manifest.csv; it is read as OneRoster 1.0."),
    ("RM403", "file missing", "manifest.csv lists a file that the package does not hold."),
    ("RM404", "file needed by the mapping is absent", "The mapping reads an entity whose file "
     "the package does not provide: an error, or a warning (read as empty) when the "
     "profile's `require` names the files it needs and not this one."),
    ("RM405", "required column missing", "The file lacks a column the mapping reads."),
    ("RM406", "unknown column", "The header names a column OneRoster does not define."),
    ("RM407", "invalid value", "A value does not have its field's type (boolean, date, ...)."),
    ("RM408", "malformed CSV", "A row cannot be read as RFC 4180 CSV, or a value holds a "
     "NUL byte."),
    ("RM409", "not UTF-8", "OneRoster CSV files are UTF-8."),
    ("RM410", "duplicate sourcedId", "Two records of one file share a sourcedId."),
    ("RM411", "dangling reference", "A record refers to a record the package does not hold."),
    ("RM412", "empty file", "A CSV file without a header row."),
    ("RM413", "unsupported OneRoster version", "manifest.csv names a version other than 1.0, "
     "1.1 or 1.2."),
    ("RM414", "bad header", "The header has an empty or a repeated column name."),
    ("RM415", "extra fields", "A row has more fields than the header."),
    ("RM416", "unsafe package", "A zip entry is outside the package root, or a file or zip "
     "entry is (or expands to) more than --max-file-bytes."),
    ("RM417", "delta file read as a snapshot", "The manifest marks a file `delta`; its rows "
     "are read as they stand, not applied to an earlier snapshot."),
    ("RM418", "parameter file problem", "A table parameter names a file that cannot be "
     "read."),
    ("RM419", "delta package refused", "The profile requires full (bulk) files; the package "
     "has delta files."),
    ("RM420", "mapping warning", "A `warn` rule of the mapping matched records."),
    ("RM421", "repeated key", "Several rows of an output have the same `key` columns."),
    ("RM422", "records dropped with a reason", "A `where ... else warn` rule dropped these "
     "records; each is named in the report."),
    ("RM423", "too many records", "A file has more rows, or an API collection more records, "
     "than --max-records allows."),
    ("RM424", "value too long", "A value of a column the mapping reads is longer than "
     "--max-field-bytes allows."),
    ("RM425", "unreadable zip entry", "A zip entry is damaged (cut short, bad checksum), "
     "encrypted, or compressed with a method other than deflate, bzip2 or lzma."),
    ("RM430", "transform failed", "A rule failed while transforming; the mapping line is named."),
    ("RM431", "too many rejects", "More records were rejected than --max-rejects allows."),
    # --- RM440-RM459: fetching from a OneRoster REST API ----------------------------
    ("RM440", "source unreachable", "Connecting to the REST source kept failing after every "
     "retry (refused, reset, timed out)."),
    ("RM441", "authentication failed", "The provider or its token endpoint refused the "
     "credentials (401 or 403), also after one fresh token."),
    ("RM442", "request failed", "A request kept failing (429, 500, 502, 503, 504) after every "
     "retry, or was refused outright (another 4xx)."),
    ("RM443", "malformed response", "A page was not a complete OneRoster JSON document "
     "(truncated body, invalid JSON, no collection), also after every retry."),
    ("RM444", "insecure source URL", "Only https:// is accepted, and plain http:// for "
     "loopback addresses; credentials never go in a URL."),
    ("RM445", "missing credentials", "The auth method needs ROSTERMAP_CLIENT_ID and "
     "ROSTERMAP_CLIENT_SECRET (and ROSTERMAP_TOKEN_URL for OAuth 2), from the environment "
     "or the [source] section of the config file."),
    ("RM446", "record rejected", "A record failed JSON Schema validation; it is left out and "
     "listed in report.json `rejects` (entity, sourcedId, field, reason)."),
    ("RM447", "endpoint not found", "The provider answered 404 for a collection the mapping "
     "reads."),
    ("RM448", "incomplete fetch", "A collection could not be fetched completely; the run "
     "stops and writes nothing, so no record silently disappears."),
    ("RM449", "filter ignored", "The provider returned records outside the filter it was "
     "sent; the mapping's rules filter them instead."),
    ("RM450", "page size capped", "The provider returned fewer records per page than asked; "
     "paging goes on at the provider's size."),
    ("RM451", "bad source configuration", "A setting in the config file or the environment "
     "has an invalid value."),
    ("RM452", "cannot serve", "`rostermap serve` could not start: the package or the port."),
    ("RM453", "records of the other version", "The provider serves OneRoster records of the "
     "other version under this URL (1.2 users under /v1p1); they are read as what they are."),
    ("RM454", "most records rejected", "More of a collection's records failed validation than "
     "max_rejected allows: a sign of a provider shape problem, not of a few bad records; "
     "nothing is written."),
    ("RM455", "config file open to others", "A config file that others can write, or that "
     "holds the client secret and others can read, is refused: chmod 600 it."),
    ("RM456", "redirect not followed", "The provider redirected a request to another host "
     "(or to plain http); the credentials would go along, so the fetch stops unless the "
     "host is listed in redirect_hosts."),
    # --- RM5xx: run usage ----------------------------------------------------------
    ("RM460", "state locked", "Another run of the same profile and tenant holds the state; "
     "runs wait with --wait, or exit with code 5."),
    ("RM461", "state unreadable", "The state file is damaged, of another version, or belongs "
     "to another profile or tenant."),
    ("RM462", "no such run", "`approve`, `reject` and `diff` name runs that `rostermap runs` "
     "lists; only a held run, not superseded by a later one, can be approved or rejected."),
    ("RM463", "output folder not writable", "The run's files could not be written or moved "
     "into --out (permissions, a full disk). Before the commit nothing changed; after it, the "
     "next command finishes publishing."),
    ("RM501", "unknown parameter", "--param names a parameter the profile does not declare."),
    ("RM502", "missing parameter", "The profile declares a parameter without a default."),
    ("RM503", "bad parameter value", "--param gives a value that does not have the "
     "parameter's type."),
    ("RM504", "unknown profile", "PROFILE is a name in mappings/ or a path to a mapping file."),
    ("RM505", "record not found", "--record is <entity>/<sourcedId> of a record in the source."),
    ("RM506", "unreadable mapping file", "A mapping file cannot be read, or is not UTF-8 "
     "text."),
    ("RM507", "bad tenants file", "run-many's TOML lists [[tenant]] entries, each with a "
     "distinct name and out folder, a profile and a source."),
)

# Codes reported as warnings (the run goes on), or as either depending on the case.
_WARNINGS = {"RM211", "RM311", "RM322", "RM402", "RM403", "RM406", "RM411", "RM414", "RM417",
             "RM420", "RM421", "RM422", "RM446", "RM449", "RM450", "RM453"}
_EITHER = {"RM404", "RM405", "RM416"}
CODES: dict[str, Code] = {
    code: Code(code, title, text, "warning" if code in _WARNINGS else
               "error or warning" if code in _EITHER else "error")
    for code, title, text in _TABLE
}


def lookup(code: str) -> Code:
    """The registered code; an unregistered code is a programming error."""
    return CODES[code]


def markdown() -> str:
    """docs/diagnostics.md, generated so the documentation cannot miss a code."""
    ranges = {"1": "Syntax", "2": "Names", "3": "Types and profile rules",
              "4": "Source data", "5": "Run usage"}
    lines = [
        "# Diagnostic codes",
        "",
        "Every problem rostermap reports has a stable code. Codes are never reused.",
        "This page is generated from `dsl/codes.py` by `python scripts/update_docs.py`;",
        "a test keeps it in step.",
    ]
    current = ""
    for code in CODES.values():
        group = code.code[2]
        if group != current:
            current = group
            lines += ["", f"## RM{group}xx: {ranges[group]}", "",
                      "| code | severity | title | meaning |", "|---|---|---|---|"]
        lines.append(f"| {code.code} | {code.severity} | {code.title} | {code.explanation} |")
    return "\n".join(lines) + "\n"
