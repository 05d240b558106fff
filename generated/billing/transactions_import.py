"""All-or-nothing import of a transactions CSV into SQLite.

`import_transactions` validates a whole CSV export first, then inserts its new
rows into the `transactions` table in a single database transaction. Any bad row
rejects the whole file with a `CsvImportError` listing every problem; rows whose
id is already known are skipped and counted in the returned `ImportReport`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import re
import sqlite3
from collections.abc import Sequence

from generated.billing.money import CURRENCIES, Money

__all__ = [
    "CsvImportError",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "HEADER",
    "ImportLimitError",
    "ImportReport",
    "RowError",
    "SCHEMA",
    "import_transactions",
]

HEADER: tuple[str, ...] = ("id", "date", "description", "amount", "currency")
DEFAULT_MAX_BYTES: int = 1_048_576
DEFAULT_MAX_ROWS: int = 10_000
SCHEMA: str = """CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    date TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL
)"""

_INSERT = (
    "INSERT INTO transactions (id, date, description, amount_minor, currency) "
    "VALUES (?, ?, ?, ?, ?)"
)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclasses.dataclass(frozen=True)
class RowError:
    """One problem found in one data row.

    Attributes:
        row: the 1-based data-row number (the header is not counted; blank lines
            use up a number).
        message: what is wrong, e.g. ``invalid date '2024-02-30'``.
    """

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What a successful import did.

    Attributes:
        inserted: rows inserted by this call.
        skipped_duplicates: rows skipped because their id was already in the table
            or appeared earlier in the file.
    """

    inserted: int
    skipped_duplicates: int


class CsvImportError(ValueError):
    """The CSV file was rejected; nothing was imported.

    Attributes:
        errors: every row problem found, sorted by row (may be empty for
            file-level problems such as a bad header).
    """

    def __init__(self, message: str, errors: Sequence[RowError] = ()) -> None:
        """Create the error with its message and the row errors it reports."""
        super().__init__(message)
        self.errors: tuple[RowError, ...] = tuple(errors)


class ImportLimitError(CsvImportError):
    """The CSV file exceeds the size or row limit; nothing was imported."""


@dataclasses.dataclass(frozen=True)
class _Row:
    number: int
    id: str
    date: str
    description: str
    amount_minor: int
    currency: str


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _read_records(text: str) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Return the header record (or None) and the numbered non-empty data records."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    number = 0
    try:
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            got = "nothing" if header is None else ",".join(header)
            raise CsvImportError(
                f"invalid header: expected {','.join(HEADER)}, got {got}"
            )
        for record in reader:
            number += 1
            if record:
                records.append((number, record))
    except csv.Error as exc:
        row = number + 1 if header is not None else 0
        raise CsvImportError(
            f"CSV syntax error in row {row}: {exc}",
            (RowError(row, f"CSV syntax error: {exc}"),),
        ) from exc
    return header, records


def _validate(number: int, record: list[str]) -> tuple[_Row | None, list[RowError]]:
    """Validate one data record; return the parsed row or its errors."""
    if len(record) != len(HEADER):
        return None, [RowError(number, f"expected {len(HEADER)} fields, got {len(record)}")]
    id_, date, description, amount, currency = record
    errors: list[RowError] = []
    if not id_ or id_ != id_.strip():
        errors.append(RowError(number, f"invalid id {id_!r}"))
    if not _is_valid_date(date):
        errors.append(RowError(number, f"invalid date {date!r}"))
    amount_minor = 0
    if currency not in CURRENCIES:
        errors.append(RowError(number, f"unknown currency {currency!r}"))
    else:
        try:
            amount_minor = Money.parse(amount, currency).to_minor_units()
        except ValueError:
            errors.append(RowError(number, f"invalid amount {amount!r} for {currency}"))
    if errors:
        return None, errors
    return _Row(number, id_, date, description, amount_minor, currency), []


def _is_valid_date(text: str) -> bool:
    if _DATE_RE.fullmatch(text) is None:
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def import_transactions(
    conn: sqlite3.Connection,
    csv_text: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Import a transactions CSV into the `transactions` table atomically.

    The CSV must have the header ``id,date,description,amount,currency``. All
    limits are checked and all rows validated before anything is written; the
    new rows are then inserted in one transaction (created with `SCHEMA` if the
    table is missing) and committed. Duplicate ids are skipped and counted.

    Args:
        conn: an open SQLite connection with no transaction in progress.
        csv_text: the whole CSV file as text.
        max_bytes: maximum size of `csv_text` in UTF-8 bytes.
        max_rows: maximum number of non-empty data rows.

    Returns:
        An `ImportReport` with the counts of inserted and skipped rows.

    Raises:
        TypeError: if `conn` is not a `sqlite3.Connection` or `csv_text` not a str.
        ValueError: if `max_bytes` or `max_rows` is not an int >= 1.
        RuntimeError: if `conn` already has an open transaction.
        ImportLimitError: if the size or row limit is exceeded.
        CsvImportError: if the header is wrong, the CSV is malformed, or any row
            is invalid; `errors` lists every bad row.
        sqlite3.Error: if the database fails while inserting (after rollback).
    """
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(f"conn must be a sqlite3.Connection, not {type(conn).__name__}")
    if not isinstance(csv_text, str):
        raise TypeError(f"csv_text must be a str, not {type(csv_text).__name__}")
    _check_limit("max_bytes", max_bytes)
    _check_limit("max_rows", max_rows)
    if conn.in_transaction:
        raise RuntimeError("import_transactions needs a connection with no open transaction")

    size = len(csv_text.encode("utf-8"))
    if size > max_bytes:
        raise ImportLimitError(f"CSV is {size} bytes, limit is {max_bytes} bytes")

    text = csv_text[1:] if csv_text.startswith("\ufeff") else csv_text
    _, records = _read_records(text)

    if len(records) > max_rows:
        raise ImportLimitError(f"CSV has {len(records)} data rows, limit is {max_rows}")

    rows: list[_Row] = []
    errors: list[RowError] = []
    for number, record in records:
        row, row_errors = _validate(number, record)
        if row is not None:
            rows.append(row)
        errors.extend(row_errors)
    if errors:
        bad_rows = len({error.row for error in errors})
        message = f"{bad_rows} invalid row(s); nothing imported" + "".join(
            "\n" + str(error) for error in errors
        )
        raise CsvImportError(message, errors)

    return _insert(conn, rows)


def _insert(conn: sqlite3.Connection, rows: list[_Row]) -> ImportReport:
    """Insert the validated rows in one transaction; roll back on any failure."""
    inserted = 0
    skipped = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(SCHEMA)
        seen: set[str] = set()
        for row in rows:
            if row.id in seen or _exists(conn, row.id):
                skipped += 1
                continue
            seen.add(row.id)
            conn.execute(
                _INSERT,
                (row.id, row.date, row.description, row.amount_minor, row.currency),
            )
            inserted += 1
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return ImportReport(inserted=inserted, skipped_duplicates=skipped)


def _exists(conn: sqlite3.Connection, id_: str) -> bool:
    return conn.execute("SELECT 1 FROM transactions WHERE id = ?", (id_,)).fetchone() is not None
