"""The sandbox's form operations over real HTTP: life cycle, numbering, permissions, errors."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from proforma_io.sandbox import Form, Issue, Sandbox, SandboxData

API = "/rest/proforma/1"
USERS = {name: (name, name) for name in ("admin", "lead", "agent", "viewer", "exporter")}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=42, issues_per_project=8)
    with Sandbox(data, context_path="/jira", export_seconds=0).running() as running:
        yield running


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with as_user(sandbox, "admin") as client:
        yield client


def as_user(sandbox: Sandbox, user: str | None) -> httpx.Client:
    auth = USERS[user] if user else None
    return httpx.Client(base_url=sandbox.base_url + API, auth=auth, timeout=10)


def add(api: httpx.Client, issue_key: str, template_id: int, **body: Any) -> dict[str, Any]:
    answer = api.post(f"/issue/{issue_key}/form", json={"templateFormId": template_id, **body})
    assert answer.status_code == 200, answer.text
    forms = answer.json()["forms"]
    assert isinstance(forms, list)
    return forms[0]


def act(api: httpx.Client, issue_key: str, form_id: int, verb: str) -> httpx.Response:
    return api.post(f"/issue/{issue_key}/form/{form_id}/{verb}")


def client_error(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "client"
    for word in words:
        assert word in answer.json()["message"]


# Numbering and adding


def test_added_form_takes_the_next_number_never_a_deleted_one(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    issue = sandbox.data.issue("HR-102")
    assert issue is not None
    highest = max(form.id for form in issue.forms)
    issue.skip_form_id()  # as a form added and deleted again leaves it
    expected = highest + 2

    added = add(api, "HR-102", 3)

    assert issue.form(highest + 1) is None
    assert added["id"] == expected
    assert added | {"updated": ""} == {
        "issueKey": "HR-102",
        "id": expected,
        "templateFormId": 3,
        "name": "New starter onboarding",
        "status": "open",
        "visibility": "internal",
        "updated": "",
    }


def test_first_form_of_a_new_issue_is_one_and_the_second_two(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.data.add_issue(Issue("HR-900", "19900", {"status": {"name": "To Do"}}))

    first = add(api, "HR-900", 3)
    second = add(api, "HR-900", 3)

    assert (first["id"], second["id"]) == (1, 2)


def test_add_with_a_count_creates_that_many_forms_in_order(api: httpx.Client) -> None:
    answer = api.post("/issue/HR-104/form", json={"templateFormId": 3, "add": 3})

    ids = [form["id"] for form in answer.json()["forms"]]
    assert answer.status_code == 200
    assert len(ids) == 3
    assert ids == list(range(ids[0], ids[0] + 3))


def test_added_legacy_form_is_a_version_one_document(api: httpx.Client, sandbox: Sandbox) -> None:
    added = add(api, "OPS-103", 7)

    issue = sandbox.data.issue("OPS-103")
    assert issue is not None
    form = issue.form(added["id"])
    assert form is not None
    assert form.document["schemaVersion"] == 5
    assert form.document["submitted"] is False
    assert [q["q"] for q in form.document["questions"]][:2] == ["Access request", "System"]


def test_external_visibility_is_only_for_service_desk_projects(api: httpx.Client) -> None:
    on_service_desk = add(api, "ITSD-102", 11, visibility="external")
    on_software = api.post(
        "/issue/OPS-102/form", json={"templateFormId": 8, "visibility": "external"}
    )
    change = api.post("/issue/OPS-102/form/1/visibility/external")

    assert on_service_desk["visibility"] == "external"
    client_error(on_software, "OPS", "service desk")
    client_error(change, "OPS", "service desk")


def test_template_of_another_project_is_a_client_error(api: httpx.Client) -> None:
    answer = api.post("/issue/HR-101/form", json={"templateFormId": 11})

    client_error(answer, "Template form 11", "project HR")


@pytest.mark.parametrize("count", [0, 51])
def test_add_count_out_of_range_is_a_client_error(api: httpx.Client, count: int) -> None:
    client_error(api.post("/issue/HR-101/form", json={"templateFormId": 3, "add": count}), "add")


# The life cycle


def test_submit_moves_the_issue_once_by_the_templates_rule(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    issue = sandbox.data.issue("HR-105")
    assert issue is not None
    issue.fields["status"] = {"name": "To Do"}
    first, second = (add(api, "HR-105", 3)["id"] for _ in range(2))

    submitted = act(api, "HR-105", first, "submit")
    again = act(api, "HR-105", second, "submit")

    assert submitted.json() == {"status": "submitted", "transitioned": True}
    assert issue.fields["status"] == {"name": "Done"}
    assert again.json() == {"status": "submitted", "transitioned": False}


def test_template_without_a_rule_never_transitions(api: httpx.Client) -> None:
    form_id = add(api, "ITSD-103", 11)["id"]

    assert act(api, "ITSD-103", form_id, "submit").json() == {
        "status": "submitted",
        "transitioned": False,
    }


def test_submitted_form_reopens_and_can_be_submitted_again(api: httpx.Client) -> None:
    form_id = add(api, "HR-106", 3)["id"]
    act(api, "HR-106", form_id, "submit")

    reopened = act(api, "HR-106", form_id, "reopen")
    resubmitted = act(api, "HR-106", form_id, "submit")

    assert reopened.json() == {"status": "open", "transitioned": False}
    assert resubmitted.json()["status"] == "submitted"


def test_locking_template_locks_on_submit_and_unlock_leaves_it_submitted(
    api: httpx.Client,
) -> None:
    form_id = add(api, "OPS-104", 8)["id"]

    submitted = act(api, "OPS-104", form_id, "submit")
    reopen_locked = act(api, "OPS-104", form_id, "reopen")
    submit_locked = act(api, "OPS-104", form_id, "submit")
    unlocked = act(api, "OPS-104", form_id, "unlock")
    reopened = act(api, "OPS-104", form_id, "reopen")

    assert submitted.json()["status"] == "locked"
    client_error(reopen_locked, "locked", "unlock it")
    client_error(submit_locked, "already locked")
    assert unlocked.json() == {"status": "submitted", "transitioned": False}
    assert reopened.json()["status"] == "open"


@pytest.mark.parametrize(
    ("verb", "words"),
    [("unlock", ["not locked", "open"]), ("reopen", ["already open"])],
)
def test_operations_that_do_not_apply_to_an_open_form_are_client_errors(
    api: httpx.Client, verb: str, words: list[str]
) -> None:
    form_id = add(api, "HR-107", 3)["id"]

    client_error(act(api, "HR-107", form_id, verb), *words)


def test_unlocking_a_submitted_form_is_a_client_error(api: httpx.Client) -> None:
    form_id = add(api, "HR-107", 3)["id"]
    act(api, "HR-107", form_id, "submit")

    client_error(act(api, "HR-107", form_id, "unlock"), "not locked", "submitted")


def test_legacy_form_submits_and_reopens_but_never_locks(api: httpx.Client) -> None:
    form_id = add(api, "OPS-105", 7)["id"]

    assert act(api, "OPS-105", form_id, "submit").json()["status"] == "submitted"
    assert act(api, "OPS-105", form_id, "reopen").json()["status"] == "open"
    locked_copy = api.post(f"/issue/OPS-105/form/{form_id}/copy/OPS-106", json={"status": "locked"})
    client_error(locked_copy, "legacy")


# Copying


def test_copy_lands_on_the_target_with_the_next_id_answers_and_requested_state(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    target = sandbox.data.issue("ITSD-104")
    source = sandbox.data.issue("ITSD-101")
    assert target is not None and source is not None
    expected = target.next_form_id

    answer = api.post(
        "/issue/ITSD-101/form/1/copy/ITSD-104", json={"status": "locked", "visibility": "external"}
    )

    copied = target.form(expected)
    original = source.form(1)
    assert answer.status_code == 200
    assert answer.json()["id"] == expected
    assert (answer.json()["status"], answer.json()["visibility"]) == ("locked", "external")
    assert copied is not None and original is not None
    assert copied.document["state"]["answers"] == original.document["state"]["answers"]
    assert copied.document["state"]["answers"] is not original.document["state"]["answers"]


def test_copy_keeps_the_source_state_unless_asked_and_drops_external_off_the_desk(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    source = add(api, "ITSD-105", 11, visibility="external")
    act(api, "ITSD-105", source["id"], "submit")

    same_desk = api.post(f"/issue/ITSD-105/form/{source['id']}/copy/ITSD-106").json()
    off_desk = api.post(f"/issue/ITSD-105/form/{source['id']}/copy/OPS-106", json={}).json()
    asked_external = api.post(
        f"/issue/ITSD-105/form/{source['id']}/copy/OPS-106", json={"visibility": "external"}
    )

    assert (same_desk["status"], same_desk["visibility"]) == ("submitted", "external")
    assert (off_desk["status"], off_desk["visibility"]) == ("submitted", "internal")
    assert off_desk["templateFormId"] is None
    client_error(asked_external, "service desk")


# Exports follow the forms


def test_a_form_submitted_through_the_api_is_submitted_in_the_next_export(
    api: httpx.Client,
) -> None:
    form_id = add(api, "HR-108", 3)["id"]
    before = exported_forms(api, "HR-108")
    act(api, "HR-108", form_id, "submit")
    after = exported_forms(api, "HR-108")

    assert before[form_id]["form"]["state"]["status"] == "o"
    assert after[form_id]["form"]["state"]["status"] == "s"
    assert after[form_id]["fields"]["status"] == {"name": "Done"}


def test_a_copy_onto_another_projects_issue_joins_none_of_its_exports(
    api: httpx.Client,
) -> None:
    copied = api.post("/issue/OPS-101/form/1/copy/HR-107").json()
    same_project = api.post("/issue/OPS-101/form/1/copy/OPS-107").json()

    hr_forms = exported_forms(api, "HR-107")
    ops_forms = exported_forms(api, "OPS-107", template_id=7)

    assert copied["templateFormId"] is None
    assert copied["id"] not in hr_forms
    assert same_project["templateFormId"] == 7
    assert same_project["id"] in ops_forms


def exported_forms(
    api: httpx.Client, issue_key: str, template_id: int = 3
) -> dict[int, dict[str, Any]]:
    body = {
        "type": "responses-json",
        "projectKey": issue_key.split("-")[0],
        "templateFormId": template_id,
        "fields": ["status"],
        "jql": f"key = {issue_key}",
    }
    export_id = api.post("/export", json=body).json()["id"]
    deadline = time.monotonic() + 10
    while not (status := api.get(f"/export/{export_id}").json())["complete"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    document = json.loads(api.get(status["downloadUrl"]).content)
    return {entry["form"]["id"]: entry for entry in document["responses"]}


# PDF


def test_pdf_is_a_pdf_whose_text_holds_the_answers(api: httpx.Client, sandbox: Sandbox) -> None:
    form = stored_form(sandbox, "HR-101", 1)
    answers = form.document["state"]["answers"]

    answer = api.get("/issue/HR-101/form/1/pdf")

    text = pdf_text(answer.content)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="HR-101-form-1.pdf"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"%PDF-")
    assert "New starter onboarding" in text
    assert f"Employee name\n{answers['1']['text']}" in text
    assert f"Work email\n{answers['2']['text']}" in text
    assert answers["3"]["date"] in text


def test_pdf_shows_choice_labels_user_names_and_unanswered_questions(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    form_id = add(api, "HR-104", 3)["id"]
    stored_form(sandbox, "HR-104", form_id).document["state"]["answers"] = {
        "4": {"choices": ["2"]},
        "5": {"choices": ["1", "0"], "text": "Standing desk"},
        "8": {"users": [{"id": "JIRAUSER1", "name": "Zoë Ødegård"}]},
        "9": {"users": [{"id": "712020:abc"}]},
    }

    text = pdf_text(api.get(f"/issue/HR-104/form/{form_id}/pdf").content)

    assert "Department\nFinance" in text
    assert "Equipment needed\nLaptop, Other: Standing desk" in text
    assert "Line manager\nZoë Ødegård" in text
    assert "Buddies\n712020:abc" in text
    assert "Desk number\nNo answer" in text


def test_plain_pdf_differs_from_the_rich_one_but_holds_the_same_answers(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    form = stored_form(sandbox, "OPS-101", 1)
    system = next(q["text"] for q in form.document["questions"] if q["q"] == "System")

    rich = api.get("/issue/OPS-101/form/1/pdf", params={"plain": "false"}).content
    plain = api.get("/issue/OPS-101/form/1/pdf", params={"plain": "true"}).content

    assert rich != plain
    assert b" rg" in page_stream(rich)
    assert b" rg" not in page_stream(plain)
    assert f"System\n{system}" in pdf_text(rich)
    assert f"System: {system}" in pdf_text(plain)


def test_pdf_plain_flag_must_be_true_or_false(api: httpx.Client) -> None:
    client_error(api.get("/issue/HR-101/form/1/pdf", params={"plain": "maybe"}), "plain")


def stored_form(sandbox: Sandbox, issue_key: str, form_id: int) -> Form:
    issue = sandbox.data.issue(issue_key)
    form = issue.form(form_id) if issue else None
    assert form is not None
    return form


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def page_stream(content: bytes) -> bytes:
    contents = PdfReader(io.BytesIO(content)).pages[0].get_contents()
    assert contents is not None
    return contents.get_data()


# Errors and permissions


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/issue/HR-999/form/1/submit", ["Issue HR-999 does not exist"]),
        ("/issue/NOPE-1/form/1/submit", ["Issue NOPE-1 does not exist"]),
        ("/issue/HR-101/form/99/submit", ["HR-101 has no form 99"]),
        ("/issue/HR-101/form/1/copy/HR-999", ["Issue HR-999 does not exist"]),
        ("/issue/HR-101/form/one/submit", ["Nothing at"]),
    ],
)
def test_unknown_issue_or_form_is_not_found(api: httpx.Client, path: str, words: list[str]) -> None:
    answer = api.post(path)

    assert answer.status_code == 404
    assert answer.json()["error"] == "notFound"
    assert all(word in answer.json()["message"] for word in words)


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"visibility": "internal"}', "templateFormId: expected an integer"),
        (b'{"templateFormId": 3, "add": "two"}', "add: expected an integer"),
        (b'{"templateFormId": 3, "visibility": "public"}', "visibility: expected one of"),
    ],
)
def test_unreadable_add_body_is_a_json_error(
    api: httpx.Client, content: bytes, detail: str
) -> None:
    answer = api.post(
        "/issue/HR-101/form", content=content, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "json"
    assert detail in answer.json()["details"]


def test_unknown_copy_status_is_a_json_error(api: httpx.Client) -> None:
    answer = api.post("/issue/HR-101/form/1/copy/HR-102", json={"status": "archived"})

    assert answer.status_code == 400
    assert answer.json()["error"] == "json"
    assert "status: expected one of open, submitted, locked" in answer.json()["details"]


def test_unknown_visibility_word_is_a_client_error(api: httpx.Client) -> None:
    client_error(api.post("/issue/ITSD-101/form/1/visibility/public"), "public")


OPERATIONS = {
    "add": ("POST", "/issue/HR-102/form", {"templateFormId": 3}),
    "copy": ("POST", "/issue/HR-101/form/1/copy/HR-102", {}),
    "submit": ("POST", "/issue/HR-103/form/1/submit", None),
    "reopen": ("POST", "/issue/HR-101/form/1/reopen", None),
    "unlock": ("POST", "/issue/HR-102/form/1/unlock", None),
    "pdf": ("GET", "/issue/HR-101/form/1/pdf", None),
    "visibility": ("POST", "/issue/HR-101/form/1/visibility/internal", None),
}
# Who may do what: Edit Issues, Browse Projects + Edit Issues for copy, Administer Projects +
# Edit Issues for unlock, Browse Projects for the PDF.
ALLOWED = {
    "add": {"admin", "lead", "agent"},
    "copy": {"admin", "lead", "agent"},
    "submit": {"admin", "lead", "agent"},
    "reopen": {"admin", "lead", "agent"},
    "unlock": {"admin", "lead"},
    "pdf": {"admin", "lead", "agent", "viewer"},
    "visibility": {"admin", "lead", "agent"},
}


@pytest.fixture(scope="module")
def guarded() -> Iterator[Sandbox]:
    """A sandbox of its own, since allowed calls change its forms."""
    data = SandboxData.generated(seed=42, issues_per_project=4)
    with Sandbox(data, export_seconds=0).running() as running:
        yield running


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_each_operation_needs_exactly_its_permissions(guarded: Sandbox, operation: str) -> None:
    method, path, body = OPERATIONS[operation]
    refused = {}
    for user in USERS:
        with as_user(guarded, user) as client:
            answer = client.request(method, path, json=body)
        if answer.status_code == 403:
            assert answer.json()["error"] == "forbidden"
            assert f"User '{user}' lacks" in answer.json()["message"]
        refused[user] = answer.status_code == 403

    assert {user for user, no in refused.items() if not no} == ALLOWED[operation]


def test_unlock_refusal_names_the_missing_permission(guarded: Sandbox) -> None:
    with as_user(guarded, "agent") as agent:
        answer = agent.post("/issue/HR-102/form/1/unlock")

    assert answer.json()["message"] == "User 'agent' lacks the permission 'Administer Projects'."


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_missing_or_wrong_credentials_get_401_without_a_body(
    guarded: Sandbox, operation: str
) -> None:
    method, path, body = OPERATIONS[operation]
    with as_user(guarded, None) as anonymous:
        missing = anonymous.request(method, path, json=body)
        wrong = anonymous.request(method, path, json=body, auth=("admin", "wrong"))

    for answer in (missing, wrong):
        assert answer.status_code == 401
        assert answer.content == b""
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_pdf_shows_characters_its_font_lacks_as_question_marks(
    api: httpx.Client, sandbox: Sandbox
) -> None:
    form_id = add(api, "HR-106", 3)["id"]
    stored_form(sandbox, "HR-106", form_id).document["state"]["answers"] = {
        "1": {"text": "山田 太郎 (Yamada)"}
    }

    text = pdf_text(api.get(f"/issue/HR-106/form/{form_id}/pdf").content)

    assert "Employee name\n?? ?? (Yamada)" in text
