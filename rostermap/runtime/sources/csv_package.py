"""Read a OneRoster CSV package (a .zip or a folder) into raw text columns.

The manifest says the version and which files are present; headers are matched by
name, not position (real exports reorder columns, add ``metadata.*`` columns and
still use 1.0 spellings), and only the columns a mapping reads are parsed. Values
stay text here; ``runtime.engine.validate`` gives them their types. Problems are
diagnostics located by file, line and column; the reader never lets a parser
exception through.

The fast path is polars' CSV reader. When it refuses a file, the file is scanned
again with Python's csv module, which is slow but says exactly which line is
broken and why.

Packages are untrusted: zip entries are checked before they are read (no path
outside the package, no entry that expands past ``--max-file-bytes``, no
encrypted or damaged entry) and streamed into a private temporary folder rather
than memory; ``Limits`` bounds the size of files, the rows of a file and the
length of a value, each a ``rostermap run`` option.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import shutil
import stat
import struct
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import polars as pl

from rostermap.dsl import codes, schema
from rostermap.dsl.codes.rm4xx_data import CsvProblem
from rostermap.dsl.diagnostics import Diagnostic, did_you_mean
from rostermap.runtime.errors import RunError
from rostermap.runtime.sources.raw import LINE, RawTable

__all__ = ["LINE", "Limits", "Package", "RawTable", "diagnose", "open_package"]

MANIFEST = "manifest.csv"
_EXTRA = "__extra"
# Fields past the header that are looked at: an empty one is a trailing comma (real
# exports have them); text in any of these is a row shifted by an unquoted comma.
# Read as categoricals: a column of nulls then costs 4 bytes a row, not 16.
_EXTRAS = 8


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile or broken package from exhausting the machine.

    Each is an option of ``rostermap run``; a package past one is refused with a
    message that names the option, never read in part.
    """

    max_file_bytes: int = 8 * 1024**3  # a file, or a zip entry expanded (--max-file-bytes)
    max_records: int = 20_000_000  # rows of one file (--max-records)
    max_field_bytes: int = 1024**2  # one value of a column the mapping reads (--max-field-bytes)
    max_zip_ratio: int = 200  # uncompressed / compressed, beyond which an entry is a bomb


_MANIFEST_BYTES = 1024**2  # a manifest is a few dozen short lines
_HEADER_BYTES = 16 * 1024**2  # a header row: thousands of columns fit
_SMALL_ENTRY = 64 * 1024**2  # an entry this small is not a bomb, whatever its ratio
# What zipfile and its decompressors raise for a damaged or unusual archive.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
               NotImplementedError, ValueError, struct.error)
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


