"""Governance figures from the store's counts: rates, means, the total row, names and CSV."""

from __future__ import annotations

import csv
import io

import pytest
from shapely.geometry import box

from twin.cases.figures import CSV_COLUMNS, KpiCounts, figures, to_csv
from twin.grid.cells import Cell, Grid

NORTH = KpiCounts("410204001", cases=4, open=1, cancelled=1, resolved=2, resolved_on_time=1, overdue=1,
                  warnings_decided=3, warnings_false=1, evaluated=2, satisfaction_sum=9, dispatched=2,
                  dispatch_seconds=300, closed=2, close_seconds=7200, escalations=1)
EMPTY = KpiCounts("410204002", cases=1, open=1)
GRID = Grid([Cell("410204001001001", "Grid 001", box(0, 0, 1, 1), "Gulou District", "Xiangguo Street"),
             Cell("410204002001001", "Grid 002", box(1, 0, 2, 1), "Gulou District", "Caomen Street")])


def test_rates_and_means():
    result = figures([NORTH, EMPTY], "street", GRID)
    north, empty = result["rows"]
    assert north["name"] == "Xiangguo Street" and empty["name"] == "Caomen Street"
    assert north["resolution_rate"] == round(2 / 3, 4)  # resolved / (cases - cancelled)
    assert north["on_time_rate"] == 0.5
    assert north["mean_satisfaction"] == 4.5
    assert north["warning_accuracy"] == round(2 / 3, 4)  # (decided - false alarms) / decided
    assert north["mean_time_to_dispatch_s"] == 150 and north["mean_time_to_close_s"] == 3600
    assert (north["escalations"], north["overdue"], north["open"]) == (1, 1, 1)


def test_no_denominator_no_figure():
    row = figures([EMPTY], "street")["rows"][0]
    assert row["resolution_rate"] == 0.0  # one real case, none resolved
    for key in ("on_time_rate", "mean_satisfaction", "warning_accuracy", "mean_time_to_dispatch_s",
                "mean_time_to_close_s"):
        assert row[key] is None, key


def test_the_total_adds_counts_before_dividing():
    total = figures([NORTH, EMPTY], "street")["total"]
    assert total["cases"] == 5 and total["open"] == 2
    assert total["resolution_rate"] == 0.5  # 2 / (5 - 1): not the mean of the rows' rates
    assert total["name"] == "total" and total["code"] == ""


def test_names_per_level():
    assert figures([KpiCounts("410204001001001", cases=1)], "grid", GRID)["rows"][0]["name"] == "Grid 001"
    assert figures([KpiCounts("410204", cases=1)], "district", GRID)["rows"][0]["name"] == "Gulou District"
    assert figures([KpiCounts("999999", cases=1)], "district", GRID)["rows"][0]["name"] == ""
    with pytest.raises(ValueError):
        figures([], "city")


def test_csv_has_a_header_every_row_and_the_total():
    text = to_csv(figures([NORTH, EMPTY], "street", GRID))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["code"] for r in rows] == ["410204001", "410204002", ""]
    assert rows[0]["on_time_rate"] == "0.5" and rows[1]["on_time_rate"] == ""  # no figure: an empty cell
    assert rows[2]["name"] == "total" and rows[2]["cases"] == "5"
