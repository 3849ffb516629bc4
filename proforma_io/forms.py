"""The parsed form model the export readers produce and the normaliser consumes.

A `FormResponse` is one form on one issue as an export file describes it: its questions in the
order a person sees them and its answers by question id. The JSON reader keeps answer values as
the stored form wrote them (dates and times as text); the XLSX reader gives values already typed
by the spreadsheet (dates, times, numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

FormModel = Literal["v1", "v2", "xlsx"]
FormStatus = Literal["open", "submitted", "locked"]
Visibility = Literal["internal", "external"]

TEXT_TYPES = frozenset({"ts", "tl", "pg", "te", "tu"})
NUMBER_TYPES = frozenset({"no"})
DATE_TYPES = frozenset({"da"})
DATETIME_TYPES = frozenset({"dt"})
TIME_TYPES = frozenset({"ti"})
SINGLE_CHOICE_TYPES = frozenset({"cs", "cd"})
CHOICE_TYPES = SINGLE_CHOICE_TYPES | {"cm", "cl"}
USER_TYPES = frozenset({"us", "um"})

# Legacy (version 1) items that are display content, never answered.
DISPLAY_TYPES = frozenset({"h1", "h2", "h3", "in"})

OTHER_CHOICE_ID = "0"


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a choice question; `other` marks the free-text "Other" choice."""

    id: str
    label: str
    other: bool = False


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a form design."""

    id: str
    type: str
    label: str
    key: str | None = None
    choices: tuple[Choice, ...] = ()
    jira_field: str | None = None

    @property
    def name(self) -> str:
        """What a person knows the question by: its label, else its key, else `q<id>`."""
        return self.label or self.key or f"q{self.id}"

    def choice(self, choice_id: str) -> Choice | None:
        """The choice with this id, if the design has it."""
        return next((c for c in self.choices if c.id == choice_id), None)

    @property
    def other_choice(self) -> Choice | None:
        """The free-text "Other" choice, if the design has one."""
        return next((c for c in self.choices if c.other), None)


@dataclass(frozen=True, slots=True)
class User:
    """A Jira user picked in a user question; newer exports carry only the id, XLSX only names."""

    id: str | None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one question; fields the answer does not have are None.

    `choices` holds choice ids (an empty tuple when answered with no choice); `text` holds the
    free text of the Other choice for choice questions. `number` is set only by the XLSX reader,
    for numeric cells. `raw` is the answer as stored (empty for XLSX).
    """

    text: str | None = None
    date: dt.date | str | None = None
    time: dt.time | str | None = None
    choices: tuple[str, ...] | None = None
    users: tuple[User, ...] | None = None
    adf: Any = None
    number: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FormResponse:
    """One form on one issue, as read from an export file."""

    issue_key: str
    issue_id: str | None
    fields: dict[str, Any]
    form_id: int | None
    form_name: str | None
    model: FormModel
    status: FormStatus
    visibility: Visibility | None
    updated: dt.datetime | None
    template_id: int | None
    questions: tuple[Question, ...]
    answers: dict[str, Answer]
    extra: dict[str, Any] = field(default_factory=dict)
    field_names: dict[str, str] = field(default_factory=dict)

    def question(self, question_id: str) -> Question | None:
        """The question with this id in this form's own design copy."""
        return next((q for q in self.questions if q.id == question_id), None)
