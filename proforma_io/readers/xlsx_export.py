"""Reader of `responses-xlsx` export files: one sheet, a header row, one row per form response.

The leading columns (Issue Key, Form Name, Form Status, Last Updated) are found by name; the
requested Jira fields follow in request order, then one column per question headed by its label.
Without a design, each question column is typed by what all its cells hold; with a design (the
questions of an earlier JSON export), columns map to questions by label and take their type.
The sheet is read with python-calamine (Rust); openpyxl is used only to write workbooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from proforma_io.errors import ExportFileError, truncate
from proforma_io.forms import Answer, FormResponse, FormStatus, Question
from proforma_io.readers.gc_pause import collector_paused
from proforma_io.readers.json_forms import parse_timestamp
from proforma_io.readers.xlsx_answers import column_answers
from proforma_io.readers.xlsx_cells import (
    cell_text,
    column_kind,
    column_letter,
    describe,
    field_value,
    from_excel_serial,
    is_number,
    optional_text,
    present,
)
from proforma_io.readers.xlsx_guard import refuse_xml_declarations

LEADING_COLUMNS = ("Issue Key", "Form Name", "Form Status", "Last Updated")

Row = Sequence[Any]

_STATUS: dict[str, FormStatus] = {
    "open": "open",
    "o": "open",
    "submitted": "submitted",
    "s": "submitted",
    "locked": "locked",
    "l": "locked",
}
_KIND_TYPES = {"date": "da", "datetime": "dt", "time": "ti", "number": "no", "text": "ts"}


def read_xlsx_export(
    path: Path,
    *,
    fields: Sequence[str] = (),
    design: Sequence[Question] | None = None,
) -> list[FormResponse]:
    """Read every form response of a `responses-xlsx` file.

    `fields` are the Jira field ids the export requested, in request order: they name the
    columns after the leading ones. `design` maps question columns to known questions.
    """
    refuse_xml_declarations(path)
    with collector_paused():
        return _read_rows(path, fields, design)


def _read_rows(
    path: Path, fields: Sequence[str], design: Sequence[Question] | None
) -> list[FormResponse]:
    header, rows = _read_sheet(path)

    leading = _leading_columns(path, header)
    first_question = max(leading.values()) + 1 + len(fields)
    if len(header) < first_question:
        found = len(header) - max(leading.values()) - 1
        raise ExportFileError(
            path,
            f"expected {len(fields)} Jira field columns after the leading columns, found {found}",
            where=f"row 1, column {column_letter(len(header) + 1)}",
        )
    field_columns = dict(
        zip(fields, range(first_question - len(fields), first_question), strict=True)
    )
    field_names = {fid: cell_text(header[col]) for fid, col in field_columns.items()}

    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    cells = columns[first_question:]
    questions = _questions(header[first_question:], cells, design)
    answers = [
        (q.id, column_answers(q, column)) for q, column in zip(questions, cells, strict=True)
    ]
    sheet = _Sheet(path, leading, field_columns, field_names, tuple(questions))
    return [
        sheet.response(row, index + 2, _row_answers(answers, index))
        for index, row in enumerate(rows)
        if any(present(v) for v in row)
    ]


class _Sheet:
    """The column layout of one sheet, turning its rows into `FormResponse`s."""

    def __init__(
        self,
        path: Path,
        leading: dict[str, int],
        field_columns: dict[str, int],
        field_names: dict[str, str],
        questions: tuple[Question, ...],
    ) -> None:
        self.path = path
        self.leading = leading
        self.field_columns = field_columns
        self.field_names = field_names
        self.questions = questions

    def response(self, row: Row, number: int, answers: dict[str, Answer]) -> FormResponse:
        """The form response of sheet row `number`, with the answers of its non-empty cells."""
        issue_key = row[self.leading["issue key"]]
        if not isinstance(issue_key, str) or not issue_key.strip():
            raise self._fail(number, self.leading["issue key"], "expected an issue key", issue_key)

        return FormResponse(
            issue_key=issue_key.strip(),
            issue_id=None,
            fields={fid: field_value(row[col]) for fid, col in self.field_columns.items()},
            form_id=None,
            form_name=optional_text(row[self.leading["form name"]]),
            model="xlsx",
            status=self._status(row, number),
            visibility=None,
            updated=self._updated(row, number),
            template_id=None,
            questions=self.questions,
            answers=answers,
            field_names=self.field_names,
        )

    def _status(self, row: Row, number: int) -> FormStatus:
        col = self.leading["form status"]
        status = _STATUS.get(str(row[col] or "").strip().lower())
        if status is None:
            raise self._fail(number, col, "expected Open, Submitted or Locked", row[col])
        return status

    def _updated(self, row: Row, number: int) -> dt.datetime | None:
        # The sheet's times carry no zone; ProForma stores them in UTC.
        col = self.leading["last updated"]
        value = row[col]
        if is_number(value):
            value = from_excel_serial(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        try:
            return parse_timestamp(value)
        except (ValueError, OverflowError):
            raise self._fail(number, col, "expected a date and time", value) from None

    def _fail(self, number: int, col: int, expected: str, found: Any) -> ExportFileError:
        cell = f"cell {column_letter(col + 1)}{number}"
        return ExportFileError(self.path, f"{expected}, found {describe(found)}", where=cell)


def _row_answers(columns: list[tuple[str, list[Answer | None]]], index: int) -> dict[str, Answer]:
    """The answers of row `index`, by question id, without its empty cells."""
    found: dict[str, Answer] = {}
    for question_id, column in columns:
        given = column[index]
        if given is not None:
            found[question_id] = given
    return found


def _read_sheet(path: Path) -> tuple[list[Any], list[list[Any]]]:
    """The header row (trailing blank cells dropped) and the data rows, cut to its width.

    Rows are numbered from the sheet's first row, A1, whatever cells are empty around the data.
    """
    # Limitation: every cell value is held in memory, since a column's type depends on all of
    # its cells; a sheet of 100,000 rows by 30 columns needs a few hundred megabytes.
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        try:
            rows: list[list[Any]] = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
        finally:
            workbook.close()
    except Exception as exc:
        # python-calamine raises several kinds of errors for a damaged file; all mean
        # "unreadable".
        problem = f"expected an XLSX workbook, could not read it: {type(exc).__name__}: {exc}"
        raise ExportFileError(path, truncate(problem)) from exc

    if not rows:
        raise ExportFileError(path, "expected a header row, found an empty sheet", where="row 1")
    header = list(rows[0])
    while header and not present(header[-1]):
        header.pop()
    width = len(header)
    data = rows[1:]
    if any(len(row) != width for row in data):
        data = [row[:width] + [None] * (width - len(row)) for row in data]
    return header, data


def _leading_columns(path: Path, header: list[Any]) -> dict[str, int]:
    """Positions of the leading columns, found by name regardless of case."""
    names = [str(h).strip().casefold() if h is not None else "" for h in header]
    positions: dict[str, int] = {}
    for column in LEADING_COLUMNS:
        wanted = column.casefold()
        if wanted not in names:
            found = ", ".join(repr(cell_text(h)) for h in header[:8]) or "nothing"
            raise ExportFileError(
                path, f"expected a column headed {column!r}, found {found}", where="row 1"
            )
        positions[wanted] = names.index(wanted)
    return positions


def _questions(
    headers: list[Any], columns: list[Sequence[Any]], design: Sequence[Question] | None
) -> list[Question]:
    """One question per column: from the design where a label matches, else typed by cells."""
    remaining = list(design or ())
    design_ids = {q.id for q in remaining}
    questions = []
    for position, (header, cells) in enumerate(zip(headers, columns, strict=True), start=1):
        label = cell_text(header).strip() if present(header) else ""
        match = _take_design_question(remaining, label)
        if match is not None:
            questions.append(match)
            continue
        qid = str(position) if str(position) not in design_ids else f"col{position}"
        questions.append(Question(id=qid, type=_KIND_TYPES[column_kind(cells)], label=label))
    return questions


def _take_design_question(remaining: list[Question], label: str) -> Question | None:
    """Remove and return the first unused design question known by `label`."""
    if not label:
        return None
    for matches in (
        lambda q: q.name == label,
        lambda q: q.name.strip().casefold() == label.casefold(),
    ):
        for index, question in enumerate(remaining):
            if matches(question):
                return remaining.pop(index)
    return None
