"""Hostile export files: each is refused with an error naming the file and the place, or its odd
values are set aside in the quarantine and counted. Either way the raw file stays in the
landing folder, and a refused file leaves the previous load in the lake and warehouse intact.

Files travel the real path where the sandbox can serve them (odd values in JSON exports, any
bytes as a recorded XLSX export); JSON that the sandbox cannot write (malformed, wrong shape)
is landed as the export job lands a download.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from proforma_io import quality
from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.config import ExportSettings, PollingSettings
from proforma_io.errors import ExportFileError
from proforma_io.landing import CompletedExport, Landing
from proforma_io.load import export_project, load_warehouse, normalise_project, write_lake
from proforma_io.quarantine import MAX_TEXT_CHARS
from proforma_io.sandbox import Sandbox, SandboxData
from proforma_io.writers.parquet import read_project

HR_JSON = [ExportSettings(project="HR", template=3, table="hr_onboarding")]
HR_XLSX = [ExportSettings(project="HR", template=3, format="xlsx", table="hr_onboarding")]
POLLING = PollingSettings(initial_interval_seconds=0.02, max_interval_seconds=0.05)
MEGABYTES = 5 * 1024 * 1024
HUGE = b"z" * MEGABYTES
SHEET = "xl/worksheets/sheet1.xml"
BAD_DESIGN = {"questions": [{"id": 1}]}


@dataclass(frozen=True)
class Stores:
    landing: Landing
    lake: Path
    warehouse: str


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=11, issues_per_project=3)
    with Sandbox(data, export_seconds=0.02).running() as running:
        yield running


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    return Stores(
        Landing(tmp_path / "landing"), tmp_path / "lake", f"sqlite:///{tmp_path / 'dw.db'}"
    )


def export(sandbox: Sandbox, stores: Stores, exports: list[ExportSettings]) -> None:
    admin = BasicCredentials("admin", "admin")
    with ProformaClient(sandbox.base_url, credentials=admin) as client:
        export_project(client, exports, stores.landing, POLLING)


def load(stores: Stores, exports: list[ExportSettings]) -> None:
    """The steps after the export, as the lake and warehouse assets run them."""
    tables = normalise_project("HR", exports, stores.landing)
    write_lake(stores.lake, tables)
    load_warehouse(stores.warehouse, stores.lake, "HR")


def snapshot(stores: Stores) -> dict[str, Any]:
    """The project's lake tables and warehouse rows, to compare before and after."""
    tables = read_project(stores.lake, "HR")
    engine = sa.create_engine(stores.warehouse)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM answers ORDER BY response_id")).all()
    engine.dispose()
    return {
        "export_ids": tables.export_ids,
        "answers": tables.core["answers"].to_dict("records"),
        "warehouse": [tuple(row) for row in rows],
    }


def quarantine_of(stores: Stores) -> pd.DataFrame:
    path = stores.lake / "quarantine" / "project_key=HR" / "part-0.parquet"
    return pq.read_table(path).to_pandas()


def assert_refused_and_kept(
    stores: Stores, exports: list[ExportSettings], before: dict[str, Any], problem: str
) -> ExportFileError:
    """The load is refused naming the landed file; the file stays, the previous load too."""
    landed = stores.landing.latest("HR", 3)

    with pytest.raises(ExportFileError) as caught:
        load(stores, exports)

    assert caught.value.path == landed.path
    assert str(caught.value).startswith(str(landed.path))
    assert problem in caught.value.problem
    assert hashlib.sha256(landed.path.read_bytes()).hexdigest() == landed.sha256
    assert snapshot(stores) == before
    return caught.value


# Odd values: set aside, counted, named


