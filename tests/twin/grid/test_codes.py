"""Cell codes: parsing, validation, building and GB/T 2260 district sanity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.errors import GridError
from twin.grid.codes import (
    CellCode,
    check_district,
    code_problem,
    district_problem,
    is_cell_code,
    make_code,
    normalize_code,
    parse_code,
)


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("410204001002003", None),  # Gulou District, street 1, community 2, cell 3
        ("110101001001001", None),  # Beijing Dongcheng: municipality district
        ("441900001001001", None),  # Dongguan: a city with no counties, county part 00
        (None, "missing"),  # nothing at all
        ("", "missing"),  # blank cell in a file
        ("41020400100200", "not 15 digits"),  # 14 digits
        ("4102040010020031", "not 15 digits"),  # 16 digits
        ("41020400100200a", "not 15 digits"),  # a letter
        ("４１０２０４００１００２００３", "not 15 digits"),  # full-width digits are not ASCII
        (410204001002003, "not 15 digits"),  # an int must be normalized first
        ("990204001002003", "province part 99"),  # no such province
        ("410004001002003", "city part is 00"),  # province-level code
        ("410200001002003", "county part is 00"),  # Kaifeng city itself, not a district
        ("410204000002003", "street part is 000"),  # no street
        ("410204001000003", "community part is 000"),  # no community
        ("410204001002000", "sequence part is 000"),  # no sequence
    ],
)
def test_code_problem(code, fragment):
    problem = code_problem(code)
    if fragment is None:
        assert problem is None
        assert is_cell_code(code)
    else:
        assert fragment in problem
        assert not is_cell_code(code)
        with pytest.raises(GridError, match=fragment):
            parse_code(code)


def test_parse_code_parts():
    parsed = parse_code("410204001002003")
    assert parsed == CellCode("410204", "001", "002", "003")
    assert parsed.street_code == "410204001"
    assert parsed.community_code == "410204001002"
    assert str(parsed) == "410204001002003"


@pytest.mark.parametrize(
    "district, ok",
    [
        ("410202", True),  # Longting District
        ("410203", True),  # Shunhe Hui District
        ("419001", True),  # Jiyuan: county-level city under the province, city part 90
        ("620200", True),  # Jiayuguan: no counties
        ("410000", False),  # Henan province
        ("000000", False),  # all zeros
        ("41020", False),  # five digits
        ("72xxxx", False),  # not digits
    ],
)
def test_district_problem(district, ok):
    assert (district_problem(district) is None) is ok
    if ok:
        assert check_district(district) == district
    else:
        with pytest.raises(GridError):
            check_district(district)


def test_make_code_rejects_numbers_outside_a_part():
    assert make_code("410204", 12, 3, 999) == "410204012003999"
    with pytest.raises(GridError, match="sequence number 1000"):
        make_code("410204", 1, 1, 1000)
    with pytest.raises(GridError, match="community number 0"):
        make_code("410204", 1, 0, 1)
    with pytest.raises(GridError, match="province"):
        make_code("990204", 1, 1, 1)


@given(
    district=st.sampled_from(["410202", "410203", "410204", "410205", "110101", "441900"]),
    street=st.integers(1, 999),
    community=st.integers(1, 999),
    sequence=st.integers(1, 999),
)
def test_make_and_parse_round_trip(district, street, community, sequence):
    built = make_code(district, street, community, sequence)
    parsed = parse_code(built)
    assert len(built) == 15
    assert (parsed.district, int(parsed.street), int(parsed.community), int(parsed.sequence)) == (
        district, street, community, sequence)


@pytest.mark.parametrize(
    "value, expected",
    [
        (410204001002003, "410204001002003"),  # integer column (Shapefile, GeoPackage)
        (410204001002003.0, "410204001002003"),  # float column
        (" 410204001002003 ", "410204001002003"),  # padded text
        ("", None),  # blank
        (float("nan"), None),  # null in a numeric column
        (None, None),  # null
        (1.5, "1.5"),  # a non-integral float stays visible in the error message
    ],
)
def test_normalize_code(value, expected):
    assert normalize_code(value) == expected


def test_normalize_code_numpy_scalars():
    import numpy as np

    assert normalize_code(np.int64(410204001002003)) == "410204001002003"
    assert normalize_code(np.float64("nan")) is None


# the Examples in docstrings hold
@pytest.mark.parametrize("module", ["twin.grid.codes", "twin.grid.cells", "twin.grid.generate", "twin.grid.streets",
                                    "twin.grid.grouping"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
