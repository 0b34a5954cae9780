"""RM525-RM529, RM480-RM489: comparing mappings (``impact``) and the operator console.

The call sites are in rostermap.runtime.sync.impact and rostermap.devtools.console.
"""

from __future__ import annotations

from pathlib import Path

from rostermap.dsl.codes._registry import Draft, code
from rostermap.dsl.diagnostics import DataLocation

__all__ = [
    "console_exposed",
    "console_no_states",
    "console_password_hash_bad",
    "console_tls_unreadable",
    "no_stored_records",
    "no_tenant_of_profile",
]


@code("RM525", "no stored records to compare on",
      "`rostermap impact` with --tenant or --state runs both mappings on the source records "
      "the tenant's last committed run kept; a tenant without a committed run, or whose runs "
      "read a REST API (which keeps no records), has none: give --source instead.")
def no_stored_records(named: str, state: str) -> Draft:
    """``named`` is the state as the command named it; ``state`` is its file."""
    return Draft(f"the state of {named} holds no source records of a committed run",
                 location=DataLocation(state),
                 notes=("help: compare on a package instead: --source PACKAGE",))


@code("RM526", "no tenant uses the profile",
      "`run-many --impact NEW.rmap TENANTS.toml` compares the tenants whose profile is the "
      "one NEW.rmap declares; the tenants file names none of them.")
def no_tenant_of_profile(tenants: Path, profile: str, used: list[str]) -> Draft:
    listed = ", ".join(sorted(set(used))) or "(none)"
    return Draft(f"no tenant in {tenants} uses profile {profile}",
                 location=DataLocation(str(tenants)),
                 notes=(f"note: the tenants' profiles: {listed}",))


@code("RM527", "no states to show",
      "`rostermap console` shows the states of a tenants file or of a state folder; the "
      "folder holds no state file (PROFILE/TENANT.sqlite), or it does not exist.")
def console_no_states(where: Path) -> Draft:
    return Draft(f"no rostermap state under {where}", location=DataLocation(str(where)),
                 notes=("help: run a sync first, or name $ROSTERMAP_STATE_DIR's folder",))


@code("RM528", "console exposed without TLS",
      "The console binds 127.0.0.1 unless told otherwise. Any other address serves "
      "students' data and session cookies to the network, so it needs --tls-cert and "
      "--tls-key, or --behind-proxy when a TLS proxy in front of it terminates HTTPS.")
def console_exposed(host: str) -> Draft:
    return Draft(f"--host {host} is not a loopback address, and the console has no TLS",
                 notes=("help: add --tls-cert FILE --tls-key FILE, or --behind-proxy if a "
                        "proxy serves it over HTTPS",))


@code("RM529", "console TLS files unreadable",
      "--tls-cert and --tls-key name a PEM certificate chain and its private key; both "
      "must be readable, and given together.")
def console_tls_unreadable(path: Path | None, why: str) -> Draft:
    return Draft(f"the console's TLS files cannot be used: {why}",
                 location=DataLocation(str(path)) if path is not None else None)


@code("RM480", "console password hash unusable",
      "$ROSTERMAP_CONSOLE_PASSWORD_HASH holds the hash `rostermap console --hash-password` "
      "prints (scrypt$N$r$p$salt$hash); anything else is refused rather than letting "
      "every password in, or none.")
def console_password_hash_bad(why: str) -> Draft:
    return Draft(f"$ROSTERMAP_CONSOLE_PASSWORD_HASH is not a usable hash: {why}",
                 notes=("help: make one with `rostermap console --hash-password`",))
