"""The answer one spreadsheet cell gives to one question, typed by the question's type.

Choices and users are joined with ", " in a cell; choices are told apart by the known labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from proforma_io.forms import (
    CHOICE_TYPES,
    DATE_TYPES,
    DATETIME_TYPES,
    NUMBER_TYPES,
    OTHER_CHOICE_ID,
    SINGLE_CHOICE_TYPES,
    TIME_TYPES,
    USER_TYPES,
    Answer,
    Choice,
    Question,
    User,
)
from proforma_io.readers.xlsx_cells import (
    as_date,
    as_datetime,
    as_time,
    cell_text,
    is_number,
)

SEPARATOR = ", "


def column_answers(question: Question, cells: Sequence[Any]) -> list[Answer | None]:
    """The answer of each cell of a question's column, None for an empty cell.

    Equal cells share one `Answer` (it is immutable), which saves parsing a choice or date
    again for every row that repeats it, and the memory of holding it again.
    """
    known: dict[Any, Answer] = {}
    answers: list[Answer | None] = []
    append = answers.append
    for value in cells:
        # Text is the common cell: keyed by itself; other values by type too, so 1 and True
        # (equal in Python) stay apart.
        if type(value) is str:
            if not value or value.isspace():
                append(None)
                continue
            key: Any = value
        elif value is None:
            append(None)
            continue
        else:
            key = (type(value), value)
        given = known.get(key)
        if given is None:
            given = known[key] = answer(question, value)
        append(given)
    return answers


def answer(question: Question, value: Any) -> Answer:
    """The answer a cell gives to `question`, typed by the question's type."""
    kind = question.type
    if kind in CHOICE_TYPES:
        return choice_answer(question, cell_text(value))
    if kind in USER_TYPES:
        text = cell_text(value)
        names = text.split(SEPARATOR) if kind == "um" else [text]
        return Answer(users=tuple(User(id=None, name=n.strip()) for n in names))
    if kind in NUMBER_TYPES and is_number(value):
        return Answer(text=cell_text(value), number=float(value))
    if kind in DATE_TYPES:
        return Answer(date=as_date(value))
    if kind in DATETIME_TYPES:
        moment = as_datetime(value)
        if moment is None:
            return Answer(text=cell_text(value))
        return Answer(date=moment.date(), time=moment.time())
    if kind in TIME_TYPES:
        return Answer(time=as_time(value))
    return Answer(text=cell_text(value))


def choice_answer(question: Question, text: str) -> Answer:
    """Choices from a cell of labels joined with ", ", longest label first at each position.

    Text matching no label is the Other choice's free text.
    """
    # Limitation: free text that itself starts with ", " and a choice label is split there.
    labels = sorted((c for c in question.choices if not c.other), key=lambda c: -len(c.label))
    if question.type in SINGLE_CHOICE_TYPES:
        exact = next((c for c in labels if c.label == text.strip()), None)
        if exact is not None:
            return Answer(choices=(exact.id,))
        other = question.other_choice
        return Answer(choices=(other.id if other else OTHER_CHOICE_ID,), text=text.strip())

    chosen: list[str] = []
    unmatched: list[str] = []
    position = 0
    while position < len(text):
        choice = next((c for c in labels if _label_at(text, position, c.label)), None)
        if choice is not None:
            chosen.append(choice.id)
            position += len(choice.label) + len(SEPARATOR)
            continue
        end = _next_label_boundary(text, position, labels)
        unmatched.append(text[position:end])
        position = end + len(SEPARATOR)

    if not unmatched:
        return Answer(choices=tuple(chosen))
    other = question.other_choice
    chosen.append(other.id if other else OTHER_CHOICE_ID)
    return Answer(choices=tuple(chosen), text=SEPARATOR.join(unmatched))


def _label_at(text: str, position: int, label: str) -> bool:
    """Whether `label` stands whole at `position`: followed by the end or by the separator."""
    if not label or not text.startswith(label, position):
        return False
    end = position + len(label)
    return end == len(text) or text.startswith(SEPARATOR, end)


def _next_label_boundary(text: str, position: int, labels: list[Choice]) -> int:
    """Where the unmatched text starting at `position` ends: before the next matching label."""
    search = position
    while True:
        separator = text.find(SEPARATOR, search)
        if separator < 0:
            return len(text)
        following = separator + len(SEPARATOR)
        if any(_label_at(text, following, c.label) for c in labels):
            return separator
        search = following