@dataclass
class Package:
    """An opened package: its version, its files, and what reading it noticed."""

    origin: str
    version: str  # 1.0 | 1.1 | 1.2 (1.0: no manifest; read with 1.1 headers)
    modes: dict[str, str]  # file stem -> bulk | delta | absent, from the manifest
    files: dict[str, str]  # entity -> the file's name in the package
    warnings: list[Diagnostic] = field(default_factory=list)
    _folder: Path | None = None
    _zip: zipfile.ZipFile | None = None
    _zip_names: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    _expanded: Path | None = None  # a private temporary folder for the zip entries read
    # One entry expanded at a time: a sync run compresses the files it keeps on another
    # thread while this one reads them.
    _expanding: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _scans: dict[str, _Scan] = field(default_factory=dict)  # file name -> lines, NUL

    @property
    def layout(self) -> str:
        """The column layout to expect: 1.0 packages use the 1.1 names."""
        return "1.2" if self.version == "1.2" else "1.1"

    def has(self, entity: str) -> bool:
        return entity in self.files

    def path(self, entity: str) -> Path:
        """The entity's file on disk: the folder's, or the zip entry expanded."""
        return Path(self._source(self.files[entity]))

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._expanded is not None:
            shutil.rmtree(self._expanded, ignore_errors=True)
            self._expanded = None

    # --- reading --------------------------------------------------------------------
    def _source(self, name: str) -> str:
        """A path polars can map: the folder's file, or the zip entry expanded.

        Zip entries are streamed into a private temporary folder (removed by close),
        so memory stays bounded however large the entry, and the expansion is cut
        off at the limit whatever the entry's header claims.
        """
        if self._folder is not None:
            path = self._folder / name
            if path.stat().st_size > self.limits.max_file_bytes:
                raise RunError([codes.file_too_large(name, self.limits.max_file_bytes)])
            return str(path)
        assert self._zip is not None
        with self._expanding:
            return self._expand(name)

    def _expand(self, name: str) -> str:
        assert self._zip is not None
        if self._expanded is None:
            self._expanded = Path(tempfile.mkdtemp(prefix="rostermap-"))  # mode 0700
        target = self._expanded / name
        if not target.exists():
            # Expanded under another name and renamed only when whole and checked: an
            # entry that fails half-way (a bad checksum, a full disk, past a limit)
            # leaves nothing that a later read could take for the file.
            part = target.with_name(target.name + ".part")
            try:
                with open(part, "wb") as sink:
                    complete = _expand(self._zip, self._zip_names[name], sink,
                                       self.limits, Path(self.origin).name)
                if not complete:
                    raise RunError([codes.file_too_large(name, self.limits.max_file_bytes)])
                part.rename(target)
            except OSError as error:
                raise RunError([codes.zip_entry_unexpandable(
                    self.origin, name, str(error.strerror or error))]) from None
            finally:
                part.unlink(missing_ok=True)
        return str(target)

    def _manifest(self, name: str) -> bytes:
        """manifest.csv's bytes, read into memory up to a small bound."""
        if self._folder is not None:
            with open(self._folder / name, "rb") as handle:
                data = handle.read(_MANIFEST_BYTES + 1)
            complete = len(data) <= _MANIFEST_BYTES
        else:
            assert self._zip is not None
            buffer = io.BytesIO()
            limits = Limits(max_file_bytes=_MANIFEST_BYTES,
                            max_zip_ratio=self.limits.max_zip_ratio)
            complete = _expand(self._zip, self._zip_names[name], buffer, limits,
                               Path(self.origin).name)
            data = buffer.getvalue()
        if not complete:
            raise RunError([codes.manifest_too_large(name, _MANIFEST_BYTES)])
        return data

    def _head(self, name: str) -> bytes:
        """The file's first line, whole, however long (up to a bound past any real
        header): a header cut short would lose the columns after the cut."""
        with open(self._source(name), "rb") as handle:
            head = b""
            while b"\n" not in head and len(head) <= _HEADER_BYTES:
                chunk = handle.read(1 << 16)
                if not chunk:
                    break
                head += chunk
        if b"\n" not in head and len(head) > _HEADER_BYTES:
            raise RunError([codes.header_too_long(name, _HEADER_BYTES)])
        return head

    def read(self, entity: str, fields: Iterable[str]) -> RawTable:
        """The fields of an entity as text columns; missing columns are all-missing."""
        layout = self._layout(entity, fields)
        name, header = layout.name, layout.header
        frame = self._parse(name, len(header), layout.indices)
        self._count(name, frame.height, frame)
        self._check_lines(name, len(header), frame.height)
        return self._raw(entity, layout, frame)

    def read_chunks(self, entity: str, fields: Iterable[str]) -> Iterator[RawTable]:
        """The same table as ``read``, in batches of about ``CHUNK_ROWS`` records.

        polars' streaming engine reads the file (in parallel, a part at a time) and
        hands the batches over in order; each can be typed and its text let go before
        the next, so a large file is never whole in memory twice over, as text and
        typed (on a 1M-student district, 0.6 GB less at the peak). The file's
        header is read and matched when this is called, not when the batches are.
        A batch polars refuses raises; callers read the whole file again then, with
        ``read``, for the exact diagnostics.
        """
        layout = self._layout(entity, fields)
        width = len(layout.header)
        scan = pl.scan_csv(self._source(layout.name), **self._options(width)).select(
            LINE, *(f"c{i}" for i in layout.indices),
            *(f"{_EXTRA}{k}" for k in range(_EXTRAS))).head(self.limits.max_records + 1)

        def batches() -> Iterator[RawTable]:
            seen = 0
            for batch in scan.collect_batches(chunk_size=CHUNK_ROWS):
                seen += batch.height
                self._count(layout.name, seen, batch)
                yield self._raw(entity, layout, batch)
            self._check_lines(layout.name, width, seen)  # before the caller uses the last

        return batches()

    def _count(self, name: str, records: int, last: pl.DataFrame) -> None:
        """Refuse a file of more records than --max-records (RM423); ``last`` holds the
        last of them."""
        if records > self.limits.max_records:
            raise RunError([codes.too_many_records(name, self.limits.max_records,
                                                   int(last[LINE][-1]))])

    def _layout(self, entity: str, fields: Iterable[str]) -> _Layout:
        spec = schema.ENTITIES[entity]
        name = self.files[entity]
        header = _header(self._head(name), name)
        matched, notes = _match_header(spec, header, name)
        self.warnings.extend(notes)
        fields = tuple(dict.fromkeys(fields))
        wanted = [f for f in fields if f in matched]
        # metadata: the extension columns (metadata.x), read as one object {x: ...}
        extensions = {i: c.strip()[len("metadata."):] for i, c in enumerate(header)
                      if c.strip().startswith("metadata.")} if "metadata" in fields else {}
        # The first and last columns are read too: a row with no value in any column
        # read is a blank line (or a line of commas), which CSV readers skip.
        indices = sorted({matched[f] for f in wanted} | {0, len(header) - 1} | set(extensions))
        return _Layout(name, header, matched, fields, wanted, extensions, indices)

    def _raw(self, entity: str, layout: _Layout, frame: pl.DataFrame) -> RawTable:
        name, header, matched, fields = layout.name, layout.header, layout.matched, layout.fields
        wanted, extensions, indices = list(layout.wanted), layout.extensions, layout.indices
        positions = {i: f"c{i}" for i in range(len(header))}
        extras = [f"{_EXTRA}{k}" for k in range(_EXTRAS)]
        read = [positions[i] for i in indices] + extras
        frame = frame.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in read))
        _check_values(frame, name, {positions[i]: header[i] for i in indices}, self.limits,
                      self._has_nul(name))
        extra = frame.filter(pl.any_horizontal(pl.col(c).is_not_null() & (pl.col(c) != "")
                                               for c in extras))
        if extra.height:
            raise RunError([codes.extra_fields(name, extra.height, len(header),
                                               extra[LINE].head(5).to_list())])
        columns = {f: header[matched[f]] for f in wanted}
        if extensions:
            columns["metadata"] = "metadata.*"
            wanted.append("metadata")
        meta = (pl.struct(*(pl.col(positions[i]).alias(key) for i, key in extensions.items()))
                if extensions else pl.lit(None))
        frame = frame.select(
            pl.col(LINE).cast(pl.Int64),
            *(pl.col(positions[matched[f]]).alias(f) for f in wanted if f != "metadata"),
            *([meta.alias("metadata")] if "metadata" in fields else []),
            *(pl.lit(None, dtype=pl.String).alias(f) for f in dict.fromkeys(fields)
              if f not in matched and f != "metadata"),
        )
        return RawTable(entity, name, frame, columns)

    @staticmethod
    def _options(width: int) -> dict[str, Any]:
        """How every data file is parsed: columns by position, all text, the header row
        skipped (it was matched by name), ragged rows tolerated and checked after."""
        return dict(
            has_header=False,
            skip_rows=1,
            schema={f"c{i}": pl.String for i in range(width)}
            | {f"{_EXTRA}{k}": pl.Categorical for k in range(_EXTRAS)},
            truncate_ragged_lines=True,
            extra_columns="ignore",  # else a first row with 2+ extra fields is refused
            missing_columns="insert",
            quote_char='"',
            row_index_name=LINE,
            row_index_offset=2,
            encoding="utf8",
        )

    def _parse(self, name: str, width: int, indices: list[int]) -> pl.DataFrame:
        options = self._options(width)
        try:
            # one more record than the limit: enough to tell it is too many
            return pl.read_csv(self._source(name),
                               columns=[*indices, *range(width, width + _EXTRAS)],
                               n_rows=self.limits.max_records + 1, **options)
        except pl.exceptions.NoDataError:
            return pl.DataFrame(schema={LINE: pl.UInt32, **options["schema"]})
        except pl.exceptions.PolarsError as error:
            raise RunError([diagnose(self._bytes(name), name, str(error))]) from None

    def _scan(self, name: str) -> _Scan:
        """A file's physical lines, and whether it holds a NUL byte, so that the columns
        of a clean file (all real ones) need not be searched one by one, and a record
        that spans lines shows as fewer records than lines.

        The NUL byte is searched for in the mapped file (memchr, no copy); polars counts
        the lines, in parallel (a line without a line break at the end counted too).
        Counting line breaks chunk by chunk in Python took three times as long: 0.4 s
        of a 1M-student district's 500 MB enrollments.csv.
        """
        if name not in self._scans:
            source = self._source(name)
            nul = False
            with open(source, "rb") as handle:
                if os.fstat(handle.fileno()).st_size:
                    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                        nul = view.find(b"\x00") >= 0
            lines = pl.scan_lines(source).select(pl.len()).collect().item()
            self._scans[name] = _Scan(lines, nul)
        return self._scans[name]

    def _has_nul(self, name: str) -> bool:
        return self._scan(name).nul

    def _check_lines(self, name: str, width: int, records: int) -> None:
        """Refuse a file in which a quote swallows records: one that opens and closes
        lines later makes the lines between one value, which a CSV reader takes for
        valid data. A quoted value may hold a line break (a two-line title); a line in
        a value that holds half a record's commas is a record swallowed, not text."""
        if records > self.limits.max_records or records + 1 == self._scan(name).lines:
            return  # every record on a line of its own: no value spans lines
        problem = _swallowed(self._bytes(name), name, width)
        if problem is not None:
            raise RunError([problem])

    def _bytes(self, name: str) -> bytes:
        return Path(self._source(name)).read_bytes()


