"""RM4xx: source data, fetching from a REST API (RM440-RM459), and the sync state.

These codes' call sites are in rostermap.runtime and still build their Diagnostic
themselves, so most entries here own no constructor yet. To convert a code, name
its entry and decorate one constructor per situation beside it, the facts as
parameters (RM506 in rm5xx_usage is an example with a DataLocation)::

    _SOURCE_NOT_FOUND = code("RM401", "source not found", "--source names ...")

    @_SOURCE_NOT_FOUND
    def source_not_found(path: str) -> Draft:
        return Draft(f"no OneRoster package at {path}", location=DataLocation(path))

then add its name to ``__all__`` and call ``codes.source_not_found(path)`` where the
run used to write ``Diagnostic("RM401", ...)``. A code documented as
ERROR_OR_WARNING has its constructor set ``Draft.severity`` from the case.
"""

from __future__ import annotations

from rostermap.dsl.codes._registry import ERROR_OR_WARNING, WARNING, code

__all__: list[str] = []

code("RM401", "source not found",
     "--source names a .zip or a folder of OneRoster CSV files.")

code("RM402", "no manifest",
     "The package has no manifest.csv; it is read as OneRoster 1.0.", WARNING)

code("RM403", "file missing",
     "manifest.csv lists a file that the package does not hold.", WARNING)

code("RM404", "file needed by the mapping is absent",
     "The mapping reads an entity whose file the package does not provide: an error, or "
     "a warning (read as empty) when the profile's `require` names the files it needs "
     "and not this one.", ERROR_OR_WARNING)

code("RM405", "required column missing",
     "The file lacks a column the mapping reads.", ERROR_OR_WARNING)

code("RM406", "unknown column",
     "The header names a column OneRoster does not define.", WARNING)

code("RM407", "invalid value",
     "A value does not have its field's type (boolean, date, ...).")

code("RM408", "malformed CSV",
     "A row cannot be read as RFC 4180 CSV, or a value holds a NUL byte.")

code("RM409", "not UTF-8",
     "OneRoster CSV files are UTF-8.")

code("RM410", "duplicate sourcedId",
     "Two records of one file share a sourcedId.")

code("RM411", "dangling reference",
     "A record refers to a record the package does not hold.", WARNING)

code("RM412", "empty file",
     "A CSV file without a header row.")

code("RM413", "unsupported OneRoster version",
     "manifest.csv names a version other than 1.0, 1.1 or 1.2.")

code("RM414", "bad header",
     "The header has an empty or a repeated column name.", WARNING)

code("RM415", "extra fields",
     "A row has more fields than the header.")

code("RM416", "unsafe package",
     "A zip entry is outside the package root, or a file or zip entry is (or expands to) "
     "more than --max-file-bytes.", ERROR_OR_WARNING)

code("RM417", "delta file read as a snapshot",
     "The manifest marks a file `delta`; its rows are read as they stand, not applied to "
     "an earlier snapshot.", WARNING)

code("RM418", "parameter file problem",
     "A table parameter names a file that cannot be read.")

code("RM419", "delta package refused",
     "The profile requires full (bulk) files; the package has delta files.")

code("RM420", "mapping warning",
     "A `warn` rule of the mapping matched records.", WARNING)

code("RM421", "repeated key",
     "Several rows of an output have the same `key` columns.", WARNING)

code("RM422", "records dropped with a reason",
     "A `where ... else warn` rule dropped these records; each is named in the report.", WARNING)

code("RM423", "too many records",
     "A file has more rows, or an API collection more records, than --max-records "
     "allows.")

code("RM424", "value too long",
     "A value of a column the mapping reads is longer than --max-field-bytes allows.")

code("RM425", "unreadable zip entry",
     "A zip entry is damaged (cut short, bad checksum), encrypted, or compressed with a "
     "method other than deflate, bzip2 or lzma.")

code("RM430", "transform failed",
     "A rule failed while transforming; the mapping line is named.")

code("RM431", "too many rejects",
     "More records were rejected than --max-rejects allows.")

# --- RM440-RM459: fetching from a OneRoster REST API ---------------------------------

code("RM440", "source unreachable",
     "Connecting to the REST source kept failing after every retry (refused, reset, "
     "timed out).")

code("RM441", "authentication failed",
     "The provider or its token endpoint refused the credentials (401 or 403), also "
     "after one fresh token.")

code("RM442", "request failed",
     "A request kept failing (429, 500, 502, 503, 504) after every retry, or was refused "
     "outright (another 4xx).")

code("RM443", "malformed response",
     "A page was not a complete OneRoster JSON document (truncated body, invalid JSON, "
     "no collection), also after every retry.")

code("RM444", "insecure source URL",
     "Only https:// is accepted, and plain http:// for loopback addresses; credentials "
     "never go in a URL.")

code("RM445", "missing credentials",
     "The auth method needs ROSTERMAP_CLIENT_ID and ROSTERMAP_CLIENT_SECRET (and "
     "ROSTERMAP_TOKEN_URL for OAuth 2), from the environment or the [source] section of "
     "the config file.")

code("RM446", "record rejected",
     "A record failed JSON Schema validation; it is left out and listed in report.json "
     "`rejects` (entity, sourcedId, field, reason).", WARNING)

code("RM447", "endpoint not found",
     "The provider answered 404 for a collection the mapping reads.")

code("RM448", "incomplete fetch",
     "A collection could not be fetched completely; the run stops and writes nothing, so "
     "no record silently disappears.")

code("RM449", "filter ignored",
     "The provider returned records outside the filter it was sent; the mapping's rules "
     "filter them instead.", WARNING)

code("RM450", "page size capped",
     "The provider returned fewer records per page than asked; paging goes on at the "
     "provider's size.", WARNING)

code("RM451", "bad source configuration",
     "A setting in the config file or the environment has an invalid value.")

code("RM452", "cannot serve",
     "`rostermap serve` could not start: the package or the port.")

code("RM453", "records of the other version",
     "The provider serves OneRoster records of the other version under this URL (1.2 "
     "users under /v1p1); they are read as what they are.", WARNING)

code("RM454", "most records rejected",
     "More of a collection's records failed validation than max_rejected allows: a sign "
     "of a provider shape problem, not of a few bad records; nothing is written.")

code("RM455", "config file open to others",
     "A config file that others can write, or that holds the client secret and others "
     "can read, is refused: chmod 600 it.")

code("RM456", "redirect not followed",
     "The provider redirected a request to another host (or to plain http); the "
     "credentials would go along, so the fetch stops unless the host is listed in "
     "redirect_hosts.")

# --- RM460-RM463: the sync state and the output folder -------------------------------

code("RM460", "state locked",
     "Another run of the same profile and tenant holds the state; runs wait with --wait, "
     "or exit with code 5.")

code("RM461", "state unreadable",
     "The state file is damaged, of another version, or belongs to another profile or "
     "tenant.")

code("RM462", "no such run",
     "`approve`, `reject` and `diff` name runs that `rostermap runs` lists; only a held "
     "run, not superseded by a later one, can be approved or rejected.")

code("RM463", "output folder not writable",
     "The run's files could not be written or moved into --out (permissions, a full "
     "disk). Before the commit nothing changed; after it, the next command finishes "
     "publishing.")

code("RM464", "output folder owned by another state",
     "An output folder is published by one sync state, named in its .rostermap-state "
     "file: another state, or a run without state, is refused there.")

code("RM465", "state not writable",
     "The state file could not be written (permissions, a read-only file system, a full "
     "disk); the last committed state and the published files are as they were.")
