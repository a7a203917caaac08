"""``inventory import-stock FILE.csv``: post a CSV file of receipts in one transaction.

The file has a header row naming its columns -- ``sku``, ``location_code``, ``quantity`` and
optionally ``reference``, ``lot``, ``expires_on`` and ``serial``, in any order -- and one receipt
line per row (from the supplier to the location). A row of a lot-tracked item names its ``lot``
(created by its first receipt, with the row's ``expires_on``, a date as YYYY-MM-DD, if any); a
row of a serial-tracked item names one ``serial`` and has quantity 1 (one row per unit); other
items leave the three empty. The file is read as a stream (UTF-8, an optional BOM; quoted fields
may span lines) and loaded with COPY by :func:`inventory_pg.bulk.import_receipts`, which checks
every row in SQL and posts every line or none.

Output: bad rows as ``line N: <problem>`` (file line numbers, the header is line 1), then one
last line saying what happened. Progress goes to stderr, only when stderr is a terminal.
Exit status: 0 posted, 1 refused (bad rows, nothing posted), 2 usage error or database
unavailable (nothing posted).
"""

from __future__ import annotations

import codecs
import csv
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from inventory_core.errors import (
    InventoryError,
    LimitExceeded,
    SerialConflict,
    Unavailable,
    ValidationError,
)
from inventory_core.users import Role, normalize_username
from inventory_pg.bulk import (
    BadRow,
    ImportRefused,
    ImportResult,
    ImportRow,
    Progress,
    import_receipts,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "COLUMNS",
    "EXIT_POSTED",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "import_stock",
    "read_rows",
    "summary",
]

EXIT_POSTED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

COLUMNS = ("sku", "location_code", "quantity", "reference", "lot", "expires_on", "serial")
REQUIRED = COLUMNS[:3]
OPTIONAL = COLUMNS[3:]
DATABASE_TIMEOUT = 10.0
PROGRESS_INTERVAL = 0.2
"""Seconds between two progress updates on the terminal."""


