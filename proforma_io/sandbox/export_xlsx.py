"""The `responses-xlsx` file: one "Responses" sheet, one row per form response.

The layout follows the field sample `hr-onboarding.responses.xlsx`: Issue Key, Form Name, Form
Status and Last Updated, then one column per requested Jira field, then one column per question
headed by its label. Choices and users are joined with ", ", dates and date-times are date
cells, times are "HH:MM" text, numbers are numbers and unanswered questions are empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from proforma_io.sandbox.store import Template

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "Responses"
LEADING_HEADERS = ["Issue Key", "Form Name", "Form Status", "Last Updated"]
FIELD_HEADERS = {
    "summary": "Summary",
    "priority": "Priority",
    "customfield_10012": "Story Points",
    "status": "Status",
    "description": "Description",
    "assignee": "Assignee",
    "reporter": "Reporter",
    "labels": "Labels",
}
STATUS_NAMES = {"o": "Open", "s": "Submitted", "l": "Locked"}
NO_ANSWER = {"h1", "in"}
CHOICE_CODES = {"cs", "cd", "cm", "cl"}
USER_CODES = {"us", "um"}
BLOCK_NODES = {"paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock",
               "blockquote", "panel", "table", "tableRow", "tableCell"}  # fmt: skip


@dataclass(frozen=True)
class _Question:
    id: str
    code: str
    header: str
    choices: dict[str, dict[str, Any]]


def render_xlsx(
    template: Template,
    entries: Sequence[dict[str, Any]],
    fields: Sequence[str],
    created: datetime,
) -> bytes:
    """Write the sheet for `entries` (export entries with issueKey, fields and form)."""
    columns = _columns(template, [entry["form"] for entry in entries])
    headers = [*LEADING_HEADERS, *(FIELD_HEADERS.get(f, f) for f in fields)]
    headers += [question.header for question in columns]

    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = created.replace(tzinfo=None)
    sheet = workbook.create_sheet(SHEET_TITLE)
    # A write-only sheet omits <dimension>; readers in read-only mode size the sheet by it.
    reference = f"A1:{get_column_letter(len(headers))}{len(entries) + 1}"
    sheet.calculate_dimension = lambda: reference

    sheet.append(headers)
    for entry in entries:
        sheet.append(_row(entry, fields, columns))

    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _columns(template: Template, forms: Sequence[dict[str, Any]]) -> list[_Question]:
    """The template's questions in layout order, then questions only some instances have."""
    designs = [_template_form(template), *forms]
    seen: dict[str, _Question] = {}
    for form in designs:
        for question in _questions(form):
            seen.setdefault(question.id, question)
    return list(seen.values())


def _template_form(template: Template) -> dict[str, Any]:
    if template.model == "v1":
        return {"questions": template.design.get("questions", [])}
    return {"design": template.design}


def _questions(form: dict[str, Any]) -> list[_Question]:
    if "design" not in form:
        return [
            _legacy_question(item)
            for item in form.get("questions") or []
            if isinstance(item, dict) and item.get("t") not in NO_ANSWER
        ]

    design = form["design"]
    definitions: dict[str, Any] = design.get("questions") or {}
    order = [qid for qid in _layout_ids(design.get("layout")) if qid in definitions]
    order += sorted((qid for qid in definitions if qid not in order), key=_numeric)
    return [_question(qid, definitions[qid]) for qid in order]


def _legacy_question(item: dict[str, Any]) -> _Question:
    header = _header(item.get("q"), None, item.get("id"))
    return _Question(str(item.get("id")), str(item.get("t", "")), header, {})


def _question(question_id: str, definition: dict[str, Any]) -> _Question:
    listed = {str(choice.get("id")): choice for choice in definition.get("choices") or []}
    header = _header(definition.get("label"), definition.get("questionKey"), question_id)
    return _Question(question_id, str(definition.get("type", "")), header, listed)


