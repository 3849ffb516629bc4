"""A stored form read as a person sees it: its questions in order, each with its answer as text.

Choices show their labels (the Other choice its free text), users their names (their ids when
the form stores no name), rich text its plain text, dates and times as stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from proforma_io.adf import adf_to_text
from proforma_io.sandbox.store import Form

# Legacy items that show text but take no answer.
DISPLAY_CODES = frozenset({"h1", "h2", "h3", "in"})
OTHER_CHOICE = "0"


@dataclass(frozen=True)
class Line:
    """One question of a form: its label, type code and answer text ("" when unanswered)."""

    label: str
    code: str
    answer: str
    display: bool = False


def form_lines(form: Form) -> list[Line]:
    """The form's questions in the order a person sees them, with their answers."""
    if form.model == "v1":
        return [_legacy_line(question) for question in form.document.get("questions") or []]

    design = form.document.get("design") or {}
    questions = design.get("questions") or {}
    answers = (form.document.get("state") or {}).get("answers") or {}
    ordered = list(dict.fromkeys([*_layout_ids(design.get("layout")), *questions]))
    return [
        _line(questions[question_id], answers.get(question_id), question_id)
        for question_id in ordered
        if isinstance(questions.get(question_id), dict)
    ]


def _line(question: dict[str, Any], answer: Any, question_id: str) -> Line:
    label = question.get("label") or question.get("questionKey") or f"Question {question_id}"
    code = str(question.get("type", ""))
    return Line(str(label), code, _answer_text(question, answer) if answer else "")


def _answer_text(question: dict[str, Any], answer: Any) -> str:
    if not isinstance(answer, dict):
        return str(answer)

    parts: list[str] = []
    if "adf" in answer:
        parts.append(adf_to_text(answer["adf"]))
    if answer.get("choices"):
        parts.append(", ".join(_choice_labels(question, answer)))
    elif answer.get("text"):
        parts.append(str(answer["text"]))
    moment = " ".join(str(answer[key]) for key in ("date", "time") if answer.get(key))
    if moment:
        parts.append(moment)
    if answer.get("users"):
        parts.append(", ".join(_user_name(user) for user in answer["users"]))
    return "\n".join(part for part in parts if part)


def _choice_labels(question: dict[str, Any], answer: dict[str, Any]) -> Iterator[str]:
    labels = {
        str(choice.get("id")): str(choice.get("label", ""))
        for choice in question.get("choices") or []
        if isinstance(choice, dict)
    }
    for choice_id in answer["choices"]:
        if str(choice_id) == OTHER_CHOICE and answer.get("text"):
            yield f"Other: {answer['text']}"
        else:
            yield labels.get(str(choice_id), str(choice_id))


def _user_name(user: Any) -> str:
    if not isinstance(user, dict):
        return str(user)
    return str(user.get("name") or user.get("id") or "")


def _legacy_line(question: Any) -> Line:
    if not isinstance(question, dict):
        return Line(str(question), "", "")
    code = str(question.get("t", ""))
    label = str(question.get("q") or f"Question {question.get('id')}")
    if code in DISPLAY_CODES:
        return Line(label, code, "", display=True)
    text = question.get("text")
    return Line(label, code, "" if text is None else str(text))


def _layout_ids(node: Any) -> Iterator[str]:
    """Question ids in the order the layout's extension nodes place them."""
    if isinstance(node, list):
        for child in node:
            yield from _layout_ids(child)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "extension":
        parameters = (node.get("attrs") or {}).get("parameters") or {}
        if "id" in parameters:
            yield str(parameters["id"])
    yield from _layout_ids(node.get("content"))