class _Progress:
    """Progress on a terminal: one line rewritten in place, at most every few tenths of a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, count: int) -> None:
        now = time.monotonic()
        if stage == "loading" and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self._shown = True
        self._stream.write(f"\r\x1b[K{stage} {count:,} lines...")
        self._stream.flush()

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


def _text_lines(stream: BinaryIO, undecodable: set[int]) -> Iterator[str]:
    """The file's lines as text (line endings kept, as csv wants); a line that is not UTF-8 is
    decoded with replacement characters and its number put in ``undecodable``."""
    for number, raw in enumerate(stream, start=1):
        chunk = (
            raw[len(codecs.BOM_UTF8) :] if number == 1 and raw.startswith(codecs.BOM_UTF8) else raw
        )
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield chunk.decode("utf-8", "replace")


def _header(fields: list[str]) -> dict[str, int]:
    names = [field.strip().lower() for field in fields]
    unknown = [name for name in names if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in names]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if unknown:
        problems.append("unknown column(s) " + ", ".join(repr(n) for n in unknown))
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if duplicated:
        problems.append("repeated column(s) " + ", ".join(duplicated))
    if problems:
        expected = ", ".join(REQUIRED) + "".join(f"[, {name}]" for name in OPTIONAL)
        raise ImportRefused([BadRow(1, f"header: {'; '.join(problems)} (expected {expected})")], 1)
    return {name: names.index(name) for name in names}


def read_rows(stream: BinaryIO) -> Iterator[ImportRow]:
    """The data rows of a CSV file opened in binary mode, each with its file line number.

    The header is read at once (ImportRefused for a missing or wrong one); the rows are then
    read lazily. A row the reader cannot use -- malformed CSV, the wrong number of fields, not
    UTF-8 -- comes with ``problem`` set, so it is reported with the others. Blank lines are
    skipped. Empty fields are ``None``; others are stripped of surrounding spaces.
    """
    undecodable: set[int] = set()
    reader = csv.reader(_text_lines(stream, undecodable), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportRefused([BadRow(1, f"header: malformed CSV: {error}")], 1) from None
    if header is None:
        raise ImportRefused([BadRow(1, "the file is empty (a header row is expected)")], 1)
    if 1 in undecodable:
        raise ImportRefused([BadRow(1, "header: not valid UTF-8")], 1)
    return _data_rows(reader, _header(header), undecodable)


def _data_rows(
    reader: CsvReader, columns: dict[str, int], undecodable: set[int]
) -> Iterator[ImportRow]:
    width = len(columns)
    sku, location, quantity = (columns[name] for name in REQUIRED)
    reference, lot, expires_on, serial = (columns.get(name) for name in OPTIONAL)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield ImportRow(start, None, None, None, problem=f"malformed CSV: {error}")
            continue
        end = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if undecodable and any(n in undecodable for n in range(start, end + 1)):
            yield ImportRow(start, None, None, None, problem="not valid UTF-8")
            continue
        if len(fields) != width:
            yield ImportRow(
                start,
                None,
                None,
                None,
                problem=f"expected {width} fields, found {len(fields)}",
            )
            continue
        yield ImportRow(
            start,
            fields[sku].strip() or None,
            fields[location].strip() or None,
            fields[quantity].strip() or None,
            (fields[reference].strip() or None) if reference is not None else None,
            None,
            (fields[lot].strip() or None) if lot is not None else None,
            (fields[expires_on].strip() or None) if expires_on is not None else None,
            (fields[serial].strip() or None) if serial is not None else None,
        )


def summary(result: ImportResult) -> str:
    """The last line after a successful import."""
    lines = "line" if result.lines == 1 else "lines"
    movements = "movement" if result.movements == 1 else "movements"
    seqs = (
        f"seq {result.first_seq}"
        if result.first_seq == result.last_seq
        else f"seq {result.first_seq}-{result.last_seq}"
    )
    lots = "" if not result.new_lots else f", {result.new_lots} new lot"
    if result.new_lots > 1:
        lots += "s"
    return (
        f"posted {result.lines} {lines} as {result.movements} receipt {movements} ({seqs}), "
        f"{result.units} units{lots}"
    )


def _refused(error: ImportRefused, out: TextIO) -> int:
    for row in error.bad_rows:
        print(f"line {row.line}: {row.message}", file=out)
    if error.total > len(error.bad_rows):
        print(f"... and {error.total - len(error.bad_rows)} more bad rows", file=out)
    rows = "bad row" if error.total == 1 else "bad rows"
    print(f"refused: {error.total} {rows}, nothing posted", file=out)
    return EXIT_REFUSED


def _usage(message: str, err: TextIO) -> int:
    one_line = " ".join(message.split())  # driver messages may span lines
    print(f"inventory: error: {one_line}; nothing posted", file=err)
    return EXIT_USAGE


def import_stock(
    path: str,
    *,
    reference: str | None = None,
    username: str = "admin",
    database_url: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    progress: Progress | None = None,
) -> int:
    """Run the command: import ``path`` into ``database_url`` (default: INVENTORY_DATABASE_URL)
    as ``username``. Prints the report to ``out`` (stdout) and errors to ``err`` (stderr), and
    progress to ``err`` when it is a terminal (or to ``progress``, when given); returns the exit
    status."""
    out = out or sys.stdout
    err = err or sys.stderr
    url = database_url or os.environ.get("INVENTORY_DATABASE_URL")
    if not url:
        return _usage("INVENTORY_DATABASE_URL is not set (import-stock writes to PostgreSQL)", err)
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 -- closed below, after the import
    except OSError as error:
        return _usage(f"cannot read {path}: {error.strerror or error}", err)
    terminal = _Progress(err) if progress is None and err.isatty() else None
    try:
        with stream:
            rows = read_rows(stream)
            result = _post(
                url,
                rows,
                path,
                reference=reference,
                username=username,
                progress=progress or terminal,
            )
    except ImportRefused as error:
        if terminal:
            terminal.clear()
        return _refused(error, out)
    except _NothingToPost as error:
        if terminal:
            terminal.clear()
        print(f"refused: {error}, nothing posted", file=out)
        return EXIT_REFUSED
    except _UsageError as error:
        if terminal:
            terminal.clear()
        return _usage(str(error), err)
    except OSError as error:
        if terminal:
            terminal.clear()
        return _usage(f"cannot read {path}: {error.strerror or error}", err)
    if terminal:
        terminal.clear()
    print(summary(result), file=out)
    return EXIT_POSTED


class _UsageError(Exception):
    """Something to report with exit status 2."""


class _NothingToPost(Exception):
    """A file refused as a whole (exit status 1)."""


def _post(
    url: str,
    rows: Iterator[ImportRow],
    path: str,
    *,
    reference: str | None,
    username: str,
    progress: Progress | None,
) -> ImportResult:
    from inventory_pg import PgStore, applied_migrations, available_migrations  # noqa: PLC0415

    try:
        applied = set(applied_migrations(url))
        pending = [m.name for m in available_migrations() if m.name not in applied]
        if pending:
            raise _UsageError(
                f"the database schema is not up to date ({len(pending)} pending migration(s)): "
                "run 'inventory migrate' first"
            )
        with PgStore.open(url, min_size=1, max_size=1, timeout=DATABASE_TIMEOUT) as store:
            with store.unit_of_work() as uow:
                user = uow.users.get_by_username(normalize_username(username))
            if user is None:
                raise _UsageError(f"no user named {username!r} (give one with --user)")
            if not user.active:
                raise _UsageError(f"user {user.username!r} is inactive")
            if not user.role.allows(Role.CLERK):
                raise _UsageError(
                    f"user {user.username!r} is a {user.role.value}; posting receipts needs "
                    "at least the clerk role"
                )
            note = "".join(c for c in Path(path).name if c.isprintable())[:200]
            return import_receipts(
                store,
                rows,
                actor_id=user.id,
                reference=reference,
                note=f"inventory import-stock {note}",
                progress=progress,
            )
    except ImportRefused:
        raise
    except (LimitExceeded, SerialConflict) as error:
        # Refused as a whole, like bad rows: exit 1, nothing posted. (A serial is in stock only
        # when a concurrent receipt put it there after the rows were checked.)
        raise _NothingToPost(str(error)) from None
    except Unavailable as error:
        raise _UsageError(f"cannot reach the database: {error}") from None
    except ValidationError as error:
        if error.errors and error.errors[0].path == "$":  # no rows at all
            raise _NothingToPost("the file has no data rows") from None
        raise _UsageError(f"--reference refused: {error.errors[0].message}") from None
    except InventoryError as error:
        raise _UsageError(f"the import failed: {error}") from None
