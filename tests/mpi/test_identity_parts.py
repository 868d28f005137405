"""身份证, names, phones and addresses as a registration clerk writes them, normalised for matching."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from healthbrain.mpi import idcard
from healthbrain.mpi.contact import local_number, normalise_phone, parse_address
from healthbrain.mpi.names import name_keys
from healthbrain.simulation import make_id_card


def test_check_character_agrees_with_the_simulators_generator() -> None:
    numbers = [
        make_id_card("330802", date(1960, 1, 1).replace(day=1 + k % 28), 2 * k + 1) for k in range(300)
    ]
    assert all(idcard.is_valid(n) for n in numbers)
    flags = idcard.checksums_valid(np.asarray([*numbers, "", "33080219600101001"], dtype="U18"))
    assert flags[:300].all() and not flags[300:].any()


def test_every_single_digit_error_breaks_the_check_character() -> None:
    number = make_id_card("330802", date(1985, 7, 14), 123)
    for pos in range(17):
        for digit in "0123456789":
            if digit != number[pos]:
                assert not idcard.is_valid(number[:pos] + digit + number[pos + 1 :])


def test_legacy_15_digit_id_becomes_the_18_digit_id_of_the_same_person() -> None:
    full = make_id_card("330802", date(1962, 3, 9), 457)
    legacy = full[:6] + full[8:17]
    assert idcard.normalise_id(legacy) == (full, "legacy")
    assert idcard.birth_date_of(full) == date(1962, 3, 9) and idcard.sex_of(full) == "male"


@pytest.mark.parametrize("raw", ["000000000000000000", "111111111111111111", "123456789012345678", "0"])
def test_placeholder_ids_are_not_identities(raw: str) -> None:
    number, flag = idcard.normalise_id(raw)
    assert number == "" and flag in ("placeholder", "invalid_shape")


def test_full_width_and_spaced_ids_are_cleaned() -> None:
    full = make_id_card("330802", date(1990, 12, 1), 22)
    spaced = " ".join((full[:6], full[6:14], full[14:])).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    assert idcard.normalise_id(spaced)[0] == full


def test_homophones_share_pinyin_but_not_characters() -> None:
    a, b = name_keys("张伟"), name_keys("张玮")
    assert a.full != b.full and a.pinyin == b.pinyin == "zhangwei"


def test_traditional_characters_fold_to_simplified() -> None:
    assert name_keys("張偉").full == name_keys("张伟").full
    assert name_keys("歐陽修").family == "欧阳"


def test_compound_surnames_are_split_whole_and_surname_readings_are_used() -> None:
    assert (name_keys("欧阳明").family, name_keys("欧阳明").given) == ("欧阳", "明")
    assert name_keys("单田芳").pinyin.startswith("shan") and name_keys("曾国藩").pinyin.startswith("zeng")


def test_a_name_typed_in_pinyin_matches_the_han_name_in_any_order() -> None:
    han = name_keys("张伟")
    assert name_keys("ZHANG Wei").pinyin_bag == han.pinyin_bag == name_keys("Wei Zhang").pinyin_bag


def test_look_alike_characters_share_a_shape_key() -> None:
    assert name_keys("侯明").shape == name_keys("候明").shape
    assert name_keys("侯明").pinyin == name_keys("候明").pinyin  # both read hou, by design too


def test_dialect_confusions_share_the_fuzzy_key() -> None:
    assert name_keys("陈晨").fuzzy == name_keys("岑辰").fuzzy  # chen/cen, in/ing


def test_phone_forms_of_one_number_agree() -> None:
    assert normalise_phone("+86 138-1234-5678") == normalise_phone("0086 13812345678") == "13812345678"
    assert local_number(normalise_phone("0570-3012345")) == local_number(normalise_phone("3012345"))
    assert normalise_phone("00000000") == "" and normalise_phone("123") == ""


def test_short_and_full_address_forms_agree_level_by_level() -> None:
    full = parse_address("浙江省衢州市柯城区府山街道云峰社区荷花路321号22幢1单元1304室")
    short = parse_address("浙江衢州柯城区府山街道云峰社区荷花路321号22幢1单元1304室")
    structured = parse_address("府山街道云峰社区荷花路321号22幢1单元1304室", "浙江省", "衢州市", "柯城区")
    assert full == short == structured
    assert (full.district, full.township, full.community) == ("柯城", "府山", "云峰")


def test_towns_whose_name_ends_in_a_suffix_keep_it() -> None:
    parts = parse_address("浙江省衢州市龙游县湖镇镇下徐村32号")
    assert (parts.district, parts.township, parts.community, parts.detail) == ("龙游", "湖镇", "下徐", "32号")
    assert parse_address("北京市朝阳区建国门外街道永安里社区1号").city == "北京"
