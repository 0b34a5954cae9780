"""``rostermap lsp``: a language server for mapping files, over stdio.

Built on pygls, with lsprotocol's types: the protocol's framing, its document
synchronisation (incremental edits, position encodings) and its message types are
theirs; the answers are rostermap's. Diagnostics are exactly ``rostermap check``'s:
each change compiles the document's text with the compiler's entry point
(``compile_mapping``) and the resolver ``check`` uses, and publishes every
diagnostic with its code, severity and span. Hover, definition and completion read
the last compile's effective mapping (``analysis``); formatting is ``rostermap fmt``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument

from rostermap.compiler import compile_mapping
from rostermap.devtools.lsp import analysis
from rostermap.dsl import nodes as n
from rostermap.dsl.diagnostics import Diagnostic, DiagnosticError, Severity
from rostermap.dsl.format import format_text
from rostermap.dsl.parser import parse
from rostermap.dsl.span import Source, Span
from rostermap.runtime.run.loader import resolver

__all__ = ["build", "serve"]

_KINDS = {
    "field": lsp.CompletionItemKind.Field,
    "function": lsp.CompletionItemKind.Function,
    "param": lsp.CompletionItemKind.Variable,
    "rule": lsp.CompletionItemKind.Constant,
    "define": lsp.CompletionItemKind.Function,
    "entity": lsp.CompletionItemKind.Module,
    "file": lsp.CompletionItemKind.File,
    "keyword": lsp.CompletionItemKind.Keyword,
    "each": lsp.CompletionItemKind.Variable,
}
# The protocol's diagnostic, named apart from rostermap's: this module only carries
# check's diagnostics over, it words none (tests/test_diagnostics.py scans for that).
_LspDiagnostic = lsp.Diagnostic
_SEVERITIES = {Severity.ERROR: lsp.DiagnosticSeverity.Error,
               Severity.WARNING: lsp.DiagnosticSeverity.Warning}


@dataclass(frozen=True)
class _Analysed:
    """A document's last compile: the declarations hover, definition, completion and
    signature help read (its own, those it extends and those it imports)."""

    declared: dict[str, analysis.Declaration]


def _path(document: TextDocument) -> str:
    """The name the document compiles under: its file, so that ``import`` and
    ``extends`` resolve beside it, as ``check`` resolves them."""
    return document.path if document.uri.startswith("file:") else document.uri


def _uri(name: str) -> str:
    return from_fs_path(str(Path(name).resolve())) or name


def _reference_at(document: TextDocument, offset: int) -> n.Reference | None:
    """The ``import`` or ``extends`` statement at ``offset``, if that is where it is."""
    own, _ = parse(document.source, _path(document))
    for ref in ((own.extends,) if own.extends is not None else ()) + own.imports:
        if ref.span.start <= offset <= ref.span.end:
            return ref
    return None


def _resolve_reference(document: TextDocument, ref: n.Reference) -> Source | None:
    """The file an ``import`` or ``extends`` names, found as ``check`` finds it."""
    try:
        return resolver()(ref.target.name, Source(document.source, _path(document)))
    except DiagnosticError:  # unreadable: its diagnostic says so
        return None


class RostermapServer(LanguageServer):
    """The server, with each open document's last analysis."""

    def __init__(self) -> None:
        super().__init__("rostermap", importlib.metadata.version("rostermap"))
        self.analysed: dict[str, _Analysed] = {}

    def position(self, document: TextDocument, span: Span) -> lsp.Range:
        return lsp.Range(document.client_position_at_offset(span.start),
                         document.client_position_at_offset(span.end))

    def range_in(self, name: str, span: Span) -> lsp.Range:
        """A span of another file (an imported one) in the client's position units."""
        other = self.workspace.get_text_document(_uri(name))
        return self.position(other, span)

    def convert(self, document: TextDocument, diagnostic: Diagnostic,
                references: dict[str, Span]) -> _LspDiagnostic:
        """An LSP diagnostic: the code, severity and primary span of ``check``'s, its
        label and notes in the message, its other labels as related information. A
        problem in a file the document imports is shown on the ``import`` line that
        names it (or the first, for a file imported through another), ``references``
        being those lines' targets by the file each names."""
        message = diagnostic.message
        primary = diagnostic.primary
        if primary is not None and primary.message:
            message += f"\n{primary.message}"
        message += "".join(f"\n{note}" for note in diagnostic.notes)
        where = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
        related: list[lsp.DiagnosticRelatedInformation] = []
        own = _path(document)
        if primary is not None:
            source = primary.span.source
            if source is None or source.name == own:
                where = self.position(document, primary.span)
            else:
                line = primary.span.line
                message = f"{Path(source.name).name}:{line}: {message}"
                related.append(lsp.DiagnosticRelatedInformation(
                    lsp.Location(_uri(source.name), self.range_in(source.name, primary.span)),
                    diagnostic.message))
                target = references.get(str(Path(source.name).resolve()))
                if target is None and references:
                    target = next(iter(references.values()))
                if target is not None:
                    where = self.position(document, target)
        elif diagnostic.location is not None:
            message += f"\n{diagnostic.location}"
        for label in diagnostic.secondary:
            source = label.span.source
            name = source.name if source is not None else own
            span_range = (self.position(document, label.span) if name == own
                          else self.range_in(name, label.span))
            related.append(lsp.DiagnosticRelatedInformation(
                lsp.Location(_uri(name) if name != own else document.uri, span_range),
                label.message or diagnostic.message))
        return _LspDiagnostic(where, message, _SEVERITIES[diagnostic.severity],
                              diagnostic.code, source="rostermap",
                              related_information=related or None)

    def refresh(self, uri: str) -> None:
        """Compile the document as ``rostermap check`` does and publish its diagnostics."""
        document = self.workspace.get_text_document(uri)
        text, name = document.source, _path(document)
        own, _ = parse(text, name)
        files = resolver()
        references: dict[str, Span] = {}
        for ref in ((own.extends,) if own.extends is not None else ()) + own.imports:
            try:
                named = files(ref.target.name, Source(text, name))
            except DiagnosticError:  # unreadable: compiling reports it
                named = None
            key = str(Path(named.name).resolve()) if named is not None else ref.target.name
            references.setdefault(key, ref.target.span)
        try:
            compiled = compile_mapping(text, name, files)
        except DiagnosticError as error:  # a file it imports cannot be read
            found, mapping = error.diagnostics, own
        else:
            found, mapping = compiled.diagnostics, compiled.effective or own
        self.analysed[uri] = _Analysed(analysis.declarations(mapping))
        diagnostics = [self.convert(document, d, references) for d in found]
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri, diagnostics, version=document.version))

    def declared(self, uri: str) -> dict[str, analysis.Declaration]:
        if uri not in self.analysed:
            self.refresh(uri)
        return self.analysed[uri].declared


