"""Entries and stored forms of a `responses-json` export, turned into `FormResponse`s.

A version 2 form has `design` and `state`; a legacy version 1 form has a `questions` list whose
items carry `t` and `q`. An entry holds one form (itself, under `form`, or under another key)
with the issue key, issue id and requested Jira field values.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from proforma_io.errors import ExportFileError, truncate
from proforma_io.forms import (
    DISPLAY_TYPES,
    Answer,
    Choice,
    FormResponse,
    FormStatus,
    Question,
    User,
    Visibility,
)

_ENTRY_KEYS = {"issueKey", "issue_key", "issueId", "issue_id", "fields", "issue"}
_V2_FORM_KEYS = {"id", "updated", "design", "state"}
_V2_DESIGN_KEYS = {"settings", "layout", "conditions", "sections", "questions"}
_V2_SETTINGS_KEYS = {"templateId", "name", "submit", "language"}
_V2_STATE_KEYS = {"visibility", "status", "answers"}
_V1_FORM_KEYS = {
    "schemaVersion",
    "id",
    "projectFormId",
    "internal",
    "submitted",
    "name",
    "updated",
    "questions",
    "formHash",
}
_ANSWER_KEYS = ("text", "date", "time", "choices", "users", "adf")

_STATUS = {"o": "open", "s": "submitted", "l": "locked"}
_VISIBILITY = {"i": "internal", "e": "external"}
# Every form carries its own copy of its design; most copies equal one parsed moments before.
_RECENT_DESIGNS = 8
_FRACTION = re.compile(r"(\.\d+)")


def parse_timestamp(value: Any) -> dt.datetime | None:
    """A UTC datetime from ISO-8601 text of any fraction length; empty or None is None.

    Text without a zone is taken as UTC. Raises ValueError for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        text = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], text, count=1)
        parsed = dt.datetime.fromisoformat(text)
    else:
        raise ValueError(f"expected ISO-8601 text, found {type(value).__name__}")

    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def form_model(value: Any) -> str | None:
    """ "v2" or "v1" when `value` has the shape of a stored form, else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("design"), dict) and isinstance(value.get("state"), dict):
        return "v2"
    questions = value.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
        return None
    if any("t" in q or "q" in q for q in questions) or "schemaVersion" in value:
        return "v1"
    return None


def is_entry(value: Any) -> bool:
    """Whether `value` is an entry: a form with its issue key, or an object holding forms."""
    if not isinstance(value, dict):
        return False
    if form_model(value):
        return _issue_key(value) is not None
    return bool(nested_forms(value))


def nested_forms(entry: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Forms one level below `entry`: (key, form, path suffix), `form` key first."""
    found: list[tuple[str, Any, str]] = []
    keys = sorted(entry, key=lambda k: k != "form")
    for key in keys:
        value = entry[key]
        if form_model(value):
            found.append((key, value, f".{key}"))
        elif isinstance(value, list) and value and all(form_model(v) for v in value):
            found.extend((key, v, f".{key}[{i}]") for i, v in enumerate(value))
    return found


