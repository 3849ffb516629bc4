"""The responses-xlsx reader: headers from the sheet, typed columns, design mapping, refusals."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from proforma_io.errors import ExportFileError
from proforma_io.forms import Choice, FormResponse, Question, User
from proforma_io.readers import read_json_export, read_xlsx_export

SAMPLES = Path(__file__).parent / "data" / "samples"
XLSX = SAMPLES / "hr-onboarding.responses.xlsx"
FIELDS = ["summary", "priority", "customfield_10012"]
UTC = dt.UTC
LEADING = ["Issue Key", "Form Name", "Form Status", "Last Updated"]


@pytest.fixture(scope="module")
def design() -> tuple[Question, ...]:
    """The questions of the JSON sample's newest form."""
    responses = read_json_export(SAMPLES / "hr-onboarding.responses.json").responses
    newest = max(responses, key=lambda r: r.updated or dt.datetime.min.replace(tzinfo=UTC))
    return newest.questions


@pytest.fixture(scope="module")
def plain() -> list[FormResponse]:
    return read_xlsx_export(XLSX, fields=FIELDS)


@pytest.fixture(scope="module")
def mapped(design: tuple[Question, ...]) -> list[FormResponse]:
    return read_xlsx_export(XLSX, fields=FIELDS, design=design)


