"""Grid cell codes: 15 digits = district (6, GB/T 2260) + street (3) + community (3) + sequence (3).

Every level below the district is numbered from 001 (west to east, north to
south when generated), so a part of 000 is never a valid code: it would name a
cell with no parent street or community.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.errors import GridError

__all__ = ["CellCode", "district_problem", "check_district", "code_problem", "is_cell_code", "parse_code", "make_code",
           "normalize_code", "CODE_LENGTH", "PART_MAX"]

CODE_LENGTH = 15
DISTRICT_LENGTH = 6
STREET_LENGTH = 9  # district + street
COMMUNITY_LENGTH = 12  # district + street + community
PART_MAX = 999

# GB/T 2260 province-level prefixes (mainland, Taiwan, Hong Kong, Macao).
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)
# Prefecture-level cities that have no county-level divisions: their own
# 6-digit code (county part 00) is the district a grid hangs from.
CITIES_WITHOUT_COUNTIES = frozenset({"441900", "442000", "460400", "620200"})


@dataclass(frozen=True, slots=True)
class CellCode:
    """A parsed cell code; `str(code)` gives the 15 digits back."""

    district: str  # 6 digits
    street: str  # 3 digits
    community: str  # 3 digits
    sequence: str  # 3 digits

    def __str__(self) -> str:
        return self.district + self.street + self.community + self.sequence

    @property
    def street_code(self) -> str:
        """The 9-digit code of the street (district + street)."""
        return self.district + self.street

    @property
    def community_code(self) -> str:
        """The 12-digit code of the community (district + street + community)."""
        return self.district + self.street + self.community


def district_problem(district: str) -> str | None:
    """Why `district` is not a usable GB/T 2260 county-level code, or None when it is.

    Examples
    --------
    >>> district_problem("410204") is None
    True
    >>> district_problem("990204")
    'district 990204: province part 99 is not a GB/T 2260 province'
    >>> district_problem("410000")
    'district 410000: city part is 00 (that is a province, not a district)'
    >>> district_problem("441900") is None  # Dongguan has no counties
    True
    """
    if not isinstance(district, str) or len(district) != DISTRICT_LENGTH or not district.isdigit() or not district.isascii():
        return f"district {district!r} is not 6 digits"
    province, city, county = int(district[:2]), district[2:4], district[4:]
    if province not in PROVINCES:
        return f"district {district}: province part {district[:2]} is not a GB/T 2260 province"
    if city == "00":
        return f"district {district}: city part is 00 (that is a province, not a district)"
    if county == "00" and district not in CITIES_WITHOUT_COUNTIES:
        return f"district {district}: county part is 00 (that is a city, not a district)"
    return None


def check_district(district: str) -> str:
    """Return `district` if it is a county-level GB/T 2260 code, else raise GridError."""
    problem = district_problem(district)
    if problem:
        raise GridError(problem)
    return district


def code_problem(code: object) -> str | None:
    """Why `code` is not a valid cell code, or None when it is.

    Examples
    --------
    >>> code_problem("410204001002003") is None
    True
    >>> code_problem("4102040010020")
    "code '4102040010020' is not 15 digits"
    >>> code_problem("410204000002003")
    'code 410204000002003: street part is 000 (levels are numbered from 001)'
    >>> code_problem(None)
    'code is missing'
    """
    if code is None or code == "":
        return "code is missing"
    if not isinstance(code, str) or len(code) != CODE_LENGTH or not code.isdigit() or not code.isascii():
        return f"code {code!r} is not {CODE_LENGTH} digits"
    problem = district_problem(code[:DISTRICT_LENGTH])
    if problem:
        return f"code {code}: {problem}"
    for label, part in (("street", code[6:9]), ("community", code[9:12]), ("sequence", code[12:])):
        if part == "000":
            return f"code {code}: {label} part is 000 (levels are numbered from 001)"
    return None


def is_cell_code(code: object) -> bool:
    """True when `code` is a valid 15-digit cell code."""
    return code_problem(code) is None


def parse_code(code: str) -> CellCode:
    """Split a valid cell code into its parts; raise GridError naming the problem otherwise.

    >>> parse_code("410204001002003").community_code
    '410204001002'
    """
    problem = code_problem(code)
    if problem:
        raise GridError(problem)
    return CellCode(code[:6], code[6:9], code[9:12], code[12:])


def make_code(district: str, street: int, community: int, sequence: int) -> str:
    """Build a cell code from a district code and 1-based street, community and sequence numbers.

    >>> make_code("410204", 1, 2, 7)
    '410204001002007'
    >>> make_code("410204", 0, 1, 1)
    Traceback (most recent call last):
    ...
    twin.errors.GridError: street number 0 is outside 1-999
    """
    check_district(district)
    for label, number in (("street", street), ("community", community), ("sequence", sequence)):
        if not 1 <= int(number) <= PART_MAX:
            raise GridError(f"{label} number {number} is outside 1-{PART_MAX}")
    return f"{district}{int(street):03d}{int(community):03d}{int(sequence):03d}"


def normalize_code(value: object) -> str | None:
    """A code as read from a file, as text: integers (Shapefile/GeoPackage numeric
    fields drop nothing, district codes never start with 0) and integral floats become
    digits; blanks and NaN become None; anything else is returned as its text.

    >>> normalize_code(410204001002003)
    '410204001002003'
    >>> normalize_code(4.10204001002003e14)
    '410204001002003'
    >>> normalize_code(float("nan")) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalar
        return normalize_code(value.item())
    text = str(value).strip()
    return text or None