def test_odd_values_are_quarantined_with_file_place_and_reason_and_the_rest_loads(
    sandbox: Sandbox, stores: Stores
) -> None:
    forms = {(issue.key, form.id): form.document for issue, form in sandbox.data.forms("HR", 3)}
    first, second = forms[("HR-101", 1)], forms[("HR-102", 1)]
    huge = "x" * MEGABYTES
    first["state"]["answers"]["6"] = {"text": "NaN"}
    second["state"]["answers"]["6"] = {"text": float("inf")}
    first["state"]["answers"]["13"] = {"text": huge}
    first["state"]["answers"]["99"] = {"text": "answer to no question"}
    first["design"]["questions"]["12"]["type"] = "zz"
    sandbox.data.issue("HR-101").fields["customfield_10012"] = float("-inf")
    exports = [HR_JSON[0].model_copy(update={"fields": ("customfield_10012",)})]

    export(sandbox, stores, exports)
    load(stores, exports)

    landed = stores.landing.latest("HR", 3)
    assert landed.size_bytes > MEGABYTES  # the raw file keeps the whole text
    quarantined = quarantine_of(stores)
    assert set(quarantined["file"]) == {str(landed.path)}
    assert set(quarantined["export_id"]) == {landed.export_id}
    by_place = {row.place: (row.kind, row.reason) for row in quarantined.itertuples()}
    assert by_place == {
        "response HR-101/1, question 6": (
            "unreadable",
            "expected a finite number, found 'NaN'; kept as text",
        ),
        "response HR-102/1, question 6": (
            "unreadable",
            "expected a finite number, found 'Infinity'; kept as text",
        ),
        "response HR-101/1, question 13": (
            "too_long",
            f"text of {MEGABYTES:,} characters cut to {MAX_TEXT_CHARS:,}",
        ),
        "response HR-101/1, question 99": (
            "missing_question",
            "answers question 99, which its form's design does not have; kept without its own "
            "label and type",
        ),
        "response HR-101/1, question 12": (
            "unknown_type",
            "question type 'zz' is unknown; the answer is kept as text",
        ),
        "issue HR-101, Jira field customfield_10012": (
            "unreadable",
            "expected a finite number, found -inf; kept as text",
        ),
    }

    tables = read_project(stores.lake, "HR")
    answers = tables.core["answers"].set_index(["response_id", "question_id"])
    assert answers.loc[("HR-101/1", "13"), "value_text"] == "x" * MAX_TEXT_CHARS
    assert answers.loc[("HR-101/1", "6"), "value_text"] == "NaN"
    assert pd.isna(answers.loc[("HR-102/1", "6"), "value_number"])
    assert answers.loc[("HR-101/1", "99"), "value_text"] == "answer to no question"
    assert len(tables.core["responses"]) == 4
    assert tables.wide["hr_onboarding"]["notes_for_it"].str.len().max() == MAX_TEXT_CHARS


def test_quarantined_values_check_counts_every_kind(sandbox: Sandbox, stores: Stores) -> None:
    forms = {(issue.key, form.id): form.document for issue, form in sandbox.data.forms("HR", 3)}
    forms[("HR-101", 1)]["state"]["answers"]["6"] = {"text": "NaN"}
    forms[("HR-101", 1)]["state"]["answers"]["98"] = {"text": "orphan"}
    forms[("HR-102", 1)]["state"]["answers"]["13"] = {"text": "y" * (MAX_TEXT_CHARS + 1)}

    export(sandbox, stores, HR_JSON)
    outcome = quality.quarantined_values(normalise_project("HR", HR_JSON, stores.landing))

    assert not outcome.passed
    assert outcome.counts == {
        "template 3: Desk number": 1,
        "missing_question": 1,
        "too_long": 1,
    }
    assert "2 other values were set aside" in outcome.summary


# Files that cannot be read: refused, named, kept


def land(stores: Stores, content: bytes, export_id: str) -> None:
    """Land `content` as the export job lands a download."""
    now = datetime.now(UTC)
    completed = CompletedExport(
        project_key="HR",
        template_id=3,
        format="json",
        export_type="responses-json",
        export_id=export_id,
        started_at=now,
        completed_at=now,
        wait_seconds=0,
        polls=1,
    )

    def write(dest: io.RawIOBase) -> int:
        dest.write(content)
        return len(content)

    stores.landing.receive(completed, "ProForma-HR-form-3.json", write)  # type: ignore[arg-type]


@pytest.fixture
def loaded(sandbox: Sandbox, stores: Stores) -> dict[str, Any]:
    """A good JSON load of HR, the state every refused file must leave alone."""
    export(sandbox, stores, HR_JSON)
    load(stores, HR_JSON)
    return snapshot(stores)


def test_malformed_json_is_refused_naming_the_file_line_and_column(
    stores: Stores, loaded: dict[str, Any]
) -> None:
    land(stores, b'{"responses": [{"issueKey": "HR-1",\n  "form": {"id": 1,, }}]}', "bad-1")

    error = assert_refused_and_kept(stores, HR_JSON, loaded, "malformed JSON")

    assert error.where is not None and error.where.startswith("line 2 column ")


@pytest.mark.parametrize(
    ("document", "where", "problem"),
    [
        ({"responses": [{"issueKey": "HR-1", "form": [1, 2]}]}, "$", "found no form"),
        (
            {"responses": [{"issueKey": "HR-1", "form": {"design": BAD_DESIGN, "state": {}}}]},
            "$.responses[0].form.design.questions",
            "expected an object, found a list",
        ),
        ("just text", "$", "expected an object or a list of form responses"),
    ],
    ids=["form-is-a-list", "questions-is-a-list", "a-string"],
)
def test_json_of_the_wrong_shape_is_refused_naming_the_place(
    stores: Stores, loaded: dict[str, Any], document: Any, where: str, problem: str
) -> None:
    land(stores, json.dumps(document).encode(), "bad-2")

    error = assert_refused_and_kept(stores, HR_JSON, loaded, problem)

    assert error.where == where