class _Unwritable(Exception):
    """The sink of an expansion failed (a full disk), as opposed to the archive."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def _expand(archive: zipfile.ZipFile, member: str, sink: IO[bytes], limits: Limits,
            origin: str) -> bool:
    """Copy a zip entry into ``sink`` in chunks, checked as they arrive; False if it
    goes past ``limits.max_file_bytes``.

    The bytes are counted as they come out of the decompressor, not taken from the
    sizes the archive claims: past the file limit, or past ``max_zip_ratio`` times the
    compressed size (a bomb), the copy stops. zipfile checks the entry's CRC when the
    last byte is read. Every way an entry can be unreadable is a located diagnostic,
    not an exception from zipfile or zlib.
    """
    info = archive.getinfo(member)
    if info.flag_bits & 0x1:
        raise RunError([codes.zip_entry_encrypted(origin, member)])
    if info.compress_type not in _ZIP_METHODS:
        raise RunError([codes.zip_entry_method(origin, member, info.compress_type)])
    copied = 0
    bomb = max(info.compress_size * limits.max_zip_ratio, _SMALL_ENTRY)
    try:
        with archive.open(member) as source:
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if copied > limits.max_file_bytes:
                    return False
                if copied > bomb:
                    raise RunError([codes.zip_bomb(origin, member, limits.max_zip_ratio,
                                                   info.compress_size)])
                try:
                    sink.write(chunk)
                except OSError as error:
                    raise _Unwritable(error) from None
    except _Unwritable as failed:
        raise failed.error from None  # the sink's, not the archive's: the caller says so
    except _ZIP_ERRORS as error:
        raise RunError([codes.zip_entry_damaged(origin, member, str(error))]) from None
    return True


def _check_values(frame: pl.DataFrame, name: str, columns: dict[str, str], limits: Limits,
                  nul: bool = True) -> None:
    """Refuse a value longer than the limit, or holding a NUL byte, in a column read;
    without ``nul`` (the file has none) only the lengths are looked at."""
    if frame.height == 0 or not columns:
        return
    stats = frame.select(
        *(pl.col(c).str.len_bytes().max().alias(f"len:{c}") for c in columns),
        *(pl.col(c).str.contains("\x00", literal=True).any().alias(f"nul:{c}")
          for c in columns if nul),
    ).row(0, named=True)
    for c, header in columns.items():
        length = stats[f"len:{c}"]
        if length is not None and length > limits.max_field_bytes:
            line = frame.filter(pl.col(c).str.len_bytes() > limits.max_field_bytes)[LINE][0]
            raise RunError([codes.value_too_long(name, header.strip(), line, length,
                                                 limits.max_field_bytes)])
        if stats.get(f"nul:{c}"):
            line = frame.filter(pl.col(c).str.contains("\x00", literal=True))[LINE][0]
            raise RunError([codes.nul_in_value(name, line, header.strip())])


CHUNK_ROWS = 250_000  # records per batch of read_chunks


@dataclass(frozen=True)
class _Scan:
    lines: int  # physical lines, the last one counted without its line break
    nul: bool  # a NUL byte anywhere


def _swallowed(data: bytes, name: str, width: int) -> Diagnostic | None:
    """The first value that spans lines and holds a line with half a record's commas
    (records swallowed by a stray quote), where it starts and ends; None if none."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    start, commas = 1, max(2, (width - 1) // 2)
    try:
        for record in reader:
            if reader.line_num > start and any(
                    line.count(",") >= commas
                    for value in record if "\n" in value or "\r" in value
                    for line in value.splitlines()[1:]):
                return codes.records_swallowed(name, start, reader.line_num)
            start = reader.line_num + 1
    except csv.Error as error:
        return _malformed(name, start, error)
    return None


