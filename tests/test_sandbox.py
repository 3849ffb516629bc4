"""The sandbox over real HTTP: the export flow, errors, auth, JQL, generated and replayed data."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from proforma_io.sandbox import Sandbox, SandboxData, SandboxUser

SAMPLES = Path(__file__).parent / "data" / "samples"
API = "/rest/proforma/1"
ADMIN = ("admin", "admin")
HR_FIELDS = ["summary", "priority", "customfield_10012"]
HR_EXPORT = {"type": "responses-json", "projectKey": "HR", "templateFormId": 3}
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EVERY_QUESTION_TYPE = {
    "ts", "te", "da", "cd", "cm", "no", "cs", "us", "um", "dt", "ti", "tu", "pg", "cl", "tl",
}  # fmt: skip


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.responses.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=42, issues_per_project=12)
    with Sandbox(data, context_path="/jira", export_seconds=0.05).running() as running:
        yield running


@pytest.fixture(scope="module")
def replay() -> Iterator[Sandbox]:
    data = SandboxData.from_folder(SAMPLES)
    with Sandbox(data, context_path="/jira", export_seconds=0).running() as running:
        yield running


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with client_for(sandbox) as client:
        yield client


def client_for(sandbox: Sandbox, **options: Any) -> httpx.Client:
    options.setdefault("auth", ADMIN)
    return httpx.Client(base_url=sandbox.base_url + API, timeout=10, **options)


def wait_until_complete(client: httpx.Client, export_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = client.get(f"/export/{export_id}").json()
        if status["complete"]:
            return status
        time.sleep(0.02)
    raise AssertionError(f"export {export_id} did not complete")


def run_export(client: httpx.Client, **body: Any) -> tuple[dict[str, Any], httpx.Response]:
    started = client.post("/export", json=body)
    assert started.status_code == 200, started.text
    status = wait_until_complete(client, started.json()["id"])
    return status, client.get(status["downloadUrl"])


def export_from(sandbox: Sandbox, **body: Any) -> tuple[dict[str, Any], httpx.Response]:
    with sandbox.running(), client_for(sandbox) as api:
        return run_export(api, **body)


def without_export_stamp(content: bytes) -> bytes:
    return re.sub(rb'"exported":"[^"]*"', b'"exported":""', content)


# The export flow


def test_json_export_starts_completes_and_downloads(api: httpx.Client, sandbox: Sandbox) -> None:
    started = api.post("/export", json={**HR_EXPORT, "fields": HR_FIELDS})
    assert started.status_code == 200
    first = started.json()
    assert first["type"] == "responses-json"
    assert re.fullmatch(r"responses-json-HR-3-\d+", first["id"])
    assert (first["complete"], first["failed"], first["progress"]) == (False, False, 0)

    status = wait_until_complete(api, first["id"])
    download = api.get(status["downloadUrl"])

    assert status["failed"] is False and status["progress"] == 100
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert int(download.headers["content-length"]) == len(download.content)
    document = download.json()
    assert (document["projectKey"], document["templateFormId"]) == ("HR", 3)
    assert document["exportType"] == "responses-json"
    assert len(document["responses"]) == sandbox.data.form_count("HR", 3)
    assert set(document["responses"][0]["fields"]) == set(HR_FIELDS)
    assert sandbox.stats.exports_started[-1] == first["id"]


def test_xlsx_export_downloads_one_responses_sheet(api: httpx.Client, sandbox: Sandbox) -> None:
    status, download = run_export(api, type="responses-xlsx", projectKey="OPS", templateFormId=8)

    assert status["downloadUrl"].endswith("/ProForma-OPS-form-8.xlsx")
    assert download.headers["content-type"] == XLSX_MEDIA_TYPE
    assert int(download.headers["content-length"]) == len(download.content)
    workbook = openpyxl.load_workbook(io.BytesIO(download.content))
    assert workbook.sheetnames == ["Responses"]
    rows = list(workbook["Responses"].iter_rows(values_only=True))
    assert rows[0][:4] == ("Issue Key", "Form Name", "Form Status", "Last Updated")
    assert len(rows) - 1 == sandbox.data.form_count("OPS", 8)
    assert {row[1] for row in rows[1:]} == {"Change request"}


def test_download_is_never_repeated(api: httpx.Client, sandbox: Sandbox) -> None:
    status, first = run_export(api, **HR_EXPORT)
    second = api.get(status["downloadUrl"])

    assert first.status_code == 200
    assert second.status_code == 404
    assert second.json()["error"] == "notFound"
    assert sandbox.stats.downloads[status["id"]] == 2


def test_status_is_not_found_after_the_download(api: httpx.Client) -> None:
    status, _ = run_export(api, **HR_EXPORT)

    after = api.get(f"/export/{status['id']}")

    assert after.status_code == 404
    assert after.json()["error"] == "notFound"


def test_progress_advances_with_time() -> None:
    data = SandboxData.generated(seed=1, issues_per_project=3)
    with Sandbox(data, export_seconds=0.8).running() as slow, client_for(slow) as api:
        export_id = api.post("/export", json=HR_EXPORT).json()["id"]
        seen = []
        while not (status := api.get(f"/export/{export_id}").json())["complete"]:
            seen.append(status["progress"])
            assert "downloadUrl" not in status
            time.sleep(0.1)

    assert seen == sorted(seen)
    assert seen[0] < 50 and any(0 < progress < 100 for progress in seen)
    assert status["progress"] == 100
    assert slow.stats.status_polls[export_id] == len(seen) + 1


def test_download_before_completion_is_a_client_error() -> None:
    data = SandboxData.generated(seed=1, issues_per_project=3)
    with Sandbox(data, export_seconds=30).running() as slow, client_for(slow) as api:
        export_id = api.post("/export", json=HR_EXPORT).json()["id"]
        early = api.get(f"/export/{export_id}/ProForma-HR-form-3.json")
        still_there = api.get(f"/export/{export_id}")

    assert early.status_code == 400
    assert early.json()["error"] == "client"
    assert "not complete" in early.json()["message"]
    assert still_there.status_code == 200
    assert slow.stats.downloads[export_id] == 1


def test_wrong_file_name_is_not_found_and_keeps_the_file(api: httpx.Client) -> None:
    started = api.post("/export", json=HR_EXPORT).json()
    status = wait_until_complete(api, started["id"])

    wrong = api.get(f"/export/{started['id']}/ProForma-HR-form-3.xlsx")
    right = api.get(status["downloadUrl"])

    assert wrong.status_code == 404 and wrong.json()["error"] == "notFound"
    assert right.status_code == 200


def test_export_ids_are_unique(api: httpx.Client) -> None:
    ids = [api.post("/export", json=HR_EXPORT).json()["id"] for _ in range(5)]

    assert len(set(ids)) == 5


def test_download_url_keeps_the_context_path(sandbox: Sandbox, api: httpx.Client) -> None:
    status, _ = run_export(api, **HR_EXPORT)

    expected = f"{sandbox.base_url}{API}/export/{status['id']}/ProForma-HR-form-3.json"
    assert sandbox.base_url.endswith(f":{sandbox.port}/jira")
    assert status["downloadUrl"] == expected


def test_root_context_path_serves_the_api_at_the_root() -> None:
    root = Sandbox(SandboxData.generated(1, 2), context_path="/", export_seconds=0)
    status, download = export_from(root, **HR_EXPORT)

    assert root.base_url == f"http://127.0.0.1:{root.port}"
    assert status["downloadUrl"].startswith(f"{root.base_url}{API}/export/")
    assert download.status_code == 200


def test_requested_fields_are_null_when_the_issue_lacks_them(api: httpx.Client) -> None:
    _, download = run_export(api, **HR_EXPORT, fields=["summary", "customfield_99999"])

    fields = [entry["fields"] for entry in download.json()["responses"]]
    assert all(entry["customfield_99999"] is None for entry in fields)
    assert all(entry["summary"].startswith("Onboard ") for entry in fields)


def test_a_changed_form_shows_in_the_next_export() -> None:
    data = SandboxData.generated(seed=3, issues_per_project=4)
    with Sandbox(data, export_seconds=0).running() as live, client_for(live) as api:
        form = data.issue("HR-101").forms[0]  # type: ignore[union-attr]
        _, before = run_export(api, **HR_EXPORT, jql="key = HR-101")
        form.set_status("l", "2026-12-01T10:00:00Z")
        _, after = run_export(api, **HR_EXPORT, jql="key = HR-101")

    assert before.json()["responses"][0]["form"]["state"]["status"] == "s"
    assert after.json()["responses"][0]["form"]["state"]["status"] == "l"
    assert after.json()["responses"][0]["form"]["updated"] == "2026-12-01T10:00:00Z"


# Errors and authentication


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({**HR_EXPORT, "projectKey": "NOPE"}, "NOPE"),
        ({**HR_EXPORT, "templateFormId": 99}, "99"),
        ({**HR_EXPORT, "type": "responses-pdf"}, "responses-pdf"),
    ],
)
def test_unknown_project_template_or_type_is_a_client_error(
    api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    answer = api.post("/export", json=body)

    assert answer.status_code == 400
    assert answer.json()["error"] == "client"
    assert named in answer.json()["message"]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "line 1"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "responses-json", "projectKey": "HR"}', "templateFormId"),
        (b'{"type": "responses-json", "projectKey": "HR", "templateFormId": "x"}', "integer"),
        (b'{"type": "responses-json", "projectKey": 7, "templateFormId": 3}', "projectKey"),
        (b'{"type": "responses-json", "projectKey": "HR", "templateFormId": 3, "fields": "x"}',
         "fields"),
    ],
)  # fmt: skip
def test_malformed_body_is_a_json_error(api: httpx.Client, content: bytes, detail: str) -> None:
    answer = api.post("/export", content=content, headers={"Content-Type": "application/json"})

    assert answer.status_code == 400
    assert answer.json()["error"] == "json"
    assert detail in answer.json()["details"]


@pytest.mark.parametrize("auth", [None, ("admin", "wrong"), ("nobody", "admin")])
def test_missing_or_wrong_credentials_get_401_without_a_body(
    sandbox: Sandbox, auth: tuple[str, str] | None
) -> None:
    with httpx.Client(base_url=sandbox.base_url + API, auth=auth) as client:
        answer = client.post("/export", json=HR_EXPORT)

    assert answer.status_code == 401
    assert answer.content == b""
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_wrong_bearer_token_gets_401(sandbox: Sandbox) -> None:
    with client_for(sandbox, auth=None, headers={"Authorization": "Bearer nope"}) as client:
        assert client.get("/export/anything").status_code == 401


def test_bearer_token_authenticates_the_admin(sandbox: Sandbox) -> None:
    bearer = {"Authorization": "Bearer sandbox-admin-token"}
    with client_for(sandbox, auth=None, headers=bearer) as client:
        status, download = run_export(client, **HR_EXPORT)

    assert status["complete"] is True
    assert download.status_code == 200


def test_agent_may_not_export(sandbox: Sandbox, api: httpx.Client) -> None:
    export_id = api.post("/export", json=HR_EXPORT).json()["id"]

    with client_for(sandbox, auth=("agent", "agent")) as agent:
        start = agent.post("/export", json=HR_EXPORT)
        status = agent.get(f"/export/{export_id}")

    for answer in (start, status):
        assert answer.status_code == 403
        assert answer.json()["error"] == "forbidden"
        assert "ProForma: Export All Data" in answer.json()["message"]


def test_configured_users_replace_the_built_in_ones() -> None:
    exporter = SandboxUser("ci", "s3cret", frozenset({"ProForma: Export All Data"}))
    data = SandboxData.generated(seed=1, issues_per_project=1)
    with Sandbox(data, users=[exporter], export_seconds=0).running() as custom:
        with client_for(custom, auth=("ci", "s3cret")) as ci:
            assert ci.post("/export", json=HR_EXPORT).status_code == 200
        with client_for(custom) as admin:
            assert admin.post("/export", json=HR_EXPORT).status_code == 401


def test_unknown_route_is_not_found(sandbox: Sandbox) -> None:
    answer = httpx.get(f"{sandbox.base_url}{API}/forms", auth=ADMIN)

    assert answer.status_code == 404
    assert answer.json()["error"] == "notFound"
    assert sandbox.stats.requests[-1] == ("GET", f"/jira{API}/forms", 404)


# JQL


def test_jql_key_narrows_the_export(api: httpx.Client) -> None:
    _, download = run_export(api, **HR_EXPORT, jql="key = HR-101")

    keys = {entry["issueKey"] for entry in download.json()["responses"]}
    assert keys == {"HR-101"}


def test_jql_clauses_join_with_and(api: httpx.Client, sandbox: Sandbox) -> None:
    summary = sandbox.data.issue("HR-104").fields["summary"]  # type: ignore[union-attr]
    jql = f'KEY in (HR-101, HR-104, HR-105) and summary ~ "{summary.lower()}"'

    _, download = run_export(api, **HR_EXPORT, jql=jql)

    assert {entry["issueKey"] for entry in download.json()["responses"]} == {"HR-104"}


@pytest.mark.parametrize(
    "jql", ["key = ", "key = HR-1 OR key = HR-2", "assignee = bob", 'summary ~ "open']
)
def test_unparsable_jql_fails_the_export_with_a_message(api: httpx.Client, jql: str) -> None:
    started = api.post("/export", json={**HR_EXPORT, "jql": jql})
    status = api.get(f"/export/{started.json()['id']}").json()
    download = api.get(f"/export/{status['id']}/ProForma-HR-form-3.json")

    assert started.status_code == 200
    assert (status["complete"], status["failed"]) == (True, True)
    assert status["message"].startswith("Error in the JQL Query: ")
    assert "downloadUrl" not in status
    assert download.status_code == 400 and download.json()["error"] == "client"


# Generated data


def test_generated_data_is_deterministic() -> None:
    exports = []
    for seed in (5, 5, 6):
        fresh = Sandbox(SandboxData.generated(seed, 8), export_seconds=0)
        _, download = export_from(fresh, **HR_EXPORT, fields=HR_FIELDS)
        exports.append(without_export_stamp(download.content))

    assert exports[0] == exports[1]
    assert exports[0] != exports[2]


def test_generated_data_has_every_question_type_status_and_design_copy() -> None:
    data = SandboxData.generated(seed=42, issues_per_project=40)
    hr = [form for _, form in data.forms("HR", 3)]
    codes = {q["type"] for form in hr for q in form.document["design"]["questions"].values()}
    answers = [a for form in hr for a in form.document["state"]["answers"].values()]
    design_sizes = {len(form.document["design"]["questions"]) for form in hr}
    issues_with_two = [i for i in data.issues("HR") if len(i.forms) == 2]

    assert codes == EVERY_QUESTION_TYPE
    assert {form.status for form in hr} == {"o", "s", "l"}
    assert design_sizes == {13, 15}
    assert issues_with_two and all(len({f.id for f in i.forms}) == 2 for i in issues_with_two)
    assert {"choices": []} in answers
    assert any("0" in answer.get("choices", []) and answer.get("text") for answer in answers)
    assert any(len(form.document["state"]["answers"]) < 15 for form in hr)


def test_generated_visibility_is_external_only_on_the_service_desk() -> None:
    data = SandboxData.generated(seed=42, issues_per_project=40)
    kinds = {project.key: project.kind for project in data.projects()}
    external = {key for key in kinds for t in data.templates(key)
                for _, form in data.forms(key, t.id) if form.visibility == "e"}  # fmt: skip

    assert kinds == {"HR": "business", "ITSD": "service_desk", "OPS": "software"}
    assert external == {"ITSD"}


def test_generated_templates_follow_the_samples() -> None:
    data = SandboxData.generated(seed=42, issues_per_project=10)
    hr_design = sample("hr-onboarding")["responses"][0]["form"]["design"]
    itsd_design = sample("itsd-newer-shapes")["responses"][0]["form"]["design"]
    legacy = [f for _, f in data.forms("OPS", 7)]
    itsd = [f.document["state"]["answers"] for _, f in data.forms("ITSD", 11)]

    assert data.template("HR", 3).design == hr_design  # type: ignore[union-attr]
    assert data.template("ITSD", 11).design == itsd_design  # type: ignore[union-attr]
    assert [(t.id, t.name, t.model) for t in data.templates("OPS")] == [
        (7, "Access request (legacy)", "v1"),
        (8, "Change request", "v2"),
    ]
    assert legacy and all(f.document["schemaVersion"] == 5 for f in legacy)
    assert all("adf" in answers["1"] for answers in itsd)
    assert all("name" not in user for a in itsd for user in a.get("4", {}).get("users", []))


def test_generated_templates_lock_and_transition_as_documented() -> None:
    data = SandboxData.generated(seed=42, issues_per_project=4)
    templates = {(t.project_key, t.id): t for p in data.projects() for t in data.templates(p.key)}
    settings = {key: t.design.get("settings", {}) for key, t in templates.items()}
    locks = {key: found.get("submit", {}).get("lock") for key, found in settings.items()}
    rules = {key: t.submit_transition for key, t in templates.items()}

    assert locks == {("HR", 3): False, ("ITSD", 11): False, ("OPS", 7): None, ("OPS", 8): True}
    assert rules == {
        ("HR", 3): "Done",
        ("ITSD", 11): None,
        ("OPS", 7): None,
        ("OPS", 8): "Approved",
    }


def test_generation_names_issues_from_101_with_non_ascii_names() -> None:
    data = SandboxData.generated(seed=42, issues_per_project=40)
    names = [issue.fields["summary"] for issue in data.issues("HR")]

    assert [issue.key for issue in data.issues("HR")][:2] == ["HR-101", "HR-102"]
    assert any(not name.isascii() for name in names)
    assert len({issue.id for p in data.projects() for issue in data.issues(p.key)}) == 120


def test_rendered_xlsx_has_the_sample_header_layout(api: httpx.Client) -> None:
    reference = openpyxl.load_workbook(SAMPLES / "hr-onboarding.responses.xlsx")["Responses"]
    _, download = run_export(
        api, type="responses-xlsx", projectKey="HR", templateFormId=3, fields=HR_FIELDS
    )

    sheet = openpyxl.load_workbook(io.BytesIO(download.content))["Responses"]
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == [c.value for c in next(reference.iter_rows())]
    by_header = {header.value: column for column, header in enumerate(rows[0])}
    for row in rows[1:]:
        status = row[by_header["Form Status"]].value
        updated = row[by_header["Last Updated"]]
        start = row[by_header["Start date"]]
        assert status in {"Open", "Submitted", "Locked"}
        assert isinstance(updated.value, datetime)
        assert updated.number_format == "yyyy-mm-dd h:mm:ss"
        assert start.value is None or start.number_format == "yyyy-mm-dd"


# Replay


@pytest.mark.parametrize(
    ("name", "fields"),
    [("hr-onboarding", HR_FIELDS), ("itsd-newer-shapes", []), ("ops-legacy-v1", ["summary"])],
)
def test_replay_returns_the_sample_responses_unchanged(
    replay: Sandbox, name: str, fields: list[str]
) -> None:
    expected = sample(name)
    body = {"type": "responses-json", "projectKey": expected["projectKey"],
            "templateFormId": expected["templateFormId"], "fields": fields}  # fmt: skip
    with client_for(replay) as api:
        _, download = run_export(api, **body)

    document = download.json()
    assert document["responses"] == expected["responses"]
    assert document["projectKey"] == expected["projectKey"]


def test_replay_serves_the_sample_xlsx_byte_for_byte(replay: Sandbox) -> None:
    with client_for(replay) as api:
        _, download = run_export(
            api, type="responses-xlsx", projectKey="HR", templateFormId=3, fields=HR_FIELDS
        )

    assert download.content == (SAMPLES / "hr-onboarding.responses.xlsx").read_bytes()


def test_xlsx_written_from_replayed_forms_matches_the_sample_cells(replay: Sandbox) -> None:
    reference = openpyxl.load_workbook(SAMPLES / "hr-onboarding.responses.xlsx")["Responses"]
    with client_for(replay) as api:
        _, download = run_export(
            api, type="responses-xlsx", projectKey="HR", templateFormId=3, fields=HR_FIELDS,
            jql="project = HR",
        )  # fmt: skip

    sheet = openpyxl.load_workbook(io.BytesIO(download.content))["Responses"]
    written = [[(c.value, c.number_format) for c in row] for row in sheet.iter_rows()]
    expected = [[(c.value, c.number_format) for c in row] for row in reference.iter_rows()]
    assert download.content != (SAMPLES / "hr-onboarding.responses.xlsx").read_bytes()
    assert written == expected
    assert written[1][9] == (datetime(2026, 11, 16), "yyyy-mm-dd")
    assert isinstance(sheet["J2"].value, date)


def test_replay_layered_on_generated_data_wins_its_template() -> None:
    generated = SandboxData.generated(seed=42, issues_per_project=10)
    merged = generated.merge(SandboxData.from_folder(SAMPLES))

    hr_keys = [issue.key for issue, _ in merged.forms("HR", 3)]
    assert hr_keys == ["HR-101", "HR-102", "HR-102", "HR-97"]
    assert merged.form_count("OPS", 7) == 2
    assert merged.form_count("OPS", 8) == generated.form_count("OPS", 8)
    assert generated.form_count("HR", 3) > 4
    assert merged.project("HR").kind == "business"  # type: ignore[union-attr]
