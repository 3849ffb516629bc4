"""ProformaClient's form operations against the sandbox over real HTTP."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pypdf import PdfReader

from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.errors import (
    AuthenticationError,
    ClientRequestError,
    ForbiddenError,
    FormArgumentError,
    NotFoundError,
)
from proforma_io.models import (
    AddFormResult,
    FormStateChangeResult,
    FormSummary,
    VisibilityChangeResult,
)
from proforma_io.sandbox import Sandbox, SandboxData


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=7, issues_per_project=6)
    with Sandbox(data, context_path="/jira", export_seconds=0).running() as running:
        yield running


def client_as(sandbox: Sandbox, user: str, password: str | None = None) -> ProformaClient:
    credentials = BasicCredentials(user, password or user)
    return ProformaClient(sandbox.base_url, credentials=credentials, timeout=10)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ProformaClient]:
    with client_as(sandbox, "admin") as api:
        yield api


def test_add_form_returns_typed_summaries_of_each_new_form(client: ProformaClient) -> None:
    result = client.add_form("ITSD-102", 11, visibility="external", add=2)

    assert isinstance(result, AddFormResult)
    assert [type(form) for form in result.forms] == [FormSummary, FormSummary]
    first, second = result.forms
    assert second.id == first.id + 1
    assert (first.issue_key, first.template_form_id, first.name) == (
        "ITSD-102",
        11,
        "Incident intake",
    )
    assert (first.status, first.visibility) == ("open", "external")


def test_submit_reopen_and_unlock_walk_the_life_cycle(client: ProformaClient) -> None:
    form_id = client.add_form("OPS-102", 8).forms[0].id

    submitted = client.submit_form("OPS-102", form_id)
    unlocked = client.unlock_form("OPS-102", form_id)
    reopened = client.reopen_form("OPS-102", form_id)

    assert isinstance(submitted, FormStateChangeResult)
    assert (submitted.status, unlocked.status, reopened.status) == ("locked", "submitted", "open")
    assert not unlocked.transitioned and not reopened.transitioned


def test_submit_reports_the_transition_and_the_issue_moves(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    issue = sandbox.data.issue("HR-103")
    assert issue is not None
    issue.fields["status"] = {"name": "To Do"}
    form_id = client.add_form("HR-103", 3).forms[0].id

    result = client.submit_form("HR-103", form_id)

    assert result == FormStateChangeResult(status="submitted", transitioned=True)
    assert issue.status_name == "Done"


def test_copy_form_creates_the_next_form_on_the_target(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    target = sandbox.data.issue("HR-104")
    assert target is not None
    expected = target.next_form_id

    copied = client.copy_form("HR-101", 1, "HR-104", status="open", visibility="internal")

    assert copied == FormSummary(
        issue_key="HR-104",
        id=expected,
        template_form_id=3,
        name="New starter onboarding",
        status="open",
        visibility="internal",
        updated=copied.updated,
    )


def test_change_form_visibility_answers_the_new_visibility(client: ProformaClient) -> None:
    external = client.change_form_visibility("ITSD-101", 1, "external")
    internal = client.change_form_visibility("ITSD-101", 1, "internal")

    assert external == VisibilityChangeResult(visibility="external")
    assert internal.visibility == "internal"


def test_form_pdf_returns_a_pdf_whose_text_holds_the_answers(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    issue = sandbox.data.issue("HR-102")
    form = issue.form(1) if issue else None
    assert form is not None
    email = form.document["state"]["answers"]["2"]["text"]

    rich = client.form_pdf("HR-102", 1)
    plain = client.form_pdf("HR-102", 1, plain=True)

    rich_text = PdfReader(io.BytesIO(rich)).pages[0].extract_text()
    plain_text = PdfReader(io.BytesIO(plain)).pages[0].extract_text()
    assert rich.startswith(b"%PDF-") and plain.startswith(b"%PDF-")
    assert rich != plain
    assert f"Work email\n{email}" in rich_text
    assert f"Work email: {email}" in plain_text


# Life-cycle edges as errors of the tree


def test_submitting_a_locked_form_raises_client_request_error(client: ProformaClient) -> None:
    form_id = client.add_form("OPS-103", 8).forms[0].id
    client.submit_form("OPS-103", form_id)

    with pytest.raises(ClientRequestError, match="already locked") as caught:
        client.submit_form("OPS-103", form_id)

    assert caught.value.status_code == 400
    assert caught.value.error == "client"
    assert f"submit of form {form_id} on OPS-103 refused (400 client)" in str(caught.value)


def test_reopening_a_locked_form_asks_for_an_unlock(client: ProformaClient) -> None:
    form_id = client.add_form("OPS-103", 8).forms[0].id
    client.submit_form("OPS-103", form_id)

    with pytest.raises(ClientRequestError, match="locked; unlock it"):
        client.reopen_form("OPS-103", form_id)


def test_unlocking_an_open_form_raises_client_request_error(client: ProformaClient) -> None:
    form_id = client.add_form("HR-105", 3).forms[0].id

    with pytest.raises(ClientRequestError, match="is not locked \\(it is open\\)"):
        client.unlock_form("HR-105", form_id)


def test_external_visibility_on_a_software_project_raises_client_request_error(
    client: ProformaClient,
) -> None:
    with pytest.raises(ClientRequestError, match="OPS is not a service desk project"):
        client.change_form_visibility("OPS-101", 1, "external")


def test_unknown_form_raises_not_found_without_the_export_hint(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    issue = sandbox.data.issue("HR-101")
    assert issue is not None
    numbers = ", ".join(str(form.id) for form in sorted(issue.forms, key=lambda f: f.id))

    with pytest.raises(NotFoundError) as caught:
        client.submit_form("HR-101", 99)

    assert caught.value.status_code == 404
    assert str(caught.value) == (
        "submit of form 99 on HR-101 refused (404 notFound): Issue HR-101 has no form 99 "
        f"(its forms: {numbers})."
    )


def test_viewer_may_read_the_pdf_but_not_submit(sandbox: Sandbox) -> None:
    with client_as(sandbox, "viewer") as viewer:
        pdf = viewer.form_pdf("HR-101", 1)
        with pytest.raises(ForbiddenError, match="lacks the permission 'Edit Issues'") as caught:
            viewer.submit_form("HR-103", 1)

    assert pdf.startswith(b"%PDF-")
    assert caught.value.status_code == 403


def test_agent_may_not_unlock_but_the_project_lead_may(
    client: ProformaClient, sandbox: Sandbox
) -> None:
    form_id = client.add_form("OPS-104", 8).forms[0].id
    client.submit_form("OPS-104", form_id)

    with client_as(sandbox, "agent") as agent, pytest.raises(ForbiddenError):
        agent.unlock_form("OPS-104", form_id)
    with client_as(sandbox, "lead") as lead:
        assert lead.unlock_form("OPS-104", form_id).status == "submitted"


def test_wrong_password_raises_authentication_error(sandbox: Sandbox) -> None:
    with (
        client_as(sandbox, "admin", "not-it") as api,
        pytest.raises(AuthenticationError, match="401") as caught,
    ):
        api.add_form("HR-101", 3)

    assert "not-it" not in str(caught.value)


# Arguments are checked before anything is sent


@pytest.mark.parametrize("key", ["hr-101", "HR101", "HR-0", "HR-01", "-1", "HR-1/../x", ""])
def test_malformed_issue_key_is_refused_before_any_request(
    client: ProformaClient, sandbox: Sandbox, key: str
) -> None:
    sent = len(sandbox.stats.requests)

    with pytest.raises(FormArgumentError, match=f"issue key {key!r} is not a Jira issue key"):
        client.submit_form(key, 1)
    with pytest.raises(FormArgumentError, match="is not a Jira issue key"):
        client.copy_form("HR-101", 1, key)

    assert len(sandbox.stats.requests) == sent


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.reopen_form("HR-101", 0), "form id must be a whole number from 1, not 0"),
        (lambda c: c.form_pdf("HR-101", True), "form id must be a whole number from 1"),
        (lambda c: c.add_form("HR-101", 3, add=0), "add: Input should be greater than"),
        (lambda c: c.add_form("HR-101", 0), "template_form_id"),
        (lambda c: c.add_form("HR-101", 3, visibility="public"), "visibility must be"),
        (lambda c: c.copy_form("HR-101", 1, "HR-102", status="done"), "status must be open"),
        (lambda c: c.change_form_visibility("HR-101", 1, "hidden"), "internal or external"),
    ],
)
def test_invalid_arguments_are_refused_before_any_request(
    client: ProformaClient, sandbox: Sandbox, call, message: str
) -> None:
    sent = len(sandbox.stats.requests)

    with pytest.raises(FormArgumentError, match=message) as caught:
        call(client)

    assert isinstance(caught.value, ValueError)
    assert len(sandbox.stats.requests) == sent


def test_each_form_call_logs_one_debug_line_and_one_step_line(
    client: ProformaClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="proforma_io")

    client.change_form_visibility("ITSD-103", 1, "internal")

    calls = [r.getMessage() for r in caplog.records if r.name == "proforma_io.client"]
    steps = [r.getMessage() for r in caplog.records if r.name == "proforma_io.form_operations"]
    assert len(calls) == 1
    assert calls[0].startswith("POST /jira/rest/proforma/1/issue/ITSD-103/form/1/visibility/")
    assert steps == ["Form 1 on ITSD-103 is now internal."]
    assert "admin" not in " ".join(calls + steps)
