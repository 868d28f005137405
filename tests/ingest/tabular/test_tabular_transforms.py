"""Cell transforms: the date, time, number, unit and ID formats Chinese HIS/LIS exports really use."""

from __future__ import annotations

import datetime as dt

import pytest

from healthbrain.ingest.tabular.transforms import (
    CellError,
    parse_boolean,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_id_card,
    parse_range,
    parse_result,
    parse_unit,
)
from healthbrain.simulation import make_id_card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025年3月1日", "2025-03-01"), ("2025/3/1", "2025-03-01"), ("2025-03-01", "2025-03-01"),
        ("2025.3.1", "2025-03-01"), ("20250301", "2025-03-01"), (" 2025 年 3 月 1 日 ", "2025-03-01"),
        ("２０２５／３／１", "2025-03-01"), ("2025年3月", "2025-03"), ("2025-03", "2025-03"), ("2025", "2025"),
        (dt.date(2025, 3, 1), "2025-03-01"), (45717, "2025-03-01"),
    ],
)  # fmt: skip
def test_dates(text: object, expected: str) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2025/2/30", "2025年13月1日", "3/1/2025", "昨天", "2025-3-1-2"])
def test_impossible_or_ambiguous_dates_are_refused(text: str) -> None:
    with pytest.raises(CellError):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025/3/1 8:05", "2025-03-01T08:05:00+08:00"),
        ("2025-03-01 08:05:30", "2025-03-01T08:05:30+08:00"),
        ("2025年3月1日 8时5分", "2025-03-01T08:05:00+08:00"),
        ("2025年3月1日下午3:20", "2025-03-01T15:20:00+08:00"),
        ("20250301080530", "2025-03-01T08:05:30+08:00"),
        ("2025-03-01T08:05:00Z", "2025-03-01T08:05:00+00:00"),
        ("2025/3/1", "2025-03-01"),
        (dt.datetime(2025, 3, 1, 8, 5), "2025-03-01T08:05:00+08:00"),
        (45717.25, "2025-03-01T06:00:00+08:00"),
    ],
)
def test_datetimes_take_the_exports_time_zone(text: object, expected: str) -> None:
    assert parse_datetime(text) == expected


def test_impossible_times_are_refused() -> None:
    for text in ("2025/3/1 25:00", "2025/3/1 8:61", "2025/2/29 8:00"):
        with pytest.raises(CellError):
            parse_datetime(text)


def test_numbers_results_and_units() -> None:
    assert parse_decimal("1,234.5") == 1234.5 and parse_decimal("５.６") == 5.6 and parse_decimal("88") == 88
    assert parse_result("<0.5") == ("<", 0.5) and parse_result("≥100") == (">=", 100)
    assert parse_result("＞10") == (">", 10) and parse_result("阴性") is None and parse_result("1+") is None
    assert parse_unit("μmol/L").code == "umol/L" and parse_unit("µmol/l").code == "umol/L"
    assert parse_unit("10^9/L").code == "10*9/L" and parse_unit("×10⁹/L").code == "10*9/L"
    assert parse_unit("次/分").code == "/min" and parse_unit("℃").code == "Cel"
    unknown = parse_unit("滴/分")
    assert unknown.text == "滴/分" and unknown.code is None
    with pytest.raises(CellError):
        parse_decimal("5.6.1")


def test_reference_ranges() -> None:
    unit = parse_unit("mmol/L")
    both = parse_range("3.9-6.1", unit)
    assert both["low"]["value"] == 3.9 and both["high"]["value"] == 6.1 and both["high"]["code"] == "mmol/L"
    assert parse_range("3.9～6.1", unit)["high"]["value"] == 6.1
    assert set(parse_range("<5.2", unit)) == {"text", "high"}
    assert set(parse_range("≥60", None)) == {"text", "low"}
    assert parse_range("阴性", None) == {"text": "阴性"}


def test_id_cards_check_their_check_character() -> None:
    good = make_id_card("330802", dt.date(1958, 4, 12), 33)
    assert parse_id_card(good.lower()) == good
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(CellError) as err:
        parse_id_card(wrong)
    assert wrong not in err.value.message  # messages never repeat the (personal) value
    with pytest.raises(CellError):
        parse_id_card("33080219580412")


def test_booleans() -> None:
    assert parse_boolean("是") is True and parse_boolean("N") is False and parse_boolean(1) is True
    with pytest.raises(CellError):
        parse_boolean("也许")