def workbook(sandbox: Sandbox, stores: Stores) -> bytes:
    """A good XLSX export of HR, loaded as the previous state; its bytes to spoil."""
    export(sandbox, stores, HR_XLSX)
    load(stores, HR_XLSX)
    return stores.landing.latest("HR", 3).path.read_bytes()


def rewritten(content: bytes, change: Any, part: str | None = None) -> bytes:
    """The workbook with `change` applied to one part's bytes (or to every part's)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, change(data) if part in (None, info.filename) else data)
    return out.getvalue()


def with_dtd(xml: bytes) -> bytes:
    """The XML part with a DTD declaring nested entities ("billion laughs") before its root."""
    laughs = b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    declaration, separator, rest = xml.partition(b"?>")
    if xml.startswith(b"<?xml") and separator:
        return declaration + separator + laughs + rest
    return b'<?xml version="1.0" encoding="UTF-8"?>' + laughs + xml


def declaring(size: int, content: bytes, part: str) -> bytes:
    """The workbook with the archive directory claiming `size` unpacked bytes for `part`."""
    patched = bytearray(content)
    offset = patched.find(b"PK\x01\x02")
    while offset >= 0:
        name_length = struct.unpack_from("<H", patched, offset + 28)[0]
        name = bytes(patched[offset + 46 : offset + 46 + name_length]).decode()
        if name == part:
            struct.pack_into("<I", patched, offset + 24, size)
        offset = patched.find(b"PK\x01\x02", offset + 46)
    return bytes(patched)


def serve_next(sandbox: Sandbox, content: bytes) -> None:
    """The next XLSX export of HR template 3 is these bytes, as a replayed file is."""
    template = sandbox.data.template("HR", 3)
    assert template is not None
    template.recorded_xlsx = content


def test_workbook_declaring_entities_is_refused_naming_the_part(
    sandbox: Sandbox, stores: Stores
) -> None:
    good = workbook(sandbox, stores)
    before = snapshot(stores)
    serve_next(sandbox, rewritten(good, with_dtd, SHEET))

    export(sandbox, stores, HR_XLSX)
    error = assert_refused_and_kept(stores, HR_XLSX, before, "declares a DTD")

    assert error.where == SHEET


def test_corrupt_workbook_is_refused_naming_the_file(sandbox: Sandbox, stores: Stores) -> None:
    good = workbook(sandbox, stores)
    before = snapshot(stores)
    serve_next(sandbox, good[: len(good) // 2])

    export(sandbox, stores, HR_XLSX)

    assert_refused_and_kept(stores, HR_XLSX, before, "expected an XLSX workbook")


def test_workbook_unpacking_to_gigabytes_is_refused_before_it_is_unpacked(
    sandbox: Sandbox, stores: Stores
) -> None:
    good = workbook(sandbox, stores)
    before = snapshot(stores)
    serve_next(sandbox, declaring(3 << 30, good, SHEET))

    export(sandbox, stores, HR_XLSX)
    error = assert_refused_and_kept(stores, HR_XLSX, before, "refused: the workbook unpacks to")

    assert error.where == SHEET
    assert "more than the 1,073,741,824 allowed" in error.problem


def test_cell_of_several_megabytes_in_a_workbook_is_cut_and_counted(
    sandbox: Sandbox, stores: Stores
) -> None:
    book = openpyxl.load_workbook(io.BytesIO(workbook(sandbox, stores)))
    sheet = book.active
    assert sheet is not None
    headers = [cell.value for cell in sheet[1]]
    # openpyxl cuts a cell to Excel's 32,767 characters, so the megabytes go into the XML.
    sheet.cell(row=2, column=headers.index("Notes for IT") + 1, value="HUGE-CELL")
    issue_key = sheet.cell(row=2, column=headers.index("Issue Key") + 1).value
    out = io.BytesIO()
    book.save(out)
    serve_next(sandbox, rewritten(out.getvalue(), lambda xml: xml.replace(b"HUGE-CELL", HUGE)))

    export(sandbox, stores, HR_XLSX)
    load(stores, HR_XLSX)

    quarantined = quarantine_of(stores)
    assert quarantined[["kind", "reason"]].values.tolist() == [
        ["too_long", f"text of {MEGABYTES:,} characters cut to {MAX_TEXT_CHARS:,}"]
    ]
    assert quarantined["place"][0].startswith(f"response {issue_key}/row1, question ")
    answers = read_project(stores.lake, "HR").core["answers"]
    assert answers["value_text"].str.len().max() == MAX_TEXT_CHARS
    assert stores.landing.latest("HR", 3).size_bytes > 10_000
