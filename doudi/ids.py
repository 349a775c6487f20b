"""Citizen identity numbers (公民身份号码, GB 11643-1999).

An 18-character number: a 6-digit address code (GB/T 2260, county of permanent residence
when the number was issued), the birth date YYYYMMDD, a 3-digit sequence (odd for men,
even for women) and a check character computed with ISO 7064:1983 MOD 11-2.

Two forms of the same rules: :func:`parse_citizen_id` for one value (case work, forms),
and :func:`validate_citizen_ids` for a whole column (imports, feeds) in numpy. A property
test keeps them in agreement.

Examples:
    >>> parse_citizen_id("11010519491231002X").birth_date
    datetime.date(1949, 12, 31)
    >>> parse_citizen_id("440524188001010014").sex
    'male'
    >>> mask_citizen_id("52010219800101123X")
    '5201**********123X'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = "10X98765432"
_CHECK_LOOKUP = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)

# Full-width digits and letters that Chinese spreadsheets often hold.
_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＥｅ＋．", "0123456789XxEe+.")
_SCIENTIFIC = re.compile(r"^[0-9](\.[0-9]+)?[Ee]\+?[0-9]+$")
_DECIMAL_REMNANT = re.compile(r"^[0-9]+\.[0-9]*$")

# Reason codes shared by the scalar and the vectorised checks; messages are for users (Chinese).
OK = 0
EMPTY = 1
SCIENTIFIC = 2
FLOAT_REMNANT = 3
BAD_LENGTH = 4
BAD_CHARACTERS = 5
BAD_PROVINCE = 6
BAD_BIRTH_DATE = 7
BAD_CHECK = 8
FIFTEEN_DIGITS = 9
BAD_ADDRESS = 10

REASONS: dict[int, str] = {
    OK: "",
    EMPTY: "公民身份号码为空",
    SCIENTIFIC: "公民身份号码被Excel显示为科学计数法（如5.20102E+17），后几位已丢失，请将该列设为文本后重新录入",
    FLOAT_REMNANT: "公民身份号码带有小数点，疑似被Excel按数字保存，后几位可能已丢失，请核对原始证件",
    BAD_LENGTH: "公民身份号码应为18位",
    BAD_CHARACTERS: "公民身份号码前17位应为数字，第18位为数字或X",
    BAD_PROVINCE: "公民身份号码前两位不是有效的省级行政区划代码",
    BAD_BIRTH_DATE: "公民身份号码中的出生日期无效",
    BAD_CHECK: "公民身份号码校验位错误，可能有数字录入错误",
    FIFTEEN_DIGITS: "15位旧号码不能直接使用，请提供18位公民身份号码",
    BAD_ADDRESS: "公民身份号码前六位不是有效的县级行政区划代码（不能以0000结尾）",
}

# GB/T 2260 province-level codes (first two digits).
PROVINCE_PREFIXES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)

_EARLIEST_BIRTH = dt.date(1880, 1, 1)


class CitizenIdError(ValueError):
    """An invalid citizen ID; ``code`` is a reason code and ``reason`` its Chinese message."""

    def __init__(self, value: str, code: int) -> None:
        super().__init__(f"invalid citizen id ({_ENGLISH[code]})")
        self.code = code
        self.reason = REASONS[code]
        self.value = value


_ENGLISH = {
    EMPTY: "empty",
    SCIENTIFIC: "mangled by Excel into scientific notation",
    FLOAT_REMNANT: "stored as a decimal number",
    BAD_LENGTH: "not 18 characters",
    BAD_CHARACTERS: "bad characters",
    BAD_PROVINCE: "unknown province prefix",
    BAD_BIRTH_DATE: "invalid birth date",
    BAD_CHECK: "check character mismatch",
    FIFTEEN_DIGITS: "old 15-digit number",
    BAD_ADDRESS: "address code is not a county-level code",
}


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A valid, normalised citizen ID and what it encodes."""

    value: str
    address_code: str
    birth_date: dt.date
    sequence: int

    @property
    def sex(self) -> str:
        """``male`` for an odd sequence, ``female`` for an even one."""
        return "male" if self.sequence % 2 == 1 else "female"

    @property
    def masked(self) -> str:
        return mask_citizen_id(self.value)

    def age_on(self, day: dt.date) -> int:
        """Completed years of age on ``day``."""
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def normalise_citizen_id(raw: object) -> str:
    """What a spreadsheet cell most likely meant: trimmed, half-width, upper-case X.

    Examples:
        >>> normalise_citizen_id(" １１０１０５１９４９１２３１００２ｘ ")
        '11010519491231002X'
    """
    if raw is None:
        return ""
    text = str(raw).translate(_FULLWIDTH)
    text = "".join(text.split())  # all whitespace, including inner spaces and NBSP
    return text.upper()


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for 17 digits.

    Examples:
        >>> check_character("11010519491231002")
        'X'
    """
    total = sum(int(c) * int(w) for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _diagnose(value: str) -> int:
    if not value:
        return EMPTY
    if _SCIENTIFIC.match(value):
        return SCIENTIFIC
    if _DECIMAL_REMNANT.match(value):
        return FLOAT_REMNANT
    if len(value) == 15 and value.isdigit():
        return FIFTEEN_DIGITS
    if len(value) != 18:
        return BAD_LENGTH
    if not (value[:17].isascii() and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")):
        return BAD_CHARACTERS
    if value[:2] not in PROVINCE_PREFIXES:
        return BAD_PROVINCE
    if value[2:6] == "0000":
        return BAD_ADDRESS
    if _birth_date(value[6:14]) is None:
        return BAD_BIRTH_DATE
    if check_character(value[:17]) != value[17]:
        return BAD_CHECK
    return OK


@lru_cache(maxsize=65536)
def _birth_date(yyyymmdd: str) -> dt.date | None:
    try:
        d = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    if d < _EARLIEST_BIRTH or d > dt.date.today():
        return None
    return d


def parse_citizen_id(raw: object) -> CitizenId:
    """Normalise and validate one ID; raise :class:`CitizenIdError` with the reason.

    Examples:
        >>> parse_citizen_id("5.20102E+17")
        Traceback (most recent call last):
        ...
        doudi.ids.CitizenIdError: invalid citizen id (mangled by Excel into scientific notation)
    """
    value = normalise_citizen_id(raw)
    code = _diagnose(value)
    if code != OK:
        raise CitizenIdError(value, code)
    birth = _birth_date(value[6:14])
    assert birth is not None
    return CitizenId(value, value[:6], birth, int(value[14:17]))


def is_valid_citizen_id(raw: object) -> bool:
    return _diagnose(normalise_citizen_id(raw)) == OK


def mask_citizen_id(value: str) -> str:
    """Keep the first 4 and last 4 characters: ``5201**********123X``.

    Examples:
        >>> mask_citizen_id("")
        ''
    """
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(name: str) -> str:
    """Keep the family name (first character): ``张*``, ``欧阳**`` shows as ``欧**``.

    Examples:
        >>> mask_name("张三"), mask_name("李小明")
        ('张*', '李**')
    """
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


# --- vectorised forms -------------------------------------------------------------------


def check_characters(digits17: np.ndarray) -> np.ndarray:
    """Check characters (uint8 ASCII) for an (N, 17) array of digit values 0–9."""
    total = (digits17.astype(np.int64) * WEIGHTS).sum(axis=1)
    return _CHECK_LOOKUP[total % 11]


def make_citizen_ids(address: np.ndarray, birth: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """Build valid IDs from arrays of 6-digit address codes (int), birth dates
    (datetime64[D]) and 3-digit sequences (int); returns a numpy unicode array."""
    n = len(address)
    days = birth.astype("datetime64[D]")
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = years * 10_000 + months * 100 + dom
    digits = np.empty((n, 17), dtype=np.int64)
    for pos, (num, width) in enumerate(
        ((np.asarray(address, dtype=np.int64), 6), (ymd, 8), (np.asarray(sequence, dtype=np.int64), 3))
    ):
        start = (0, 6, 14)[pos]
        for k in range(width):
            digits[:, start + width - 1 - k] = (num // 10**k) % 10
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = digits + 48
    chars[:, 17] = check_characters(digits)
    return chars.view("S18").ravel().astype("U18")


def validate_citizen_ids(values: np.ndarray | list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Normalise and validate a column of IDs at once.

    Returns ``(normalised, reason_codes)``: normalised strings (numpy unicode) and an int8
    array of reason codes (``OK`` = 0). The same rules as :func:`parse_citizen_id`.
    """
    norm, reasons = validate_citizen_id_column(values)
    return np.asarray(norm.to_numpy(zero_copy_only=False), dtype="U32"), reasons


