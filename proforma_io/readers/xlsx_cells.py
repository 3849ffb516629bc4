"""What one spreadsheet cell holds: its kind, its text, and its value as a date, time or number.

Cells arrive as python-calamine gives them: text, float, bool, date, datetime, time or timedelta,
and an empty cell as "". Text that reads as an ISO date, date-time or clock time counts as one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from proforma_io.errors import truncate

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DAY = dt.timedelta(days=1)
# Exact types whose kind needs no look at the value; subclasses take the slower path.
_KIND_BY_TYPE = {
    float: "number",
    int: "number",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "time",
}


def present(value: Any) -> bool:
    """Whether a cell holds a value; empty and blank text count as no value."""
    if isinstance(value, str):
        return value != "" and not value.isspace()
    return value is not None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def column_kind(cells: Sequence[Any]) -> str:
    """What every non-empty cell of a column holds: date, datetime, time, number or text."""
    kinds = set()
    for value in cells:
        if not present(value):
            continue
        kind = cell_kind(value)
        if kind == "text":
            return "text"
        kinds.add(kind)
    if not kinds:
        return "text"
    if kinds <= {"date"}:
        return "date"
    if kinds <= {"date", "datetime"}:
        return "datetime"
    return kinds.pop() if len(kinds) == 1 else "text"


def cell_kind(value: Any) -> str:
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, dt.datetime):
        return "datetime" if value.time() != dt.time() else "date"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time | dt.timedelta):
        return "time"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.fullmatch(text):
            return "date"
        if _ISO_DATETIME.fullmatch(text):
            return "datetime"
        if _CLOCK_TIME.fullmatch(text):
            return "time"
    return "text"


def as_date(value: Any) -> dt.date | str:
    """A date from a date cell or ISO date text; other text is kept as it is."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = cell_text(value).strip()
    try:
        return dt.date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else text
    except ValueError:
        return text


def as_datetime(value: Any) -> dt.datetime | None:
    """A date-time from a date cell or ISO text; None for anything else."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = value.strip() if isinstance(value, str) else ""
    if not (_ISO_DATETIME.fullmatch(text) or _ISO_DATE.fullmatch(text)):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def as_time(value: Any) -> dt.time | str:
    """A time from a time cell or `HH:MM` text; other text is kept as it is."""
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    if isinstance(value, dt.timedelta):
        return (dt.datetime.min + value).time() if dt.timedelta() <= value < _DAY else str(value)
    text = cell_text(value).strip()
    if not _CLOCK_TIME.fullmatch(text):
        return text
    try:
        hour, minute, *second = (int(part) for part in text.split(":"))
        return dt.time(hour, minute, second[0] if second else 0)
    except ValueError:
        return text


def from_excel_serial(value: float) -> dt.datetime:
    """The date-time of an Excel serial number (days since 1899-12-30, the 1900 system)."""
    # Serials are floats: rounding to the millisecond undoes their binary representation error.
    return _EXCEL_EPOCH + dt.timedelta(milliseconds=round(value * 86_400_000))


def field_value(value: Any) -> Any:
    """A Jira field cell as the JSON export gives it: dates as ISO text, whole numbers as int."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cell_text(value: Any) -> str:
    """A cell's value as text: whole numbers without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.timedelta):
        value = as_time(value)
        if isinstance(value, str):
            return value
    if isinstance(value, dt.time):
        return value.strftime("%H:%M") if not value.second else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def optional_text(value: Any) -> str | None:
    return cell_text(value) if present(value) else None


def describe(value: Any) -> str:
    return "an empty cell" if not present(value) else repr(truncate(cell_text(value), 80))


def column_letter(index: int) -> str:
    """The spreadsheet letters of 1-based column `index`: 1 is A, 27 is AA."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