@dataclass(frozen=True)
class _Layout:
    """How a file's columns map to the fields read: worked out once per file."""

    name: str
    header: list[str]
    matched: dict[str, int]
    fields: tuple[str, ...]
    wanted: list[str]
    extensions: dict[int, str]
    indices: list[int]


def _header(head: bytes, name: str) -> list[str]:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RunError([codes.file_utf16(name)])
    text = head.removeprefix(b"\xef\xbb\xbf")
    first = text.split(b"\n", 1)[0].rstrip(b"\r")
    if not first.strip():
        raise RunError([codes.no_header(name)])
    if b"\x00" in first:
        raise RunError([codes.nul_byte(name, 1)])
    try:
        decoded = first.decode("utf-8")
    except UnicodeDecodeError:
        raise RunError([diagnose(text, name, "")]) from None
    try:
        return next(csv.reader([decoded]))
    except csv.Error as error:  # a lone CR: the file does not end its lines with LF or CRLF
        raise RunError([_malformed(name, 1, error)]) from None


def _match_header(
    spec: schema.Entity, header: list[str], file: str
) -> tuple[dict[str, int], list[Diagnostic]]:
    """Each model field's column index; unknown and odd columns become warnings.

    A field's own column wins over its 1.0 spelling wherever each stands in the header
    (a 1.1 export that still carries the 1.0 column reads the 1.1 one), and over a
    column that matches only without regard to case.
    """
    exact: dict[str, str] = {f.csv: f.name for f in spec.fields.values() if f.csv}
    legacy: dict[str, str] = {a: f.name for f in spec.fields.values() for a in f.aliases}
    if spec.name == "demographics":
        legacy.setdefault("userSourcedId", "sourcedId")  # the 1.0 spelling
    known = {c for cols in spec.columns.values() for c in cols}
    lower = {c.lower(): c for c in (*legacy, *exact)}
    # Per field, its candidate columns: (rank, index, column); the lowest rank is read.
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    notes: list[Diagnostic] = []
    unknown: list[str] = []
    for index, raw in enumerate(header):
        column = raw.strip()
        if not column:
            notes.append(codes.unnamed_column(file, index + 1))
        elif column.startswith("metadata."):
            continue  # extension columns are allowed and not read
        elif column in exact:
            candidates.setdefault(exact[column], []).append((0, index, column))
        elif column in legacy:
            candidates.setdefault(legacy[column], []).append((1, index, column))
        elif column.lower() in lower:
            spelt = lower[column.lower()]
            target = exact.get(spelt) or legacy[spelt]
            candidates.setdefault(target, []).append((2, index, column))
        elif column not in known:
            unknown.append(column)
    matched: dict[str, int] = {}
    for target, found in candidates.items():
        rank, index, column = min(found)
        matched[target] = index
        if rank == 2:
            notes.append(codes.column_read_as(file, column, spec.fields[target].csv or target))
        for _, _, other in sorted(found)[1:]:
            notes.append(codes.column_repeated(file, other, column))
    if unknown:
        hints = {c: h for c in unknown if (h := did_you_mean(c, known)) is not None}
        notes.append(codes.unknown_header_columns(file, unknown, hints))
    return matched, notes


