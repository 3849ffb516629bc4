"""Reader of `responses-xlsx` export files: one sheet, a header row, one row per form response.

The leading columns (Issue Key, Form Name, Form Status, Last Updated) are found by name; the
requested Jira fields follow in request order, then one column per question headed by its label.
Without a design, each question column is typed by what all its cells hold; with a design (the
questions of an earlier JSON export), columns map to questions by label and take their type.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel

from proforma_io.errors import ExportFileError, truncate
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
    FormResponse,
    FormStatus,
    Question,
    User,
)
from proforma_io.readers.json_forms import parse_timestamp

LEADING_COLUMNS = ("Issue Key", "Form Name", "Form Status", "Last Updated")
SEPARATOR = ", "

_STATUS: dict[str, FormStatus] = {
    "open": "open",
    "o": "open",
    "submitted": "submitted",
    "s": "submitted",
    "locked": "locked",
    "l": "locked",
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")
_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_KIND_TYPES = {"date": "da", "datetime": "dt", "time": "ti", "number": "no", "text": "ts"}
_PROLOG_LIMIT = 1 << 20


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
    _refuse_xml_declarations(path)
    header, rows = _read_sheet(path)

    leading = _leading_columns(path, header)
    first_question = max(leading.values()) + 1 + len(fields)
    if len(header) < first_question:
        found = len(header) - max(leading.values()) - 1
        raise ExportFileError(
            path,
            f"expected {len(fields)} Jira field columns after the leading columns, found {found}",
            where=f"row 1, column {get_column_letter(len(header) + 1)}",
        )
    field_columns = dict(
        zip(fields, range(first_question - len(fields), first_question), strict=True)
    )
    field_names = {fid: _cell_text(header[col]) for fid, col in field_columns.items()}

    columns = range(first_question, len(header))
    questions = _questions(
        [header[c] for c in columns], [[r[c] for r in rows] for c in columns], design
    )
    sheet = _Sheet(
        path, leading, field_columns, field_names, dict(zip(columns, questions, strict=True))
    )
    return [
        sheet.response(row, number)
        for number, row in enumerate(rows, start=2)
        if any(_present(v) for v in row)
    ]


class _Sheet:
    """The column layout of one sheet, turning its rows into `FormResponse`s."""

    def __init__(
        self,
        path: Path,
        leading: dict[str, int],
        field_columns: dict[str, int],
        field_names: dict[str, str],
        question_columns: dict[int, Question],
    ) -> None:
        self.path = path
        self.leading = leading
        self.field_columns = field_columns
        self.field_names = field_names
        self.question_columns = question_columns
        self.questions = tuple(question_columns.values())

    def response(self, row: tuple[Any, ...], number: int) -> FormResponse:
        """The form response of sheet row `number`."""
        issue_key = row[self.leading["issue key"]]
        if not isinstance(issue_key, str) or not issue_key.strip():
            raise self._fail(number, self.leading["issue key"], "expected an issue key", issue_key)

        answers = {
            question.id: _answer(question, row[col])
            for col, question in self.question_columns.items()
            if _present(row[col])
        }
        return FormResponse(
            issue_key=issue_key.strip(),
            issue_id=None,
            fields={fid: _field_value(row[col]) for fid, col in self.field_columns.items()},
            form_id=None,
            form_name=_optional_text(row[self.leading["form name"]]),
            model="xlsx",
            status=self._status(row, number),
            visibility=None,
            updated=self._updated(row, number),
            template_id=None,
            questions=self.questions,
            answers=answers,
            field_names=self.field_names,
        )

    def _status(self, row: tuple[Any, ...], number: int) -> FormStatus:
        col = self.leading["form status"]
        status = _STATUS.get(str(row[col] or "").strip().lower())
        if status is None:
            raise self._fail(number, col, "expected Open, Submitted or Locked", row[col])
        return status

    def _updated(self, row: tuple[Any, ...], number: int) -> dt.datetime | None:
        # The sheet's times carry no zone; ProForma stores them in UTC.
        col = self.leading["last updated"]
        value = row[col]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = from_excel(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        try:
            return parse_timestamp(value)
        except ValueError:
            raise self._fail(number, col, "expected a date and time", value) from None

    def _fail(self, number: int, col: int, expected: str, found: Any) -> ExportFileError:
        cell = f"cell {get_column_letter(col + 1)}{number}"
        return ExportFileError(self.path, f"{expected}, found {_describe(found)}", where=cell)


def _refuse_xml_declarations(path: Path) -> None:
    """Refuse a workbook whose XML parts declare a DTD (entity expansion, external entities).

    openpyxl parses with defusedxml when it is installed and OPENPYXL_DEFUSEDXML is not turned
    off; this check guards the same attacks either way, reading only each part's prolog.
    """
    # Limitation: decompressed part sizes are not capped, so a crafted archive whose shared
    # strings inflate to gigabytes is only stopped by the machine's memory.
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as part:
                    if _declares_dtd(part):
                        raise ExportFileError(
                            path, "refused: the XML part declares a DTD", where=info.filename
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ExportFileError(path, f"expected an XLSX workbook (a zip archive): {exc}") from exc
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ExportFileError(path, f"cannot read the workbook: {exc}") from exc


def _declares_dtd(part: IO[bytes]) -> bool:
    """Whether an XML part has a DTD or other markup declaration before its root element."""
    raw = b""
    while len(raw) < _PROLOG_LIMIT:
        chunk = part.read(1 << 16)
        raw += chunk
        verdict = _prolog_verdict(_decode(raw))
        if verdict is not None:
            return verdict
        if not chunk:
            return False
    return True


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif raw.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif raw.startswith(b"\x00<"):
        encoding = "utf-16-be"
    else:
        encoding = "utf-8-sig"
    return codecs.decode(raw, encoding, errors="ignore")


def _prolog_verdict(text: str) -> bool | None:
    """True if a declaration precedes the root element, False if none does, None if unsure yet."""
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if len(text) - i < 9:
            return None
        if text.startswith("<?", i):
            opening, closing = "<?", "?>"
        elif text.startswith("<!--", i):
            opening, closing = "<!--", "-->"
        else:
            return text.startswith("<!", i)
        end = text.find(closing, i + len(opening))
        if end < 0:
            return None
        i = end + len(closing)


def _read_sheet(path: Path) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """The header row (trailing blank cells dropped) and the data rows, padded to its width."""
    # Limitation: every cell value is held in memory, since a column's type depends on all of
    # its cells; a sheet of 100,000 rows by 30 columns needs a few hundred megabytes.
    row_number = 0
    try:
        with path.open("rb") as handle:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            try:
                sheet = workbook.worksheets[0]
                rows = []
                for row in sheet.iter_rows(values_only=True):
                    rows.append(row)
                    row_number += 1
            finally:
                workbook.close()
    except Exception as exc:
        # openpyxl raises many kinds of errors for a damaged file; all mean "unreadable".
        where = f"row {row_number + 1}" if row_number else None
        problem = f"expected an XLSX workbook, could not read it: {type(exc).__name__}: {exc}"
        raise ExportFileError(path, truncate(problem), where=where) from exc

    if not rows:
        raise ExportFileError(path, "expected a header row, found an empty sheet", where="row 1")
    header = list(rows[0])
    while header and not _present(header[-1]):
        header.pop()
    width = len(header)
    padded = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows[1:]]
    return header, padded


def _leading_columns(path: Path, header: list[Any]) -> dict[str, int]:
    """Positions of the leading columns, found by name regardless of case."""
    names = [str(h).strip().casefold() if h is not None else "" for h in header]
    positions: dict[str, int] = {}
    for column in LEADING_COLUMNS:
        wanted = column.casefold()
        if wanted not in names:
            found = ", ".join(repr(_cell_text(h)) for h in header[:8]) or "nothing"
            raise ExportFileError(
                path, f"expected a column headed {column!r}, found {found}", where="row 1"
            )
        positions[wanted] = names.index(wanted)
    return positions


def _questions(
    headers: list[Any], columns: list[list[Any]], design: Sequence[Question] | None
) -> list[Question]:
    """One question per column: from the design where a label matches, else typed by cells."""
    remaining = list(design or ())
    design_ids = {q.id for q in remaining}
    questions = []
    for position, (header, cells) in enumerate(zip(headers, columns, strict=True), start=1):
        label = _cell_text(header).strip() if _present(header) else ""
        match = _take_design_question(remaining, label)
        if match is not None:
            questions.append(match)
            continue
        qid = str(position) if str(position) not in design_ids else f"col{position}"
        questions.append(Question(id=qid, type=_KIND_TYPES[_column_kind(cells)], label=label))
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


def _column_kind(cells: list[Any]) -> str:
    """What every non-empty cell of a column holds: date, datetime, time, number or text."""
    kinds = {_cell_kind(v) for v in cells if _present(v)}
    if not kinds or not kinds <= {"date", "datetime", "time", "number"}:
        return "text"
    if kinds <= {"date"}:
        return "date"
    if kinds <= {"date", "datetime"}:
        return "datetime"
    return kinds.pop() if len(kinds) == 1 else "text"


def _cell_kind(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return "datetime" if value.time() != dt.time() else "date"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, int | float) and not isinstance(value, bool):
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


def _answer(question: Question, value: Any) -> Answer:
    """The answer a cell gives to `question`, typed by the question's type."""
    kind = question.type
    if kind in CHOICE_TYPES:
        return _choice_answer(question, _cell_text(value))
    if kind in USER_TYPES:
        text = _cell_text(value)
        names = text.split(SEPARATOR) if kind == "um" else [text]
        return Answer(users=tuple(User(id=None, name=n.strip()) for n in names))
    if kind in NUMBER_TYPES and isinstance(value, int | float) and not isinstance(value, bool):
        return Answer(text=_cell_text(value), number=float(value))
    if kind in DATE_TYPES:
        return Answer(date=_as_date(value))
    if kind in DATETIME_TYPES:
        moment = _as_datetime(value)
        if moment is None:
            return Answer(text=_cell_text(value))
        return Answer(date=moment.date(), time=moment.time())
    if kind in TIME_TYPES:
        return Answer(time=_as_time(value))
    return Answer(text=_cell_text(value))


