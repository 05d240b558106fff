"""Behavior tests for generated.billing.transactions_import.

Spec: prompts/billing/transactions_import.prompt.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generated.billing import transactions_import as ti
from generated.billing.money import Money
from generated.billing.transactions_import import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    HEADER,
    SCHEMA,
    CsvImportError,
    ImportLimitError,
    ImportReport,
    RowError,
    import_transactions,
)

HEADER_LINE = "id,date,description,amount,currency"


def make_csv(rows, *, header=HEADER_LINE, terminator="\n"):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    for row in rows:
        writer.writerow(row)
    return header + terminator + out.getvalue()


def table_exists(conn) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transactions'"
        ).fetchone()
        is not None
    )


def all_rows(conn):
    return conn.execute(
        "SELECT id, date, description, amount_minor, currency FROM transactions ORDER BY id"
    ).fetchall()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "ledger.db"


@pytest.fixture
def conn(db_path):
    connection = sqlite3.connect(db_path)
    yield connection
    connection.close()


@pytest.fixture
def other(db_path):
    """A second connection to the same database file: sees only committed data."""
    connection = sqlite3.connect(db_path)
    yield connection
    connection.close()


GOOD = [
    ["t1", "2024-01-05", "Coffee", "3.50", "EUR"],
    ["t2", "2024-01-06", "Rent, January", "-1200.00", "USD"],
    ["t3", "2024-02-29", 'Sushi "omakase"', "8000", "JPY"],
    ["t4", "2023-12-31", "Bank fee\nwith note", "1.5", "KWD"],
]


# --------------------------------------------------------------------------
# surface
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_public_names_and_constants():
    assert set(ti.__all__) == {
        "CsvImportError",
        "ImportLimitError",
        "ImportReport",
        "RowError",
        "HEADER",
        "SCHEMA",
        "DEFAULT_MAX_BYTES",
        "DEFAULT_MAX_ROWS",
        "import_transactions",
    }
    assert HEADER == ("id", "date", "description", "amount", "currency")
    assert DEFAULT_MAX_BYTES == 1_048_576
    assert DEFAULT_MAX_ROWS == 10_000
    assert "CREATE TABLE IF NOT EXISTS transactions" in SCHEMA


@pytest.mark.req("A1")
def test_exception_hierarchy():
    assert issubclass(CsvImportError, ValueError)
    assert not issubclass(CsvImportError, ImportError)
    assert issubclass(ImportLimitError, CsvImportError)
    err = CsvImportError("boom", [RowError(2, "bad")])
    assert str(err) == "boom"
    assert err.errors == (RowError(2, "bad"),)
    assert CsvImportError("x").errors == ()


@pytest.mark.req("A1")
def test_row_error_and_report_values():
    e = RowError(3, "invalid date '2024-02-30'")
    assert str(e) == "row 3: invalid date '2024-02-30'"
    assert e.row == 3 and e.message == "invalid date '2024-02-30'"
    assert e == RowError(3, "invalid date '2024-02-30'")
    r = ImportReport(inserted=2, skipped_duplicates=1)
    assert (r.inserted, r.skipped_duplicates) == (2, 1)
    assert r == ImportReport(2, 1)
    with pytest.raises(AttributeError):
        r.inserted = 5  # type: ignore[misc]


# --------------------------------------------------------------------------
# successful imports
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_imports_rows_with_minor_units_and_text_as_given(conn, other):
    report = import_transactions(conn, make_csv(GOOD))
    assert report == ImportReport(inserted=4, skipped_duplicates=0)
    expected = [
        ("t1", "2024-01-05", "Coffee", 350, "EUR"),
        ("t2", "2024-01-06", "Rent, January", -120000, "USD"),
        ("t3", "2024-02-29", 'Sushi "omakase"', 8000, "JPY"),
        ("t4", "2023-12-31", "Bank fee\nwith note", 1500, "KWD"),
    ]
    assert all_rows(conn) == expected
    # committed: visible from another connection, and no transaction left open
    assert all_rows(other) == expected
    assert not conn.in_transaction


@pytest.mark.req("A1")
def test_amounts_agree_with_money_parse(conn):
    rows = [
        ["a", "2024-01-01", "", "0.01", "USD"],
        ["b", "2024-01-01", "", "-0", "GBP"],
        ["c", "2024-01-01", "", "1.000", "BHD"],
        ["d", "2024-01-01", "", "12.3", "CHF"],
        ["e", "2024-01-01", "", "99999999999.99", "SEK"],
    ]
    import_transactions(conn, make_csv(rows))
    stored = dict(conn.execute("SELECT id, amount_minor FROM transactions"))
    for rid, _, _, amount, currency in rows:
        assert stored[rid] == Money.parse(amount, currency).to_minor_units()
        assert isinstance(stored[rid], int)
    assert stored == {"a": 1, "b": 0, "c": 1000, "d": 1230, "e": 9999999999999}


@pytest.mark.req("A1")
def test_table_schema(conn):
    import_transactions(conn, make_csv(GOOD[:1]))
    info = conn.execute("PRAGMA table_info(transactions)").fetchall()
    columns = [(name, type_.upper(), pk) for _, name, type_, _, _, pk in info]
    assert columns == [
        ("id", "TEXT", 1),
        ("date", "TEXT", 0),
        ("description", "TEXT", 0),
        ("amount_minor", "INTEGER", 0),
        ("currency", "TEXT", 0),
    ]


@pytest.mark.req("A1")
def test_uses_existing_table(conn):
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO transactions VALUES ('old', '2020-01-01', 'x', 5, 'USD')")
    conn.commit()
    report = import_transactions(conn, make_csv(GOOD[:2]))
    assert report == ImportReport(2, 0)
    assert [r[0] for r in all_rows(conn)] == ["old", "t1", "t2"]


@pytest.mark.req("A1")
def test_crlf_line_endings(conn):
    report = import_transactions(conn, make_csv(GOOD, terminator="\r\n"))
    assert report == ImportReport(4, 0)
    assert dict(conn.execute("SELECT id, description FROM transactions"))["t4"] == "Bank fee\nwith note"


@pytest.mark.req("A1")
def test_byte_order_mark_is_ignored(conn):
    report = import_transactions(conn, "\ufeff" + make_csv(GOOD[:1]))
    assert report == ImportReport(1, 0)


@pytest.mark.parametrize(
    "text",
    [
        HEADER_LINE,
        HEADER_LINE + "\n",
        HEADER_LINE + "\r\n",
        HEADER_LINE + "\n\n\n",
    ],
)
@pytest.mark.req("A1")
def test_header_only_creates_table_and_inserts_nothing(conn, other, text):
    assert import_transactions(conn, text) == ImportReport(0, 0)
    assert table_exists(other)
    assert all_rows(other) == []


@pytest.mark.req("A1")
def test_last_row_without_trailing_newline(conn):
    text = make_csv(GOOD[:2]).rstrip("\n")
    assert import_transactions(conn, text) == ImportReport(2, 0)


# --------------------------------------------------------------------------
# duplicates
# --------------------------------------------------------------------------


@pytest.mark.req("A2")
def test_ids_already_in_table_are_skipped_and_counted(conn):
    import_transactions(conn, make_csv(GOOD[:2]))
    report = import_transactions(conn, make_csv(GOOD))
    assert report == ImportReport(inserted=2, skipped_duplicates=2)
    assert len(all_rows(conn)) == 4


@pytest.mark.req("A2")
def test_reimporting_the_same_file_inserts_nothing(conn):
    text = make_csv(GOOD)
    import_transactions(conn, text)
    before = all_rows(conn)
    assert import_transactions(conn, text) == ImportReport(0, 4)
    assert all_rows(conn) == before


@pytest.mark.req("A2")
def test_existing_row_is_not_overwritten(conn):
    import_transactions(conn, make_csv([["x", "2024-01-01", "original", "1.00", "USD"]]))
    report = import_transactions(conn, make_csv([["x", "2025-05-05", "changed", "9.99", "EUR"]]))
    assert report == ImportReport(0, 1)
    assert all_rows(conn) == [("x", "2024-01-01", "original", 100, "USD")]


@pytest.mark.req("A2")
def test_repeated_id_in_file_first_occurrence_wins(conn):
    rows = [
        ["a", "2024-01-01", "first", "1.00", "USD"],
        ["b", "2024-01-02", "b", "2.00", "USD"],
        ["a", "2024-01-03", "second", "3.00", "EUR"],
        ["a", "2024-01-04", "third", "4.00", "USD"],
    ]
    report = import_transactions(conn, make_csv(rows))
    assert report == ImportReport(inserted=2, skipped_duplicates=2)
    assert all_rows(conn) == [
        ("a", "2024-01-01", "first", 100, "USD"),
        ("b", "2024-01-02", "b", 200, "USD"),
    ]


@pytest.mark.req("A2")
def test_duplicate_rows_are_still_validated(conn):
    rows = [
        ["a", "2024-01-01", "", "1.00", "USD"],
        ["a", "2024-13-01", "", "1.00", "USD"],
    ]
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv(rows))
    assert [e.row for e in info.value.errors] == [2]
    assert not table_exists(conn)


# --------------------------------------------------------------------------
# validation: whole file rejected, every bad row listed
# --------------------------------------------------------------------------


@pytest.mark.req("A3")
def test_bad_rows_reject_the_whole_file_and_list_every_bad_row(conn, other):
    rows = [
        ["ok1", "2024-01-01", "fine", "1.00", "USD"],
        ["bad1", "2024-02-30", "no such day", "1.00", "USD"],
        ["ok2", "2024-01-02", "fine", "2.00", "USD"],
        ["bad2", "2024-01-03", "short"],
        ["bad3", "2024-01-04", "x", "1,000.00", "USD"],
        ["ok3", "2024-01-05", "fine", "3.00", "USD"],
        ["bad4", "2024-01-06", "x", "1.00", "usd"],
    ]
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv(rows))
    exc = info.value
    assert not isinstance(exc, ImportLimitError)
    assert [e.row for e in exc.errors] == [2, 4, 5, 7]
    assert exc.errors == (
        RowError(2, "invalid date '2024-02-30'"),
        RowError(4, "expected 5 fields, got 3"),
        RowError(5, "invalid amount '1,000.00' for USD"),
        RowError(7, "unknown currency 'usd'"),
    )
    assert str(exc) == (
        "4 invalid row(s); nothing imported\n"
        "row 2: invalid date '2024-02-30'\n"
        "row 4: expected 5 fields, got 3\n"
        "row 5: invalid amount '1,000.00' for USD\n"
        "row 7: unknown currency 'usd'"
    )
    assert not table_exists(conn)
    assert not table_exists(other)
    assert not conn.in_transaction


@pytest.mark.req("A3")
def test_bad_file_leaves_existing_table_unchanged(conn, other):
    import_transactions(conn, make_csv(GOOD[:2]))
    before = all_rows(other)
    rows = [
        ["new1", "2024-03-01", "", "1.00", "USD"],
        ["new2", "2024-03-02", "", "1.00", "USD"],
        ["new3", "2024-03-03", "", "abc", "USD"],
    ]
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv(rows))
    assert [e.row for e in info.value.errors] == [3]
    assert all_rows(conn) == before
    assert all_rows(other) == before


@pytest.mark.req("A3")
def test_a_row_can_have_several_errors(conn):
    rows = [
        ["good", "2024-01-01", "", "1.00", "USD"],
        [" x", "2024-1-1", "", "1.00", "ZZZ"],
    ]
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv(rows))
    assert info.value.errors == (
        RowError(2, "invalid id ' x'"),
        RowError(2, "invalid date '2024-1-1'"),
        RowError(2, "unknown currency 'ZZZ'"),
    )
    assert str(info.value).splitlines()[0] == "1 invalid row(s); nothing imported"


@pytest.mark.parametrize(
    "bad_date",
    [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-01-32",
        "2024-1-5",
        "20240105",
        "2024/01/05",
        " 2024-01-05",
        "2024-01-05 ",
        "2024-01-05T00:00",
        "0000-01-01",
        "٢٠٢٤-٠١-٠٥",
        "",
    ],
)
@pytest.mark.req("A3")
def test_invalid_dates(conn, bad_date):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv([["a", bad_date, "", "1.00", "USD"]]))
    assert info.value.errors == (RowError(1, f"invalid date {bad_date!r}"),)


@pytest.mark.req("A3")
@pytest.mark.parametrize("good_date", ["2024-02-29", "2000-02-29", "1999-12-31", "0001-01-01", "9999-12-31"])
def test_valid_dates(conn, good_date):
    assert import_transactions(conn, make_csv([["a", good_date, "", "1.00", "USD"]])) == ImportReport(1, 0)
    assert all_rows(conn)[0][1] == good_date


@pytest.mark.parametrize(
    "amount,currency",
    [
        ("", "USD"),
        (" 1.00", "USD"),
        ("1.00 ", "USD"),
        ("1,000.00", "USD"),
        ("1e3", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("1.000", "USD"),
        ("1.5", "JPY"),
        ("1.2345", "KWD"),
        ("+1.00", "USD"),
        ("$1.00", "USD"),
        ("12,34", "EUR"),
    ],
)
@pytest.mark.req("A3")
def test_invalid_amounts(conn, amount, currency):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv([["a", "2024-01-01", "", amount, currency]]))
    assert info.value.errors == (RowError(1, f"invalid amount {amount!r} for {currency}"),)


@pytest.mark.req("A3")
@pytest.mark.parametrize("currency", ["usd", "ZZZ", "", " USD", "US", "EURO", "AUD"])
def test_unknown_currency_skips_the_amount_check(conn, currency):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv([["a", "2024-01-01", "", "not a number", currency]]))
    assert info.value.errors == (RowError(1, f"unknown currency {currency!r}"),)


@pytest.mark.req("A3")
@pytest.mark.parametrize("bad_id", ["", " ", " a", "a ", "\ta"])
def test_invalid_ids(conn, bad_id):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, make_csv([[bad_id, "2024-01-01", "", "1.00", "USD"]]))
    assert info.value.errors == (RowError(1, f"invalid id {bad_id!r}"),)


@pytest.mark.parametrize(
    "line,count",
    [
        ("a,2024-01-01,x,1.00", 4),
        ("a,2024-01-01,x,1.00,USD,extra", 6),
        ("a,2024-01-01,x,1.00,USD,", 6),
        ("lonely", 1),
    ],
)
@pytest.mark.req("A3")
def test_wrong_field_count(conn, line, count):
    text = HEADER_LINE + "\n" + line + "\n"
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, text)
    assert info.value.errors == (RowError(1, f"expected 5 fields, got {count}"),)


@pytest.mark.req("A4")
def test_blank_lines_are_ignored_but_use_up_their_number(conn):
    text = (
        HEADER_LINE + "\n"
        "a,2024-01-01,x,1.00,USD\n"
        "\n"
        "b,2024-13-01,x,1.00,USD\n"
        "\n"
        "\n"
        "c,2024-01-01,x,1.00,XXX\n"
    )
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, text)
    assert [e.row for e in info.value.errors] == [3, 6]
    fixed = text.replace("2024-13-01", "2024-12-01").replace("XXX", "EUR")
    assert import_transactions(conn, fixed) == ImportReport(3, 0)


@pytest.mark.req("A4")
def test_quoted_newline_is_one_record_and_one_number(conn):
    text = (
        HEADER_LINE + "\n"
        'a,2024-01-01,"two\nlines",1.00,USD\n'
        "b,2024-01-01,x,oops,USD\n"
    )
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, text)
    assert info.value.errors == (RowError(2, "invalid amount 'oops' for USD"),)


@pytest.mark.req("A3")
@pytest.mark.parametrize(
    "text",
    [
        HEADER_LINE + '\na,2024-01-01,"unterminated,1.00,USD\n',
        HEADER_LINE + '\na,2024-01-01,"x"y,1.00,USD\n',
    ],
)
def test_csv_syntax_error_rejects_file(conn, text):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, text)
    assert len(info.value.errors) == 1
    assert info.value.errors[0].row == 1
    assert info.value.errors[0].message.startswith("CSV syntax error")
    assert str(info.value).startswith("CSV syntax error in row 1")
    assert not table_exists(conn)


# --------------------------------------------------------------------------
# header
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "id,date,amount\nx,2024-01-01,1.00\n",
        "ID,DATE,DESCRIPTION,AMOUNT,CURRENCY\n",
        "id, date, description, amount, currency\n",
        "date,id,description,amount,currency\n",
        "id,date,description,amount,currency,extra\n",
        "a,2024-01-01,x,1.00,USD\n",
    ],
)
@pytest.mark.req("A6")
def test_header_must_be_exact(conn, text):
    with pytest.raises(CsvImportError) as info:
        import_transactions(conn, text)
    assert not isinstance(info.value, ImportLimitError)
    assert info.value.errors == ()
    assert str(info.value).startswith("invalid header:")
    assert HEADER_LINE in str(info.value)
    assert not table_exists(conn)


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------


@pytest.mark.req("A5")
def test_size_limit_boundary_in_bytes(conn):
    text = make_csv(GOOD[:1])
    size = len(text.encode("utf-8"))
    assert import_transactions(conn, text, max_bytes=size) == ImportReport(1, 0)
    with pytest.raises(ImportLimitError) as info:
        import_transactions(conn, make_csv(GOOD[1:2]), max_bytes=len(make_csv(GOOD[1:2]).encode()) - 1)
    assert info.value.errors == ()
    assert str(info.value) == (
        f"CSV is {len(make_csv(GOOD[1:2]).encode())} bytes, "
        f"limit is {len(make_csv(GOOD[1:2]).encode()) - 1} bytes"
    )
    assert [r[0] for r in all_rows(conn)] == ["t1"]


@pytest.mark.req("A5")
def test_size_limit_counts_utf8_bytes_not_characters(conn):
    text = make_csv([["a", "2024-01-01", "é" * 50, "1.00", "EUR"]])
    chars, size = len(text), len(text.encode("utf-8"))
    assert size == chars + 50
    with pytest.raises(ImportLimitError):
        import_transactions(conn, text, max_bytes=chars)
    assert not table_exists(conn)
    assert import_transactions(conn, text, max_bytes=size) == ImportReport(1, 0)


@pytest.mark.req("A5")
def test_size_limit_is_checked_before_parsing(conn):
    text = "not a header\n" + "garbage\n" * 100
    with pytest.raises(ImportLimitError):
        import_transactions(conn, text, max_bytes=50)


@pytest.mark.req("A5")
def test_bom_counts_toward_the_size_limit(conn):
    text = make_csv(GOOD[:1])
    with pytest.raises(ImportLimitError):
        import_transactions(conn, "\ufeff" + text, max_bytes=len(text.encode()))


@pytest.mark.req("A5")
def test_row_limit_boundary(conn):
    rows = [[f"r{i}", "2024-01-01", "", "1.00", "USD"] for i in range(5)]
    with pytest.raises(ImportLimitError) as info:
        import_transactions(conn, make_csv(rows), max_rows=4)
    assert str(info.value) == "CSV has 5 data rows, limit is 4"
    assert info.value.errors == ()
    assert not table_exists(conn)
    assert import_transactions(conn, make_csv(rows), max_rows=5) == ImportReport(5, 0)


@pytest.mark.req("A5")
def test_blank_lines_do_not_count_toward_the_row_limit(conn):
    text = HEADER_LINE + "\n\na,2024-01-01,,1.00,USD\n\n\nb,2024-01-01,,1.00,USD\n\n"
    assert import_transactions(conn, text, max_rows=2) == ImportReport(2, 0)


@pytest.mark.req("A5")
def test_row_limit_wins_over_row_errors(conn):
    rows = [[f"r{i}", "bad-date", "", "1.00", "USD"] for i in range(3)]
    with pytest.raises(ImportLimitError):
        import_transactions(conn, make_csv(rows), max_rows=2)


@pytest.mark.req("A5")
def test_duplicates_count_toward_the_row_limit(conn):
    rows = [["same", "2024-01-01", "", "1.00", "USD"]] * 3
    with pytest.raises(ImportLimitError):
        import_transactions(conn, make_csv(rows), max_rows=2)


@pytest.mark.req("A5")
@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"max_bytes": -1}, {"max_rows": 0}, {"max_rows": True}, {"max_bytes": 10.0}])
def test_limits_must_be_positive_ints(conn, kwargs):
    with pytest.raises(ValueError):
        import_transactions(conn, make_csv(GOOD[:1]), **kwargs)
    assert not table_exists(conn)


@pytest.mark.req("A5")
def test_limits_are_keyword_only(conn):
    with pytest.raises(TypeError):
        import_transactions(conn, make_csv(GOOD[:1]), 1000)  # type: ignore[misc]


# --------------------------------------------------------------------------
# arguments and transactions
# --------------------------------------------------------------------------


@pytest.mark.req("A1")
def test_argument_types(conn):
    with pytest.raises(TypeError):
        import_transactions(conn, make_csv(GOOD).encode())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        import_transactions("ledger.db", make_csv(GOOD))  # type: ignore[arg-type]
    assert not table_exists(conn)


@pytest.mark.req("A9")
def test_refuses_to_run_inside_the_callers_transaction(conn):
    conn.execute(SCHEMA)
    conn.commit()
    conn.execute("INSERT INTO transactions VALUES ('pending', '2020-01-01', '', 1, 'USD')")
    assert conn.in_transaction
    with pytest.raises(RuntimeError):
        import_transactions(conn, make_csv(GOOD))
    # the caller's transaction is untouched: still open, still holding its row
    assert conn.in_transaction
    assert [r[0] for r in all_rows(conn)] == ["pending"]
    conn.rollback()
    assert all_rows(conn) == []


def _add_failing_trigger(conn):
    conn.execute(SCHEMA)
    conn.execute(
        "CREATE TRIGGER no_boom BEFORE INSERT ON transactions "
        "WHEN NEW.id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom rejected'); END"
    )
    conn.execute("INSERT INTO transactions VALUES ('old', '2020-01-01', '', 1, 'USD')")
    conn.commit()


@pytest.mark.req("A7")
@pytest.mark.parametrize("isolation_level", ["", "DEFERRED", None])
def test_database_error_mid_import_rolls_back_everything(db_path, isolation_level):
    conn = sqlite3.connect(db_path, isolation_level=isolation_level)
    other = sqlite3.connect(db_path)
    try:
        _add_failing_trigger(conn)
        rows = [
            ["a", "2024-01-01", "", "1.00", "USD"],
            ["b", "2024-01-02", "", "2.00", "USD"],
            ["boom", "2024-01-03", "", "3.00", "USD"],
            ["c", "2024-01-04", "", "4.00", "USD"],
        ]
        with pytest.raises(sqlite3.DatabaseError, match="boom rejected"):
            import_transactions(conn, make_csv(rows))
        assert not conn.in_transaction
        assert [r[0] for r in all_rows(conn)] == ["old"]
        assert [r[0] for r in all_rows(other)] == ["old"]
        # the connection is still usable and a good file imports afterwards
        assert import_transactions(conn, make_csv(rows[:2])) == ImportReport(2, 0)
        assert [r[0] for r in all_rows(other)] == ["a", "b", "old"]
    finally:
        conn.close()
        other.close()


@pytest.mark.req("A7")
def test_database_error_from_schema_leaves_no_open_transaction(db_path):
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("CREATE VIEW transactions AS SELECT 1 AS id")  # name taken by a view
        conn.commit()
        with pytest.raises(sqlite3.DatabaseError):
            import_transactions(conn, make_csv(GOOD[:1]))
        assert not conn.in_transaction
    finally:
        conn.close()


@pytest.mark.req("A8")
@pytest.mark.parametrize("isolation_level", ["", None])
def test_commits_in_both_isolation_modes(db_path, isolation_level):
    conn = sqlite3.connect(db_path, isolation_level=isolation_level)
    other = sqlite3.connect(db_path)
    try:
        assert import_transactions(conn, make_csv(GOOD)) == ImportReport(4, 0)
        assert not conn.in_transaction
        assert len(all_rows(other)) == 4
        assert conn.isolation_level == isolation_level
    finally:
        conn.close()
        other.close()


@pytest.mark.req("A8")
def test_does_not_close_the_connection(conn):
    import_transactions(conn, make_csv(GOOD[:1]))
    assert conn.execute("SELECT 1").fetchone() == (1,)


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------

CURRENCY_DIGITS = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}


@st.composite
def valid_rows(draw):
    rid = draw(st.sampled_from(["a", "b", "c", "d", "e", "f", "x1", "id with space"]))
    year = draw(st.integers(min_value=1, max_value=9999))
    month = draw(st.integers(min_value=1, max_value=12))
    day = draw(st.integers(min_value=1, max_value=28))
    currency = draw(st.sampled_from(sorted(CURRENCY_DIGITS)))
    units = draw(st.integers(min_value=-(10**12), max_value=10**12))
    amount = str(Money.from_minor_units(units, currency)).split(" ")[0]
    description = draw(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
            max_size=20,
        )
    )
    return [rid, f"{year:04d}-{month:02d}-{day:02d}", description, amount, currency]


@pytest.mark.req("A2")
@settings(max_examples=40, deadline=None)
@given(st.lists(valid_rows(), max_size=15))
def test_valid_files_import_first_occurrence_of_each_id(rows):
    conn = sqlite3.connect(":memory:")
    try:
        report = import_transactions(conn, make_csv(rows))
        first = {}
        for row in rows:
            first.setdefault(row[0], row)
        assert report == ImportReport(inserted=len(first), skipped_duplicates=len(rows) - len(first))
        expected = sorted(
            (rid, d, desc, Money.parse(amt, cur).to_minor_units(), cur)
            for rid, (_, d, desc, amt, cur) in first.items()
        )
        assert all_rows(conn) == expected
        again = import_transactions(conn, make_csv(rows))
        assert again == ImportReport(0, len(rows))
    finally:
        conn.close()


@pytest.mark.req("A3")
@settings(max_examples=40, deadline=None)
@given(
    st.lists(valid_rows(), min_size=1, max_size=12),
    st.data(),
)
def test_any_bad_row_rejects_everything(rows, data):
    bad_positions = data.draw(
        st.sets(st.integers(min_value=0, max_value=len(rows) - 1), min_size=1)
    )
    corruption = data.draw(
        st.sampled_from(
            [
                (3, "1.0001"),  # too many decimals for every currency used
                (1, "2024-02-30"),
                (4, "XYZ"),
                (3, "1e5"),
            ]
        )
    )
    rows = [list(r) for r in rows]
    for pos in bad_positions:
        rows[pos][corruption[0]] = corruption[1]
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(SCHEMA)
        conn.execute("INSERT INTO transactions VALUES ('zz', '2020-01-01', '', 1, 'USD')")
        conn.commit()
        with pytest.raises(CsvImportError) as info:
            import_transactions(conn, make_csv(rows))
        assert {e.row for e in info.value.errors} == {p + 1 for p in bad_positions}
        assert str(info.value).startswith(f"{len(bad_positions)} invalid row(s); nothing imported")
        for pos in bad_positions:
            assert f"\nrow {pos + 1}: " in str(info.value)
        assert all_rows(conn) == [("zz", "2020-01-01", "", 1, "USD")]
    finally:
        conn.close()


@pytest.mark.req("A1")
def test_decimal_never_float_in_storage(conn):
    import_transactions(conn, make_csv([["p", "2024-01-01", "", "0.29", "USD"]]))
    (value,) = conn.execute("SELECT amount_minor FROM transactions").fetchone()
    assert value == 29  # int(0.29 * 100) would be 28
    assert Money.from_minor_units(value, "USD").amount == Decimal("0.29")