def _csv_problem(error: csv.Error) -> CsvProblem:
    """What a csv.Error says about the file.

    The csv module's own text speaks of its API ("open the file with newline=''") and
    changes between Python versions, so it is never shown: each error it is known to
    raise here is recognised by its text, for the diagnostic to say again in terms of
    the file; any other is "unreadable", which gets a general sentence.
    """
    text = str(error)
    if text.startswith("new-line character"):
        return "lone CR"
    if text.startswith("unexpected end of data"):
        return "unclosed quote"
    if "expected after" in text:
        return "text after quote"
    if text.startswith("field larger than field limit"):
        return "past field limit"
    return "unreadable"


def _malformed(name: str, line: int, error: csv.Error) -> Diagnostic:
    """The row of ``name`` that starts at ``line`` is not CSV, as ``error`` says."""
    return codes.malformed_csv(name, line, _csv_problem(error), csv.field_size_limit())


def diagnose(data: bytes, name: str, reason: str) -> Diagnostic:
    """Why a file that polars refused is broken, with its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return codes.file_not_utf8(name, data[error.start], line)
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        return codes.nul_byte(name, text.count("\n", 0, text.index("\x00")) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1  # the line the record being read starts on: where an unclosed quote opened
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as error:
        return _malformed(name, start, error)
    return codes.unreadable_csv(name, reason)


# --- opening -------------------------------------------------------------------------


def _folder_names(folder: Path) -> list[str]:
    """The names of the files a folder package may be read from.

    A package is read from inside itself only: a CSV file that is a link resolving
    outside the folder (another district's export, a system file) is refused, as is
    one that is not a regular file (a FIFO would block the read, a device never end).
    A hard link is the file itself, wherever else it is named.
    """
    root = folder.resolve()
    names = []
    for entry in sorted(folder.iterdir()):
        mode = entry.lstat().st_mode
        csv_file = entry.name.lower().endswith(".csv")
        if stat.S_ISLNK(mode):
            target = entry.resolve()
            if csv_file and not target.is_relative_to(root):
                raise RunError([codes.link_outside_package(entry, target)])
            mode = target.stat().st_mode if target.exists() else 0
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            if csv_file:
                raise RunError([codes.not_a_file(entry)])
            continue
        names.append(entry.name)
    return names


def _entity_files(names: Iterable[str], warnings: list[Diagnostic], origin: str
                  ) -> dict[str, str]:
    """Entity -> file name, matching file names without regard to case; two names for
    one file (users.csv and Users.csv) are refused."""
    by_lower: dict[str, str] = {}
    for name in names:
        earlier = by_lower.setdefault(name.lower(), name)
        if earlier != name and name.lower().endswith(".csv"):
            raise RunError([codes.two_files_for_one_name(origin, earlier, name)])
    files = {}
    for entity in schema.ENTITIES.values():
        actual = by_lower.get(entity.file.lower())
        if actual is None:
            continue
        if actual != entity.file:
            warnings.append(codes.file_read_as(actual, entity.file))
        files[entity.name] = actual
    return files


def _read_manifest(data: bytes) -> dict[str, str]:
    text = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return {row[0].strip(): (row[1].strip() if len(row) > 1 else "") for row in rows[1:] if row}


def _open_zip(path: Path, limits: Limits, warnings: list[Diagnostic]) -> tuple[
    zipfile.ZipFile, dict[str, str]
]:
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_ERRORS as error:
        raise RunError([codes.not_a_zip(path, str(error))]) from None
    members: dict[str, str] = {}
    folders: set[str] = set()
    for info in archive.infolist():
        if not info.filename:  # zipfile's own is_dir() fails on it
            archive.close()
            raise RunError([codes.zip_entry_unnamed(path)])
        if info.is_dir():
            continue
        pure = PurePosixPath(info.filename.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            archive.close()
            raise RunError([codes.zip_entry_outside(path, info.filename)])
        if info.file_size > limits.max_file_bytes or (
            info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio
            and info.file_size > _SMALL_ENTRY
        ):
            archive.close()
            raise RunError([
                codes.zip_entry_too_large(path, info.filename, info.file_size,
                                          limits.max_file_bytes)
                if info.file_size > limits.max_file_bytes else
                codes.zip_ratio_too_high(path, info.filename, info.file_size,
                                         info.compress_size)])
        if pure.name.startswith(".") or "__MACOSX" in pure.parts:
            continue
        folders.add(str(pure.parent))
        if pure.name in members:
            archive.close()
            raise RunError([codes.two_files_for_one_name(path.name, members[pure.name],
                                                         info.filename)])
        members[pure.name] = info.filename
    if folders - {"."}:
        if len(folders) > 1:
            archive.close()
            raise RunError([codes.files_in_folders(path, folders)])
        warnings.append(codes.files_in_a_folder(path, folders.pop()))
    return archive, members


def open_package(path: Path, limits: Limits | None = None) -> Package:
    """Open a package and read its manifest; data files are read later, on demand."""
    limits = limits or Limits()
    warnings: list[Diagnostic] = []
    if not path.exists():
        raise RunError([codes.source_not_found(path)])
    folder: Path | None = None
    archive: zipfile.ZipFile | None = None
    zip_names: dict[str, str] = {}
    if path.is_dir():
        folder = path
        names = _folder_names(path)
    else:
        archive, zip_names = _open_zip(path, limits, warnings)
        names = list(zip_names)
    if not any(n.lower().endswith(".csv") for n in names):
        if archive:
            archive.close()
        raise RunError([codes.no_csv_files(path)])
    files = _entity_files(names, warnings, path.name)
    package = Package(str(path), "1.1", {}, files, warnings, folder, archive, zip_names,
                      limits)
    manifest_name = next((n for n in names if n.lower() == MANIFEST), None)
    if manifest_name is None:
        package.version = "1.0"
        warnings.append(codes.no_manifest(str(path)))
        return package
    try:
        raw = package._manifest(manifest_name)
    except RunError:
        package.close()
        raise
    manifest = _read_manifest(raw)
    version = manifest.get("oneroster.version", "")
    if version.startswith("1.2"):
        package.version = "1.2"
    elif version in ("1.1", "1.0"):
        package.version = version
    else:
        package.close()
        raise RunError([codes.unsupported_version(version, manifest_name)])
    for key, value in manifest.items():
        if not key.startswith("file."):
            continue
        stem, mode = key[5:], value.lower() or "absent"
        package.modes[stem] = mode
        entity = schema.entity(stem)
        if entity is None or stem != entity.name:
            continue
        if mode in ("bulk", "delta") and entity.name not in files:
            warnings.append(codes.listed_file_missing(entity.file, mode, manifest_name))
        elif mode == "delta" and entity.name in files:
            warnings.append(codes.delta_read_as_snapshot(entity.file, manifest_name))
        elif mode == "absent" and entity.name in files:
            warnings.append(codes.absent_file_present(entity.file, manifest_name))
    return package