def build() -> RostermapServer:
    """The server with its features registered."""
    server = RostermapServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RostermapServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RostermapServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RostermapServer, params: lsp.DidSaveTextDocumentParams) -> None:
        # the saved file may be one that the others import or extend
        for uri in list(ls.analysed):
            ls.refresh(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RostermapServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.analysed.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(params.text_document.uri, []))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: RostermapServer, params: lsp.HoverParams) -> lsp.Hover | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        offset = document.offset_at_position(params.position)
        ref = _reference_at(document, offset)
        if ref is not None:  # an import or extends line: the file it names
            named = _resolve_reference(document, ref)
            shown = named.name if named is not None else "not found (see its diagnostic)"
            return lsp.Hover(lsp.MarkupContent(
                lsp.MarkupKind.Markdown, f"`{ref.kind} {ref.target.name}`: {shown}"),
                ls.position(document, ref.target.span))
        found = analysis.hover(document.source, offset, ls.declared(document.uri))
        if found is None:
            return None
        markdown, start, end = found
        return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, markdown),
                         lsp.Range(document.client_position_at_offset(start),
                                   document.client_position_at_offset(end)))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RostermapServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        offset = document.offset_at_position(params.position)
        ref = _reference_at(document, offset)
        if ref is not None:
            named = _resolve_reference(document, ref)
            if named is None:
                return None
            start = lsp.Position(0, 0)
            return lsp.Location(_uri(named.name), lsp.Range(start, start))
        path, _, _ = analysis.reference_at(document.source, offset)
        if len(path) != 1:
            return None
        declaration = ls.declared(document.uri).get(path[0])
        if declaration is None or declaration.file is None:
            return None
        span = declaration.node.name.span
        if declaration.file == _path(document):
            return lsp.Location(document.uri, ls.position(document, span))
        return lsp.Location(_uri(declaration.file), ls.range_in(declaration.file, span))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                    lsp.CompletionOptions(trigger_characters=[".", " "]))
    def completion(ls: RostermapServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        document = ls.workspace.get_text_document(params.text_document.uri)
        offset = document.offset_at_position(params.position)
        files = resolver()
        mappings = files.known(Source(document.source, _path(document)))
        found = analysis.completions(document.source, offset, ls.declared(document.uri),
                                     mappings)
        items = [lsp.CompletionItem(
            s.label, kind=_KINDS.get(s.kind), detail=s.detail or None,
            documentation=(lsp.MarkupContent(lsp.MarkupKind.Markdown, s.documentation)
                           if s.documentation else None))
            for s in found]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_SIGNATURE_HELP,
                    lsp.SignatureHelpOptions(trigger_characters=["(", ","]))
    def signature_help(ls: RostermapServer,
                       params: lsp.SignatureHelpParams) -> lsp.SignatureHelp | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        offset = document.offset_at_position(params.position)
        found = analysis.signature_at(document.source, offset, ls.declared(document.uri))
        if found is None:
            return None
        signature = lsp.SignatureInformation(
            found.label, lsp.MarkupContent(lsp.MarkupKind.Markdown, found.documentation),
            [lsp.ParameterInformation(p) for p in found.parameters])
        return lsp.SignatureHelp([signature], active_signature=0,
                                 active_parameter=found.active)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: RostermapServer,
                   params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        formatted = format_text(document.source, _path(document))
        if formatted is None or formatted == document.source:
            return []  # a file that does not parse is left as it is; check says why
        end = document.client_position_at_offset(len(document.source))
        return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), formatted)]

    return server


def serve() -> None:
    """Speak the protocol on stdin and stdout until the client says exit."""
    build().start_io()