def _choice_answer(question: Question, text: str) -> Answer:
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


def _next_label_boundary(text: str, position: int, labels: list[Any]) -> int:
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


def _as_date(value: Any) -> dt.date | str:
    """A date from a date cell or ISO date text; other text is kept as it is."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _cell_text(value).strip()
    try:
        return dt.date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else text
    except ValueError:
        return text


def _as_datetime(value: Any) -> dt.datetime | None:
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


def _as_time(value: Any) -> dt.time | str:
    """A time from a time cell or `HH:MM` text; other text is kept as it is."""
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    text = _cell_text(value).strip()
    if not _CLOCK_TIME.fullmatch(text):
        return text
    try:
        hour, minute, *second = (int(part) for part in text.split(":"))
        return dt.time(hour, minute, second[0] if second else 0)
    except ValueError:
        return text


def _field_value(value: Any) -> Any:
    """A Jira field cell as the JSON export would give it: dates as ISO text."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _cell_text(value: Any) -> str:
    """A cell's value as text: whole numbers without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M") if not value.second else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _optional_text(value: Any) -> str | None:
    return _cell_text(value) if _present(value) else None


def _present(value: Any) -> bool:
    """Whether a cell holds a value; empty and blank text count as no value."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _describe(value: Any) -> str:
    return "an empty cell" if not _present(value) else repr(truncate(_cell_text(value), 80))