def validate_citizen_id_column(
    values: np.ndarray | list[str] | pa.Array,
) -> tuple[pa.StringArray, np.ndarray]:
    """:func:`validate_citizen_ids` for Arrow: normalised values stay an Arrow array."""
    norm = _normalise_column(values)
    n = len(norm)
    reasons = np.zeros(n, dtype=np.int8)
    if n == 0:
        return norm, reasons
    byte_len = np.asarray(pc.binary_length(norm).to_numpy(zero_copy_only=False))
    char_len = np.asarray(pc.utf8_length(norm).to_numpy(zero_copy_only=False))
    plain18 = (byte_len == 18) & (char_len == 18)  # 18 ASCII characters
    idx = np.flatnonzero(plain18)
    if len(idx):
        mat = _byte_matrix(norm.filter(pa.array(plain18)))
        d = mat[:, :17].astype(np.int64) - 48
        digits_ok = ((d >= 0) & (d <= 9)).all(axis=1)
        last = mat[:, 17]
        last_ok = ((last >= 48) & (last <= 57)) | (last == ord("X"))
        chars_ok = digits_ok & last_ok
        r = np.where(chars_ok, OK, BAD_CHARACTERS).astype(np.int8)
        prefix = d[:, 0] * 10 + d[:, 1]
        prov_ok = np.isin(prefix, _PROVINCE_INTS)
        r[chars_ok & ~prov_ok] = BAD_PROVINCE
        # The address code is a county's (old codes of abolished counties stay valid), never a
        # whole province's.
        address_ok = (d[:, 2:6] != 0).any(axis=1)
        r[chars_ok & prov_ok & ~address_ok] = BAD_ADDRESS
        cand = chars_ok & prov_ok & address_ok
        date_ok = _valid_dates(d)
        r[cand & ~date_ok] = BAD_BIRTH_DATE
        check_ok = _CHECK_LOOKUP[(d[:, :17].clip(0, 9) * WEIGHTS).sum(axis=1) % 11] == last
        r[cand & date_ok & ~check_ok] = BAD_CHECK
        reasons[idx] = r
    # The rest are already wrong (or empty): diagnosed one by one, few in practice.
    rest = np.flatnonzero(~plain18)
    if len(rest):
        for i, value in zip(rest, norm.take(pa.array(rest)).to_pylist(), strict=True):
            reasons[i] = _diagnose(value or "")
    return norm, reasons