class EntryReader:
    """Turns entries of one file into `FormResponse`s, naming the place of any problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._designs: dict[tuple[Question, ...], tuple[Question, ...]] = {}
        self._recent: list[tuple[Any, Any, tuple[Question, ...]]] = []

    def fail(self, where: str, problem: str) -> ExportFileError:
        return ExportFileError(self.path, problem, where=where)

    def entry(self, entry: Any, where: str) -> Iterator[FormResponse]:
        """The form responses of one entry (usually one)."""
        if not isinstance(entry, dict):
            raise self.fail(where, f"expected an object with a form, found {_kind(entry)}")
        forms = self._forms_of(entry, where)

        issue = _issue(entry)
        issue_key = _issue_key(entry)
        if issue_key is None:
            found = _short(_first(entry, "issueKey", "issue_key") or issue.get("key"))
            raise self.fail(where, f"expected an issueKey, found {found}")
        issue_id = _first(entry, "issueId", "issue_id") or issue.get("id")
        fields = entry.get("fields", issue.get("fields")) or {}
        if not isinstance(fields, dict):
            raise self.fail(f"{where}.fields", f"expected an object, found {_kind(fields)}")

        form_keys = {key for key, _, _ in forms}
        entry_extra = {
            f"entry.{k}": v for k, v in entry.items() if k not in _ENTRY_KEYS | form_keys
        }
        for _, form, suffix in forms:
            flattened = form is entry
            yield self.form(
                form,
                where + suffix,
                issue=(issue_key, _optional_str(issue_id), fields),
                extra={} if flattened else entry_extra,
                entry_keys=_ENTRY_KEYS if flattened else frozenset(),
            )

    def _forms_of(self, entry: dict[str, Any], where: str) -> list[tuple[str, Any, str]]:
        if form_model(entry):
            return [("", entry, "")]
        forms = nested_forms(entry)
        if forms:
            return forms
        if "form" in entry:
            found = _short(entry["form"])
            raise self.fail(
                f"{where}.form",
                f"expected a form (design and state, or questions with t and q), found {found}",
            )
        keys = ", ".join(sorted(map(str, entry))[:20]) or "none"
        raise self.fail(where, f"expected an entry holding a form, found keys: {keys}")

    def form(
        self,
        form: dict[str, Any],
        where: str,
        *,
        issue: tuple[str, str | None, dict[str, Any]],
        extra: dict[str, Any],
        entry_keys: Collection[str],
    ) -> FormResponse:
        """One stored form of either version; `issue` is its issue key, id and Jira fields."""
        if form_model(form) == "v2":
            parsed = self._v2(form, where)
            known = _V2_FORM_KEYS
        else:
            parsed = self._v1(form, where)
            known = _V1_FORM_KEYS

        extra = {
            **extra,
            **{f"form.{k}": v for k, v in form.items() if k not in known and k not in entry_keys},
        }
        extra.update(parsed.pop("extra"))
        issue_key, issue_id, fields = issue
        return FormResponse(
            issue_key=issue_key,
            issue_id=issue_id,
            fields=fields,
            form_id=self.integer(form.get("id"), f"{where}.id"),
            updated=self.timestamp(form.get("updated"), f"{where}.updated"),
            extra=extra,
            **parsed,
        )

    def _v2(self, form: dict[str, Any], where: str) -> dict[str, Any]:
        design, state = form["design"], form["state"]
        settings = design.get("settings") or {}
        if not isinstance(settings, dict):
            raise self.fail(f"{where}.design.settings", f"expected an object, {_found(settings)}")
        definitions = design.get("questions") or {}
        if not isinstance(definitions, dict):
            raise self.fail(
                f"{where}.design.questions", f"expected an object, {_found(definitions)}"
            )
        answers = state.get("answers") or {}
        if not isinstance(answers, dict):
            raise self.fail(f"{where}.state.answers", f"expected an object, {_found(answers)}")

        layout = design.get("layout")

        extra = {f"design.{k}": v for k, v in design.items() if k not in _V2_DESIGN_KEYS}
        extra |= {
            f"design.settings.{k}": v for k, v in settings.items() if k not in _V2_SETTINGS_KEYS
        }
        extra |= {f"state.{k}": v for k, v in state.items() if k not in _V2_STATE_KEYS}
        return {
            "form_name": _optional_str(settings.get("name")),
            "model": "v2",
            "status": self._status(state.get("status"), f"{where}.state.status"),
            "visibility": self._visibility(state.get("visibility"), f"{where}.state.visibility"),
            "template_id": self.integer(
                settings.get("templateId"), f"{where}.design.settings.templateId"
            ),
            "questions": self._v2_questions(definitions, layout, where),
            "answers": {str(qid): _answer(a) for qid, a in answers.items()},
            "extra": extra,
        }

    def _v2_questions(
        self, definitions: dict[str, Any], layout: Any, where: str
    ) -> tuple[Question, ...]:
        """The questions of a design in layout order; a design seen just before is reused."""
        for index, (seen_definitions, seen_layout, parsed) in enumerate(self._recent):
            if seen_definitions == definitions and seen_layout == layout:
                self._recent.insert(0, self._recent.pop(index))
                return parsed

        questions = {
            str(qid): self._v2_question(str(qid), q, f"{where}.design.questions.{qid}")
            for qid, q in definitions.items()
        }
        order = [qid for qid in dict.fromkeys(_layout_ids(layout)) if qid in questions]
        order += [qid for qid in questions if qid not in order]
        parsed = self._intern(tuple(questions[qid] for qid in order))
        self._recent = [(definitions, layout, parsed), *self._recent[: _RECENT_DESIGNS - 1]]
        return parsed

    def _v2_question(self, qid: str, definition: Any, where: str) -> Question:
        if not isinstance(definition, dict):
            raise self.fail(where, f"expected a question object, {_found(definition)}")
        choices = definition.get("choices") or []
        if not isinstance(choices, list):
            raise self.fail(f"{where}.choices", f"expected a list, {_found(choices)}")
        return Question(
            id=qid,
            type=str(definition.get("type") or ""),
            label=str(definition.get("label") or ""),
            key=_optional_str(definition.get("questionKey")) or None,
            choices=tuple(
                Choice(
                    id=str(c.get("id")), label=str(c.get("label") or ""), other=bool(c.get("other"))
                )
                for c in choices
                if isinstance(c, dict)
            ),
            jira_field=_optional_str(definition.get("jiraField")) or None,
        )

    def _v1(self, form: dict[str, Any], where: str) -> dict[str, Any]:
        questions: list[Question] = []
        answers: dict[str, Answer] = {}
        for index, item in enumerate(form["questions"]):
            kind = str(item.get("t") or "")
            if kind in DISPLAY_TYPES:
                continue
            if item.get("id") is None:
                raise self.fail(f"{where}.questions[{index}]", "expected a question id")
            qid = str(item["id"])
            questions.append(
                Question(
                    id=qid,
                    type=kind,
                    label=str(item.get("q") or ""),
                    key=_optional_str(item.get("key")) or None,
                    jira_field=_optional_str(item.get("jf")) or None,
                )
            )
            if any(key in item for key in _ANSWER_KEYS):
                answers[qid] = _answer({k: item[k] for k in _ANSWER_KEYS if k in item})

        internal = form.get("internal")
        return {
            "form_name": _optional_str(form.get("name")),
            "model": "v1",
            "status": "submitted" if form.get("submitted") else "open",
            "visibility": None if internal is None else ("internal" if internal else "external"),
            "template_id": self.integer(form.get("projectFormId"), f"{where}.projectFormId"),
            "questions": self._intern(tuple(questions)),
            "answers": answers,
            "extra": {},
        }

    def _intern(self, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        """One shared tuple per distinct design: every form carries its own copy."""
        return self._designs.setdefault(questions, questions)

    def _status(self, value: Any, where: str) -> FormStatus:
        code = str(value or "").strip().lower()
        status = _STATUS.get(code, code)
        if status not in ("open", "submitted", "locked"):
            raise self.fail(where, f"expected status o, s or l, found {_short(value)}")
        return status  # type: ignore[return-value]

    def _visibility(self, value: Any, where: str) -> Visibility | None:
        if value is None or value == "":
            return None
        code = str(value).strip().lower()
        visibility = _VISIBILITY.get(code, code)
        if visibility not in ("internal", "external"):
            raise self.fail(where, f"expected visibility i or e, found {_short(value)}")
        return visibility  # type: ignore[return-value]

    def integer(self, value: Any, where: str) -> int | None:
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self.fail(where, f"expected an integer, found {_short(value)}") from None

    def timestamp(self, value: Any, where: str) -> dt.datetime | None:
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self.fail(where, f"expected an ISO-8601 time, found {_short(value)}") from None


def _answer(stored: Any) -> Answer:
    """An `Answer` from a stored answer object; other values are kept as their text."""
    # Called once per answer of every form, so the common shapes take the shortest path.
    if type(stored) is not dict:
        value = stored if isinstance(stored, str) else json.dumps(stored, ensure_ascii=False)
        return Answer(text=value, raw={"value": stored})

    get = stored.get
    text, date, time = get("text"), get("date"), get("time")
    if text is not None and type(text) is not str:
        text = json.dumps(text, ensure_ascii=False)
    if date is not None and type(date) is not str:
        date = str(date)
    if time is not None and type(time) is not str:
        time = str(time)
    choices, users = get("choices"), get("users")
    if choices is not None:
        choices = tuple([c if type(c) is str else _choice_id(c) for c in _as_list(choices)])
    if users is not None:
        users = tuple([_user(u) for u in _as_list(users)])
    return Answer(text, date, time, choices, users, get("adf"), None, stored)


def _choice_id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value)


def _user(value: Any) -> User:
    if isinstance(value, dict):
        name = value.get("name") or value.get("displayName")
        return User(
            id=_optional_str(value.get("id") or value.get("accountId")), name=_optional_str(name)
        )
    return User(id=_optional_str(value))


def _layout_ids(node: Any) -> Iterator[str]:
    """Question ids of the extension nodes of a layout, in document order."""
    if isinstance(node, list):
        for child in node:
            yield from _layout_ids(child)
        return
    if not isinstance(node, dict):
        return
    attrs = node.get("attrs")
    if "xtension" in str(node.get("type")) and isinstance(attrs, dict):
        parameters = attrs.get("parameters")
        if isinstance(parameters, dict) and parameters.get("id") is not None:
            yield str(parameters["id"])
    yield from _layout_ids(node.get("content"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


def _issue(entry: dict[str, Any]) -> dict[str, Any]:
    """The nested `issue` object some entries use for key, id and fields."""
    nested = entry.get("issue")
    return nested if isinstance(nested, dict) else {}


def _issue_key(entry: dict[str, Any]) -> str | None:
    key = _first(entry, "issueKey", "issue_key") or _issue(entry).get("key")
    return key if isinstance(key, str) and key.strip() else None


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    return truncate(json.dumps(value, ensure_ascii=False, default=str), 80)


def _found(value: Any) -> str:
    return f"found {_kind(value)}"