def write_sheet(path: Path, rows: list[list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def row(issue: str, status: str, *cells: Any) -> list[Any]:
    return [issue, "Form", status, dt.datetime(2026, 1, 2, 3, 4, 5), *cells]


def test_leading_columns_status_and_updated_as_utc(plain: list[FormResponse]) -> None:
    summary = [(r.issue_key, r.status, r.form_name) for r in plain]

    assert summary == [
        ("HR-101", "submitted", "New starter onboarding"),
        ("HR-102", "locked", "New starter onboarding"),
        ("HR-102", "open", "New starter onboarding"),
        ("HR-97", "submitted", "New starter onboarding"),
    ]
    assert plain[1].updated == dt.datetime(2026, 11, 3, 16, 1, 7, tzinfo=UTC)
    assert plain[3].updated == dt.datetime(2026, 10, 20, 11, 30, 0, 500000, tzinfo=UTC)
    assert {(r.model, r.form_id, r.visibility, r.issue_id) for r in plain} == {
        ("xlsx", None, None, None)
    }


def test_jira_field_columns_take_ids_by_position(plain: list[FormResponse]) -> None:
    assert plain[0].fields == {
        "summary": "Onboard Ana Souza",
        "priority": "High",
        "customfield_10012": 2.5,
    }
    assert plain[1].fields["customfield_10012"] is None
    assert plain[0].field_names == {
        "summary": "Summary",
        "priority": "Priority",
        "customfield_10012": "Story Points",
    }


def test_columns_are_typed_by_their_cells_without_design(plain: list[FormResponse]) -> None:
    questions = plain[0].questions
    ana = plain[0].answers

    assert [q.id for q in questions] == [str(n) for n in range(1, 16)]
    assert {q.label: q.type for q in questions if q.type != "ts"} == {
        "Start date": "da",
        "Desk number": "no",
        "Induction session": "dt",
        "Daily start time": "ti",
    }
    assert ana["3"].date == dt.date(2026, 11, 16)
    assert (ana["10"].date, ana["10"].time) == (dt.date(2026, 11, 16), dt.time(9, 30))
    assert ana["11"].time == dt.time(8, 45)
    assert (ana["6"].number, ana["6"].text) == (42.0, "42")
    assert ana["5"].text == "Laptop, Monitor, Standing desk"
    assert ana["13"].text == "Needs VPN token.\nPrefers Linux."
    assert plain[3].answers["1"].text == "山田 太郎"
    assert plain[3].answers["6"].number == 1000000.0


def test_empty_cells_are_no_answer(plain: list[FormResponse]) -> None:
    assert list(plain[2].answers) == ["1"]
    assert "5" not in plain[1].answers and "13" not in plain[1].answers
    assert plain[1].answers["6"].number == -3.0


def test_design_maps_headers_to_questions_and_types(
    mapped: list[FormResponse], design: tuple[Question, ...]
) -> None:
    ana = mapped[0].answers

    assert mapped[0].questions == design
    assert ana["4"].choices == ("1",)
    assert (ana["5"].choices, ana["5"].text) == (("1", "2", "0"), "Standing desk")
    assert ana["14"].choices == ("1", "3")
    assert ana["8"].users == (User(None, "Priya Raman"),)
    assert ana["9"].users == (User(None, "Tomás Ibáñez"), User(None, "Wei Chen"))
    assert mapped[3].answers["5"].choices == ("3",)


def test_multi_choice_cells_split_by_known_labels(tmp_path: Path) -> None:
    tools = Question(
        "7",
        "cm",
        "Tools",
        choices=(
            Choice("1", "Jira"),
            Choice("2", "Jira, admin"),
            Choice("3", "Salesforce, read-only"),
            Choice("0", "Other", other=True),
        ),
    )
    path = write_sheet(
        tmp_path / "tools.xlsx",
        [
            [*LEADING, "Tools"],
            row("A-1", "Open", "Jira, admin, Salesforce, read-only"),
            row("A-2", "Open", "Jira, a pager, Salesforce, read-only"),
            row("A-3", "Open", "Salesforce"),
        ],
    )

    answers = [r.answers["7"] for r in read_xlsx_export(path, design=[tools])]

    assert (answers[0].choices, answers[0].text) == (("2", "3"), None)
    assert (answers[1].choices, answers[1].text) == (("1", "3", "0"), "a pager")
    assert (answers[2].choices, answers[2].text) == (("0",), "Salesforce")


def test_duplicate_labels_are_kept_and_mapped_in_order(tmp_path: Path) -> None:
    design = [
        Question("7", "ts", "Name"),
        Question("9", "no", "Name"),
        Question("4", "ts", "", key="asset_tag"),
    ]
    path = write_sheet(
        tmp_path / "dupes.xlsx",
        [[*LEADING, "Name", "Name", "asset_tag"], row("A-1", "Submitted", "Ada", 5, "LAP-1")],
    )

    without = read_xlsx_export(path)[0]
    with_design = read_xlsx_export(path, design=design)[0]

    assert [(q.id, q.label) for q in without.questions] == [
        ("1", "Name"),
        ("2", "Name"),
        ("3", "asset_tag"),
    ]
    assert [q.id for q in with_design.questions] == ["7", "9", "4"]
    assert with_design.answers["9"].number == 5.0
    assert with_design.answers["4"].text == "LAP-1"


def test_unmapped_header_gets_its_position_unless_a_design_id_holds_it(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "extra.xlsx",
        [[*LEADING, "Known", "New question"], row("A-1", "Open", "x", "y")],
    )

    questions = read_xlsx_export(path, design=[Question("2", "ts", "Known")])[0].questions

    assert [(q.id, q.label) for q in questions] == [("2", "Known"), ("col2", "New question")]


def test_leading_columns_are_found_by_name_in_any_case(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "case.xlsx",
        [
            ["FORM NAME", "issue key", "last updated", "Form status", "Summary", "Q"],
            ["Form", "A-7", "2026-03-04T05:06:07", "LOCKED", "Hello", "answer"],
        ],
    )

    response = read_xlsx_export(path, fields=["summary"])[0]

    assert (response.issue_key, response.status) == ("A-7", "locked")
    assert response.updated == dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert response.fields == {"summary": "Hello"}
    assert response.answers["1"].text == "answer"


def test_date_cells_and_iso_date_text_make_a_date_column(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "dates.xlsx",
        [
            [*LEADING, "Day", "Moment", "Clock", "Count", "Mixed"],
            row("A-1", "Open", dt.datetime(2026, 5, 1), dt.datetime(2026, 5, 1, 7), "7:05", 3, 1),
            row("A-2", "Open", "2026-05-02", "2026-05-02 08:30", "17:45", 2.5, "two"),
            row("A-3", "Open", None, None, None, None, None),
        ],
    )

    responses = read_xlsx_export(path)

    assert [q.type for q in responses[0].questions] == ["da", "dt", "ti", "no", "ts"]
    assert [r.answers["1"].date for r in responses[:2]] == [
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 2),
    ]
    assert responses[1].answers["2"].time == dt.time(8, 30)
    assert [r.answers["3"].time for r in responses[:2]] == [dt.time(7, 5), dt.time(17, 45)]
    assert responses[1].answers["4"].number == 2.5
    assert [r.answers["5"].text for r in responses[:2]] == ["1", "two"]
    assert responses[2].answers == {}


def test_blank_rows_are_skipped(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "blank.xlsx",
        [[*LEADING, "Q"], row("A-1", "Open", "x"), [None, None, "  ", None, None]],
    )

    assert [r.issue_key for r in read_xlsx_export(path)] == ["A-1"]


def test_missing_leading_header_names_the_column(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "nohead.xlsx", [["Issue Key", "Form Name", "Last Updated"]])

    with pytest.raises(ExportFileError, match="'Form Status'") as caught:
        read_xlsx_export(path)

    assert caught.value.where == "row 1"
    assert "nohead.xlsx" in str(caught.value)


def test_too_few_columns_for_the_requested_fields(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "short.xlsx", [[*LEADING, "Summary"]])

    with pytest.raises(ExportFileError, match="expected 2 Jira field columns"):
        read_xlsx_export(path, fields=["summary", "priority"])


def test_unknown_status_names_the_cell(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "status.xlsx", [[*LEADING, "Q"], row("A-1", "Open"), row("A-2", "Pending")]
    )

    with pytest.raises(ExportFileError, match="Pending") as caught:
        read_xlsx_export(path)

    assert caught.value.where == "cell C3"


def test_row_without_issue_key_names_the_cell(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "nokey.xlsx", [[*LEADING, "Q"], row("", "Open", "x")])

    with pytest.raises(ExportFileError) as caught:
        read_xlsx_export(path)

    assert caught.value.where == "cell A2"


@pytest.mark.parametrize(
    "content",
    [b"", b"not a spreadsheet at all", b'{"responses": []}', b"PK\x03\x04 truncated zip"],
)
def test_garbage_is_refused_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.xlsx"
    path.write_bytes(content)

    with pytest.raises(ExportFileError) as caught:
        read_xlsx_export(path)

    assert caught.value.path == path
    assert "garbage.xlsx" in str(caught.value)


def test_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")

    with pytest.raises(ExportFileError, match="expected an XLSX workbook"):
        read_xlsx_export(path)


def write_entity_bomb(tmp_path: Path) -> Path:
    """A workbook whose sheet declares entities and uses one in a cell."""
    source = write_sheet(tmp_path / "source.xlsx", [[*LEADING, "Q"], row("A-1", "Open", "x")])
    bomb = tmp_path / "bomb.xlsx"
    entities = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
    )
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(bomb, "w") as rewritten:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = (entities + data.decode().replace("<t>x</t>", "<t>&lol2;</t>")).encode()
            rewritten.writestr(info, data)
    return bomb