_PROVINCE_INTS = np.array(sorted(int(p) for p in PROVINCE_PREFIXES))


def _byte_matrix(arr: pa.Array) -> np.ndarray:
    """An (N, 18) uint8 matrix of an array whose values are all 18 bytes long."""
    arr = pc.cast(arr, pa.binary())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[0] + 18 * len(arr)].reshape(-1, 18)


def _valid_dates(d: np.ndarray) -> np.ndarray:
    """Whether digits 7–14 of each row form a real date between 1880 and today."""
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    ok = np.zeros(len(d), dtype=bool)
    rng = (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (year >= 1880) & (year <= 9999)
    if rng.any():
        y, m, dd = year[rng], month[rng], day[rng]
        month_start = (y - 1970) * 12 + (m - 1)
        first = month_start.astype("datetime64[M]").astype("datetime64[D]")
        next_first = (month_start + 1).astype("datetime64[M]").astype("datetime64[D]")
        days_in_month = (next_first - first).astype(np.int64)
        dates = first + (dd - 1).astype("timedelta64[D]")
        ok[np.flatnonzero(rng)] = (dd <= days_in_month) & (dates <= np.datetime64(dt.date.today(), "D"))
    return ok


def _normalise_column(values: np.ndarray | list[str] | pa.Array | pa.ChunkedArray) -> pa.StringArray:
    # NFKC folds full-width digits and letters to ASCII, as normalise_citizen_id does.
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    elif isinstance(values, np.ndarray) and values.dtype.kind == "U":
        arr = pa.array(values, type=pa.string())
    else:
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    arr = pc.fill_null(arr, "")
    if pc.any(pc.invert(pc.string_is_ascii(arr))).as_py():
        arr = pc.utf8_normalize(arr, "NFKC")
    return pc.utf8_upper(pc.replace_substring_regex(arr, r"\s+", ""))


def _digits(ids: np.ndarray | pa.Array) -> np.ndarray:
    arr = (
        ids
        if isinstance(ids, pa.Array | pa.ChunkedArray)
        else pa.array(np.asarray(ids).astype("U18"), pa.string())
    )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return _byte_matrix(arr).astype(np.int64) - 48


def birth_dates_of(ids: np.ndarray | pa.Array) -> np.ndarray:
    """datetime64[D] birth dates of valid normalised IDs."""
    d = _digits(ids)
    year = d[:, 6] * 1000 + d[:, 7] * 100 + d[:, 8] * 10 + d[:, 9]
    month = d[:, 10] * 10 + d[:, 11]
    day = d[:, 12] * 10 + d[:, 13]
    first = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]").astype("datetime64[D]")
    return first + (day - 1).astype("timedelta64[D]")


def sexes_of(ids: np.ndarray | pa.Array) -> np.ndarray:
    """``male`` / ``female`` of valid normalised IDs (17th character odd = male)."""
    return np.where(_digits(ids)[:, 16] % 2 == 1, "male", "female")
