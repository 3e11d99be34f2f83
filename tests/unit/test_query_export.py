"""The run export's CSV header, metric labels and the SQL of its rows (the rows themselves are
written by PostgreSQL; tests/e2e/test_query_runs.py reads them back through csv.reader)."""

from __future__ import annotations

import csv
import io

from services.query.export import RECORD_COLUMNS, csv_header, csv_query, metric_labels
from shared.spreadsheet import csv_bytes


def test_header_has_three_columns_per_metric_and_escapes_names() -> None:
    assert csv_header(["exact", "=sum"]) == [
        *RECORD_COLUMNS,
        "exact",
        "exact passed",
        "exact reasoning",
        "'=sum",
        "'=sum passed",
        "'=sum reasoning",
    ]


def test_header_round_trips_through_the_csv_reader() -> None:
    labels = ['exact, "quoted"', "+plus", "line\nbreak"]
    data = csv_bytes([csv_header(labels)], "\n")
    assert data.endswith(b"\n") and not data.endswith(b"\r\n")
    assert list(csv.reader(io.StringIO(data.decode(), newline=""))) == [csv_header(labels)]


def test_labels_tell_metrics_with_one_name_apart() -> None:
    ids = ["aaaaaaaa-1", "bbbbbbbb-2", "cccccccc-3"]
    assert metric_labels(["a", "b", "a"], ids) == ["a [aaaaaaaa]", "b", "a [cccccccc]"]


def test_query_has_a_cell_per_header_column() -> None:
    for metrics in (0, 1, 3):
        select = csv_query(metrics).split(" FROM records r")[0]
        # Each cell is one top-level expression; count them by the commas outside parentheses,
        # brackets and quotes.
        depth, quoted, cells = 0, False, 1
        for char in select:
            if char == "'":
                quoted = not quoted
            elif not quoted and char in "([":
                depth += 1
            elif not quoted and char in ")]":
                depth -= 1
            elif not quoted and depth == 0 and char == ",":
                cells += 1
        assert cells == len(RECORD_COLUMNS) + 3 * metrics
        # Every text cell a person or a system wrote goes through the formula escape.
        assert select.count("= ANY($3::text[])") == 2 + metrics
