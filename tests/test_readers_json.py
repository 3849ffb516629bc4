"""The responses-json reader: forms found by shape, both form versions, errors that point."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from proforma_io.errors import ExportFileError
from proforma_io.forms import Choice, User
from proforma_io.readers import read_json_export
from proforma_io.readers.json_forms import parse_timestamp
from proforma_io.readers.json_stream import JsonStream, JsonStreamError

SAMPLES = Path(__file__).parent / "data" / "samples"
HR = SAMPLES / "hr-onboarding.responses.json"
OPS = SAMPLES / "ops-legacy-v1.responses.json"
ITSD = SAMPLES / "itsd-newer-shapes.responses.json"
UTC = dt.UTC


@pytest.fixture(scope="module")
def hr_document() -> dict[str, Any]:
    return json.loads(HR.read_text(encoding="utf-8"))


def write_json(tmp_path: Path, document: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def by_key(responses: list[Any]) -> dict[tuple[str, int | None], Any]:
    return {(r.issue_key, r.form_id): r for r in responses}


def test_hr_sample_envelope_and_four_responses_with_status_and_visibility() -> None:
    export = read_json_export(HR)

    assert export.project_key == "HR"
    assert export.template_id == 3
    assert export.export_type == "responses-json"
    assert export.exported == dt.datetime(2026, 11, 6, 2, 0, 4, tzinfo=UTC)
    summary = [(r.issue_key, r.form_id, r.status, r.visibility) for r in export.responses]
    assert summary == [
        ("HR-101", 1, "submitted", "external"),
        ("HR-102", 1, "locked", "internal"),
        ("HR-102", 3, "open", "internal"),
        ("HR-97", 1, "submitted", "external"),
    ]
    assert {(r.model, r.template_id, r.form_name) for r in export.responses} == {
        ("v2", 3, "New starter onboarding")
    }


def test_updated_keeps_fractions_of_any_length_in_utc() -> None:
    responses = by_key(read_json_export(HR).responses)

    assert responses["HR-101", 1].updated == dt.datetime(2026, 11, 2, 9, 14, 55, 120341, UTC)
    assert responses["HR-97", 1].updated == dt.datetime(2026, 10, 20, 11, 30, 0, 500000, UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-20T11:30:00.5Z", dt.datetime(2026, 10, 20, 11, 30, 0, 500000, UTC)),
        ("2026-10-20T11:30:00.123456789Z", dt.datetime(2026, 10, 20, 11, 30, 0, 123456, UTC)),
        ("2026-10-20T13:30:00+02:00", dt.datetime(2026, 10, 20, 11, 30, tzinfo=UTC)),
        ("2026-10-20T11:30:00", dt.datetime(2026, 10, 20, 11, 30, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamps_parse_to_utc(text: str | None, expected: dt.datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_v2_answers_keep_their_stored_shapes() -> None:
    responses = by_key(read_json_export(HR).responses)
    ana = responses["HR-101", 1].answers

    assert ana["1"].text == "Ana Souza"
    assert ana["3"].date == "2026-11-16"
    assert (ana["10"].date, ana["10"].time) == ("2026-11-16", "09:30")
    assert ana["5"].choices == ("1", "2", "0")
    assert ana["5"].text == "Standing desk"
    assert ana["9"].users == (
        User("JIRAUSER10230", "Tomás Ibáñez"),
        User("JIRAUSER10231", "Wei Chen"),
    )
    assert ana["13"].text == "Needs VPN token.\nPrefers Linux."
    assert responses["HR-102", 1].answers["5"].choices == ()
    assert responses["HR-102", 1].answers["13"].text == ""
    assert list(responses["HR-102", 3].answers) == ["1"]


def test_v2_questions_carry_choices_keys_and_jira_fields() -> None:
    ana = by_key(read_json_export(HR).responses)["HR-101", 1]
    questions = {q.id: q for q in ana.questions}

    assert [q.id for q in ana.questions] == [str(n) for n in range(1, 16)]
    assert questions["1"].key == "employee_name"
    assert questions["5"].other_choice == Choice("0", "Other", other=True)
    assert questions["14"].choices[2] == Choice("3", "Salesforce, read-only")
    assert questions["15"].jira_field == "customfield_10040"
    assert questions["2"].key is None


def test_older_design_copy_lacks_questions_added_later() -> None:
    yamada = by_key(read_json_export(HR).responses)["HR-97", 1]

    assert [q.id for q in yamada.questions] == [str(n) for n in range(1, 14)]
    assert yamada.answers["1"].text == "山田 太郎"


def test_question_order_follows_layout_then_unlisted_questions(
    tmp_path: Path, hr_document: dict[str, Any]
) -> None:
    entry = copy.deepcopy(hr_document["responses"][0])
    content = entry["form"]["design"]["layout"][0]["content"]
    entry["form"]["design"]["layout"] = [
        {"type": "doc", "content": [{"type": "paragraph", "content": [content[2]]}]},
        {"type": "doc", "content": [content[0]]},
    ]

    response = read_json_export(write_json(tmp_path, [entry])).responses[0]

    order = [q.id for q in response.questions]
    assert order[:2] == ["3", "1"]
    assert order[2:] == ["2", *[str(n) for n in range(4, 16)]]


def test_legacy_v1_forms_answers_from_questions() -> None:
    export = read_json_export(OPS)
    responses = by_key(export.responses)
    billing = responses["OPS-12", 1]

    assert (billing.model, billing.status, billing.visibility) == ("v1", "submitted", "internal")
    assert billing.template_id == 7
    assert [(q.id, q.type, q.label) for q in billing.questions] == [
        ("2", "ts", "System"),
        ("3", "tl", "Business reason"),
        ("4", "pg", "Anything else?"),
    ]
    assert {q.id: q.jira_field for q in billing.questions} == {
        "2": None,
        "3": "summary",
        "4": "description",
    }
    assert {qid: a.text for qid, a in billing.answers.items()} == {
        "2": "Billing",
        "3": "Quarter-end close work",
        "4": "Needs it by Friday",
    }


def test_legacy_open_external_form_with_empty_updated() -> None:
    vpn = by_key(read_json_export(OPS).responses)["OPS-15", 2]

    assert (vpn.status, vpn.visibility, vpn.updated) == ("open", "external", None)
    assert vpn.answers["4"].text == ""
    assert vpn.fields == {"summary": "VPN"}


def test_newer_shapes_rich_text_users_without_names_and_blank_labels() -> None:
    responses = by_key(read_json_export(ITSD).responses)
    printer = responses["ITSD-4402", 1]

    assert printer.answers["1"].adf["type"] == "doc"
    assert printer.answers["2"].text == "20"
    assert printer.answers["3"].choices == ("1",)
    assert printer.answers["4"].users == (User("712020:73aa41f2-1c37-4e5b-9d27-2b3c4d5e6f70"),)
    asset = printer.questions[4]
    assert (asset.label, asset.key, asset.name) == ("", "asset_tag", "asset_tag")
    assert responses["ITSD-4403", 1].answers["1"].adf == {
        "version": 1,
        "type": "doc",
        "content": [],
    }


def test_bare_list_of_entries_is_read(tmp_path: Path, hr_document: dict[str, Any]) -> None:
    export = read_json_export(write_json(tmp_path, hr_document["responses"]))

    assert [r.issue_key for r in export.responses] == ["HR-101", "HR-102", "HR-102", "HR-97"]
    assert export.project_key is None


def test_form_under_another_key_and_nested_issue_are_found(
    tmp_path: Path, hr_document: dict[str, Any]
) -> None:
    entry = hr_document["responses"][0]
    reshaped = {
        "issue": {"key": "HR-101", "id": "10101", "fields": entry["fields"]},
        "proformaForm": entry["form"],
    }

    response = read_json_export(write_json(tmp_path, {"items": [reshaped]})).responses[0]

    assert (response.issue_key, response.issue_id, response.form_id) == ("HR-101", "10101", 1)
    assert response.fields["customfield_10012"] == 2.5
    assert response.answers["4"].choices == ("1",)


def test_entry_with_its_form_flattened_into_it(tmp_path: Path, hr_document: dict[str, Any]) -> None:
    entry = hr_document["responses"][1]
    flattened = {"issueKey": entry["issueKey"], "issueId": entry["issueId"], **entry["form"]}

    response = read_json_export(write_json(tmp_path, {"responses": [flattened]})).responses[0]

    assert (response.issue_key, response.form_id, response.status) == ("HR-102", 1, "locked")
    assert response.extra == {}


def test_unknown_keys_are_kept_in_extra(tmp_path: Path, hr_document: dict[str, Any]) -> None:
    document = copy.deepcopy(hr_document)
    document["exportVersion"] = "2.1"
    entry = document["responses"][0]
    entry["renderedFields"] = {"summary": "<p>Onboard</p>"}
    entry["form"]["lockedBy"] = "JIRAUSER1"
    entry["form"]["design"]["theme"] = "dark"
    entry["form"]["state"]["submittedBy"] = "JIRAUSER2"

    export = read_json_export(write_json(tmp_path, document))

    assert export.extra == {"exportVersion": "2.1"}
    assert export.responses[0].extra == {
        "entry.renderedFields": {"summary": "<p>Onboard</p>"},
        "form.lockedBy": "JIRAUSER1",
        "design.theme": "dark",
        "state.submittedBy": "JIRAUSER2",
    }


def test_identical_design_copies_share_one_parsed_design(
    tmp_path: Path, hr_document: dict[str, Any]
) -> None:
    entry = hr_document["responses"][0]
    entries = [dict(entry, issueKey=f"HR-{n}") for n in range(300)]

    responses = read_json_export(write_json(tmp_path, entries)).responses

    assert len(responses) == 300
    assert len({id(r.questions) for r in responses}) == 1


def test_empty_export_has_no_responses(tmp_path: Path) -> None:
    document = {"projectKey": "HR", "templateFormId": 3, "responses": []}

    export = read_json_export(write_json(tmp_path, document))

    assert (export.project_key, export.template_id, export.responses) == ("HR", 3, [])


def test_utf16_document_is_read(tmp_path: Path) -> None:
    path = tmp_path / "utf16.json"
    path.write_bytes(HR.read_text(encoding="utf-8").encode("utf-16"))

    assert len(read_json_export(path).responses) == 4


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"responses": [\n  {"issueKey": "HR-1",\n  }\n]}', encoding="utf-8")

    with pytest.raises(ExportFileError) as caught:
        read_json_export(path)

    assert caught.value.path == path
    assert caught.value.where is not None and caught.value.where.startswith("line 3")
    assert "broken.json" in str(caught.value) and "malformed JSON" in str(caught.value)


def test_truncated_json_is_malformed(tmp_path: Path) -> None:
    text = HR.read_text(encoding="utf-8")
    path = tmp_path / "truncated.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")

    with pytest.raises(ExportFileError, match="malformed JSON"):
        read_json_export(path)


def test_wrong_shape_form_names_its_place(tmp_path: Path, hr_document: dict[str, Any]) -> None:
    document = copy.deepcopy(hr_document)
    document["responses"][3]["form"] = {"id": 1, "fields": []}

    with pytest.raises(ExportFileError) as caught:
        read_json_export(write_json(tmp_path, document, "wrong.json"))

    assert caught.value.where == "$.responses[3].form"
    assert "wrong.json" in str(caught.value)
    assert "expected a form" in caught.value.problem


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"projectKey": "HR", "data": {"rows": 1}}, "$"),
        ("just text", "$"),
        ([{"issueKey": "HR-1"}], "$[0]"),
        ([42], "$[0]"),
    ],
)
def test_document_without_forms_is_refused(tmp_path: Path, document: Any, where: str) -> None:
    with pytest.raises(ExportFileError) as caught:
        read_json_export(write_json(tmp_path, document))

    assert caught.value.where == where


def test_entry_without_issue_key_is_refused(tmp_path: Path, hr_document: dict[str, Any]) -> None:
    entry = dict(hr_document["responses"][0])
    del entry["issueKey"]

    with pytest.raises(ExportFileError, match="issueKey") as caught:
        read_json_export(write_json(tmp_path, [hr_document["responses"][1], entry]))

    assert caught.value.where == "$[1]"


def test_unknown_status_code_is_refused_with_its_place(
    tmp_path: Path, hr_document: dict[str, Any]
) -> None:
    document = copy.deepcopy(hr_document)
    document["responses"][2]["form"]["state"]["status"] = "x"

    with pytest.raises(ExportFileError) as caught:
        read_json_export(write_json(tmp_path, document))

    assert caught.value.where == "$.responses[2].form.state.status"


def test_missing_file_is_an_export_file_error(tmp_path: Path) -> None:
    with pytest.raises(ExportFileError, match="cannot read"):
        read_json_export(tmp_path / "absent.json")


class _Trickle(io.StringIO):
    """A text file that hands out at most a few characters per read, as a slow pipe would."""

    def read(self, size: int | None = -1) -> str:
        return super().read(3)


def test_stream_decodes_values_split_across_reads() -> None:
    stream = JsonStream(_Trickle('{"n": 123456789, "list": [1.25, "ab\\"c", {"k": null}]}'))

    seen: dict[str, Any] = {}
    for key in stream.members():
        if key == "list":
            seen[key] = [stream.value() for _ in stream.elements()]
        else:
            seen[key] = stream.value()
    stream.finish()

    assert seen == {"n": 123456789, "list": [1.25, 'ab"c', {"k": None}]}


def test_stream_reports_line_and_column_of_an_error() -> None:
    stream = JsonStream(_Trickle("[\n  1,\n  2,\n  oops\n]"))

    with pytest.raises(JsonStreamError) as caught:
        [stream.value() for _ in stream.elements()]

    assert caught.value.where == "line 4 column 3"


@pytest.fixture
def collections() -> Any:
    """The generations the cyclic garbage collector runs, in order, while the test runs."""
    import gc

    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)


def test_the_collector_runs_at_most_once_as_a_file_is_read(
    tmp_path: Path, hr_document: dict[str, Any], collections: list[int]
) -> None:
    import gc

    entries = hr_document["responses"]
    path = write_json(tmp_path, {**hr_document, "responses": entries * 500})

    assert gc.isenabled()
    collections.clear()
    responses = read_json_export(path).responses

    assert len(responses) == len(entries) * 500
    # One pass (of whichever generation the counters call for) may run as the collector is
    # turned back on; none runs during reading.
    assert len(collections) <= 1
    assert gc.isenabled()


def test_reading_leaves_a_disabled_collector_disabled() -> None:
    import gc

    gc.disable()
    try:
        read_json_export(HR)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_failed_read_turns_the_collector_back_on(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "broken.json"
    path.write_text('{"responses": [{"issueKey": ', encoding="utf-8")

    with pytest.raises(ExportFileError):
        read_json_export(path)

    assert gc.isenabled()