def _header(label: Any, key: Any, question_id: Any) -> str:
    return str(label or key or question_id)


def _numeric(question_id: str) -> tuple[bool, int, str]:
    digits = question_id.isdigit()
    return (not digits, int(question_id) if digits else 0, question_id)


def _layout_ids(node: Any) -> list[str]:
    if isinstance(node, list):
        return [qid for child in node for qid in _layout_ids(child)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "extension":
        question_id = (node.get("attrs") or {}).get("parameters", {}).get("id")
        return [str(question_id)] if question_id is not None else []
    return _layout_ids(node.get("content"))


def _row(entry: dict[str, Any], fields: Sequence[str], columns: list[_Question]) -> list[Any]:
    form = entry["form"]
    by_id = {question.id: question for question in _questions(form)}
    answers = _answers(form)
    row: list[Any] = [entry.get("issueKey"), _form_name(form), _status(form), _updated(form)]
    row += [_field_cell(entry.get("fields", {}).get(field)) for field in fields]
    for column in columns:
        own = by_id.get(column.id)
        answer = answers.get(column.id)
        row.append(None if own is None or answer is None else _cell(own, answer))
    return row


def _form_name(form: dict[str, Any]) -> str:
    if "design" in form:
        return str(form["design"].get("settings", {}).get("name", ""))
    return str(form.get("name", ""))


def _status(form: dict[str, Any]) -> str:
    if "design" in form:
        return STATUS_NAMES.get(form.get("state", {}).get("status"), "")
    return "Submitted" if form.get("submitted") else "Open"


def _updated(form: dict[str, Any]) -> datetime | str | None:
    text = form.get("updated") or ""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return str(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _answers(form: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if "design" in form:
        return dict(form.get("state", {}).get("answers") or {})
    return {
        str(item.get("id")): {"text": item["text"]}
        for item in form.get("questions") or []
        if isinstance(item, dict) and "text" in item
    }


def _cell(question: _Question, answer: dict[str, Any]) -> Any:
    code = question.code
    if code in CHOICE_CODES:
        return _joined(
            _choice_label(question, choice, answer) for choice in answer.get("choices") or []
        )
    if code in USER_CODES:
        return _joined(
            str(user.get("name") or user.get("id")) for user in answer.get("users") or []
        )
    if code == "da":
        return _date(answer.get("date"))
    if code == "dt":
        return _datetime(answer.get("date"), answer.get("time"))
    if code == "ti":
        return answer.get("time") or None
    text = _text(answer)
    if code == "no" and text is not None:
        return _number(text)
    return text


def _choice_label(question: _Question, choice_id: Any, answer: dict[str, Any]) -> str:
    choice = question.choices.get(str(choice_id), {})
    if choice.get("other") and answer.get("text"):
        return str(answer["text"])
    return str(choice.get("label", choice_id))


def _joined(parts: Any) -> str | None:
    return ", ".join(parts) or None


def _text(answer: dict[str, Any]) -> str | None:
    if "adf" in answer:
        return _adf_text(answer["adf"]) or None
    text = answer.get("text")
    if text is None:
        return json.dumps(answer, ensure_ascii=False) if answer else None
    return str(text) or None


def _adf_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    children = node.get("content") or []
    blocks = any(isinstance(child, dict) and child.get("type") in BLOCK_NODES for child in children)
    return ("\n" if blocks else "").join(_adf_text(child) for child in children)


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _date(text: Any) -> date | str | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        return str(text)


def _datetime(day: Any, time: Any) -> datetime | str | None:
    if not day:
        return None
    try:
        return datetime.fromisoformat(f"{day}T{time or '00:00'}")
    except ValueError:
        return f"{day} {time or ''}".strip()


def _field_cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, dict):
        for key in ("name", "value", "displayName", "key"):
            if value.get(key) is not None:
                return str(value[key])
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return _joined(str(_field_cell(item)) for item in value if item is not None)
    return str(value)
