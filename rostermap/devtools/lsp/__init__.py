"""A language server for mapping files (``rostermap lsp``): check's diagnostics as
the specialist types, hover, go to definition, completion and ``fmt`` on save."""

from rostermap.devtools.lsp.server import serve

__all__ = ["serve"]
