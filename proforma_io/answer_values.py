"""One answer as the value columns of its answer rows, and those values as text.

The conventions (a row per choice or user, the Other choice, unreadable values kept as text) are
those of docs/architecture.md, "Canonical tables".
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

from proforma_io import schema
from proforma_io.adf import adf_to_text
from proforma_io.forms import (
    CHOICE_TYPES,
    DATE_TYPES,
    DATETIME_TYPES,
    NUMBER_TYPES,
    OTHER_CHOICE_ID,
    TEXT_TYPES,
    TIME_TYPES,
    USER_TYPES,
    Answer,
    Question,
)

JOINER = "; "
OTHER_LABEL = "Other"

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

# value_index, value_text, value_number, value_date, value_time, value_datetime,
# choice_id, choice_label, user_id, user_name
Value = tuple[
    int,
    str | None,
    float | None,
    dt.date | None,
    dt.time | None,
    dt.datetime | None,
    str | None,
    str | None,
    str | None,
    str | None,
]
VALUE_COLUMNS = schema.ANSWERS_SCHEMA.names[9:19]
NO_VALUE: Value = (0, None, None, None, None, None, None, None, None, None)


def value_kind(question_type: str) -> str:
    """The value kind a question type stores: choice, user, number, date, time, datetime, text."""
    if question_type in CHOICE_TYPES:
        return "choice"
    if question_type in USER_TYPES:
        return "user"
    if question_type in NUMBER_TYPES:
        return "number"
    if question_type in DATE_TYPES:
        return "date"
    if question_type in TIME_TYPES:
        return "time"
    if question_type in DATETIME_TYPES:
        return "datetime"
    return "text"


def answer_values(question: Question, answer: Answer) -> list[Value]:
    """The answer rows' value columns: one per choice or user, else one."""
    kind = value_kind(question.type)
    if kind == "choice" and answer.choices is not None:
        return _choice_values(question, answer) or [NO_VALUE]
    if kind == "user" and answer.users is not None:
        users: list[Value] = [
            (index, None, None, None, None, None, None, None, user.id, user.name)
            for index, user in enumerate(answer.users)
        ]
        return users or [NO_VALUE]
    if kind == "number":
        return [_value(text=answer.text, number=_number(answer))]
    if kind == "date":
        day = _as_date(answer.date)
        return [_value(date=day, text=_unparsed(answer.date, day, answer.text))]
    if kind == "time":
        clock = _as_time(answer.time)
        return [_value(time=clock, text=_unparsed(answer.time, clock, answer.text))]
    if kind == "datetime":
        return [_datetime_value(answer)]
    return [_value(text=_text(question, answer))]


def value_text(value: Value) -> str | None:
    """What one answer row says, as text: the Other text, a label, a user, or the value."""
    _, text, number, date, time, moment, choice_id, label, user_id, user_name = value
    if choice_id is not None:
        return text if label == OTHER_LABEL and text is not None else (label or choice_id)
    if user_id is not None or user_name is not None:
        return user_name or user_id
    if text is not None:
        return text
    return optional_text(next((v for v in (number, date, time, moment) if v is not None), None))


def parse_number(text: str | None) -> float | None:
    """A finite number written as text, else None."""
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def optional_text(value: Any) -> str | None:
    """A value as text: ISO dates and times, whole numbers without a decimal point."""
    if value is None:
        return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _choice_values(question: Question, answer: Answer) -> list[Value]:
    choices = {choice.id: choice for choice in question.choices}
    values: list[Value] = []
    for index, choice_id in enumerate(answer.choices or ()):
        choice = choices.get(choice_id)
        other = choice.other if choice is not None else choice_id == OTHER_CHOICE_ID
        label = OTHER_LABEL if other else (choice.label if choice is not None else None)
        text = answer.text if other else None
        values.append((index, text, None, None, None, None, choice_id, label, None, None))
    return values


def _datetime_value(answer: Answer) -> Value:
    """A date-time without zone; a date alone means midnight (unreadable time text is kept)."""
    day, clock = _as_date(answer.date), _as_time(answer.time)
    if day is None:
        text = answer.text if answer.text is not None else optional_text(answer.date)
        return _value(text=text, time=clock)
    moment = dt.datetime.combine(day, clock or dt.time())
    return _value(datetime=moment, text=_unparsed(answer.time, clock, None))


def _text(question: Question, answer: Answer) -> str | None:
    """Text answers as text, rich text as plain text, anything else as JSON text."""
    if answer.text is not None:
        return answer.text
    if answer.adf is not None:
        return adf_to_text(answer.adf)
    if question.type not in TEXT_TYPES and answer.raw:
        return json.dumps(answer.raw, ensure_ascii=False, default=str)
    for value in (answer.date, answer.time, answer.number):
        if value is not None:
            return optional_text(value)
    return None


def _value(
    *,
    text: str | None = None,
    number: float | None = None,
    date: dt.date | None = None,
    time: dt.time | None = None,
    datetime: dt.datetime | None = None,
) -> Value:
    return (0, text, number, date, time, datetime, None, None, None, None)


def _number(answer: Answer) -> float | None:
    """A finite number; NaN and infinity (which a sheet's cell can hold) stay text only."""
    if answer.number is not None:
        return answer.number if math.isfinite(answer.number) else None
    return parse_number(answer.text)


def _as_date(value: dt.date | str | None) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


def _as_time(value: dt.time | str | None) -> dt.time | None:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None


def _unparsed(value: Any, parsed: Any, text: str | None) -> str | None:
    """The text kept for a value that could not be parsed (or the answer's own text)."""
    if parsed is None and isinstance(value, str) and value:
        return value
    return text