def test_workbook_declaring_entities_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportFileError, match="DTD") as caught:
        read_xlsx_export(write_entity_bomb(tmp_path))

    assert caught.value.where == "xl/worksheets/sheet1.xml"


def test_entities_are_refused_even_when_openpyxl_skips_defusedxml(tmp_path: Path) -> None:
    bomb = write_entity_bomb(tmp_path)
    script = (
        "import sys, openpyxl\n"
        "from pathlib import Path\n"
        "from proforma_io.errors import ExportFileError\n"
        "from proforma_io.readers import read_xlsx_export\n"
        "assert openpyxl.DEFUSEDXML is False\n"
        "try:\n"
        "    read_xlsx_export(Path(sys.argv[1]))\n"
        "except ExportFileError as exc:\n"
        "    print(exc.where)\n"
    )
    environment = {**os.environ, "OPENPYXL_DEFUSEDXML": "False"}

    result = subprocess.run(
        [sys.executable, "-c", script, str(bomb)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip() == "xl/worksheets/sheet1.xml"


def test_openpyxl_parses_with_defusedxml() -> None:
    from openpyxl.xml import functions

    assert openpyxl.DEFUSEDXML is True
    assert functions.iterparse.__module__.startswith("defusedxml")


def test_reading_never_loads_openpyxl() -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from proforma_io.readers import read_xlsx_export\n"
        "responses = read_xlsx_export(Path(sys.argv[1]))\n"
        "print(len(responses), 'openpyxl' in sys.modules)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(XLSX)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.split() == ["4", "False"]


def test_cell_positions_count_from_a1_around_an_empty_first_column(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "offset.xlsx",
        [[None, *LEADING, "Q"], [None, *row("A-1", "Open", "x")], [None, *row("A-2", "Maybe")]],
    )

    with pytest.raises(ExportFileError, match="Maybe") as caught:
        read_xlsx_export(path)

    assert caught.value.where == "cell D3"


def test_time_cells_and_serial_numbers_are_read_as_times(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "times.xlsx",
        [
            [*LEADING, "Clock", "Shift length"],
            ["A-1", "Form", "Open", 46023.75, dt.time(7, 5), dt.timedelta(hours=8, minutes=30)],
            ["A-2", "Form", "Open", 46024.0, dt.time(17, 45, 30), None],
        ],
    )

    responses = read_xlsx_export(path)

    assert [r.updated for r in responses] == [
        dt.datetime(2026, 1, 1, 18, 0, tzinfo=UTC),
        dt.datetime(2026, 1, 2, 0, 0, tzinfo=UTC),
    ]
    assert [q.type for q in responses[0].questions] == ["ti", "ti"]
    assert [r.answers["1"].time for r in responses] == [dt.time(7, 5), dt.time(17, 45, 30)]
    assert responses[0].answers["2"].time == dt.time(8, 30)


def test_field_cells_keep_whole_numbers_as_integers_and_empty_as_none(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "fields.xlsx",
        [
            [*LEADING, "Story Points", "Due", "Summary"],
            row("A-1", "Open", 8, dt.date(2026, 7, 1), "Fix it"),
            row("A-2", "Open", 2.5, None, None),
        ],
    )

    responses = read_xlsx_export(path, fields=["customfield_10012", "duedate", "summary"])

    assert [r.fields for r in responses] == [
        {"customfield_10012": 8, "duedate": "2026-07-01", "summary": "Fix it"},
        {"customfield_10012": 2.5, "duedate": None, "summary": None},
    ]
    assert isinstance(responses[0].fields["customfield_10012"], int)


def test_equal_cells_share_one_answer(tmp_path: Path) -> None:
    path = write_sheet(
        tmp_path / "shared.xlsx",
        [
            [*LEADING, "Team", "Size"],
            row("A-1", "Open", "Ops", 3),
            row("A-2", "Open", "Ops", 3.0),
            row("A-3", "Open", "Dev", None),
        ],
    )

    first, second, third = (r.answers for r in read_xlsx_export(path))

    assert first["1"] is second["1"] and first["1"].text == "Ops"
    assert first["2"] is second["2"] and first["2"].number == 3.0
    assert third["1"].text == "Dev" and "2" not in third
