"""`proforma form ...` against the sandbox over real HTTP: every operation, every error."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader
from typer.testing import CliRunner

from proforma_io.cli import app
from proforma_io.sandbox import Sandbox, SandboxData

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=11, issues_per_project=5)
    with Sandbox(data, export_seconds=0.05).running() as running:
        yield running


@pytest.fixture
def config(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROFORMA_USERNAME", "admin")
    monkeypatch.setenv("PROFORMA_PASSWORD", "admin")
    monkeypatch.delenv("PROFORMA_JIRA_URL", raising=False)
    path = tmp_path / "proforma.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jira": {"base_url": sandbox.base_url},
                "exports": [{"project": "HR", "template": 3, "fields": ["status"]}],
                "polling": {"initial_interval_seconds": 0.02, "max_interval_seconds": 0.05},
            }
        )
    )
    return path


def form(config: Path, *args: str):
    return runner.invoke(app, ["form", *args, "--config", str(config)])


def form_json(config: Path, *args: str):
    result = form(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def added(config: Path, issue: str, template: int) -> int:
    return form_json(config, "add", issue, str(template))[0]["id"]


def one_line_failure(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# Every operation


def test_form_add_prints_each_new_form_and_json_lists_them(config: Path, sandbox: Sandbox) -> None:
    issue = sandbox.data.issue("HR-102")
    assert issue is not None
    first = issue.next_form_id

    text = form(config, "add", "HR-102", "3")
    listed = form_json(config, "add", "HR-102", "3", "--count", "2")

    assert text.exit_code == 0, text.output
    assert text.stdout == f"HR-102 form {first}: New starter onboarding (open, internal)\n"
    assert [entry["id"] for entry in listed] == [first + 1, first + 2]
    assert listed[0]["issueKey"] == "HR-102" and listed[0]["templateFormId"] == 3


def test_form_copy_takes_the_requested_status_and_visibility(config: Path) -> None:
    copied = form_json(
        config, "copy", "ITSD-101", "1", "ITSD-103", "--status", "open", "--visibility", "external"
    )

    assert copied["issueKey"] == "ITSD-103"
    assert (copied["status"], copied["visibility"]) == ("open", "external")


def test_form_submit_says_when_the_issue_transitioned(config: Path, sandbox: Sandbox) -> None:
    issue = sandbox.data.issue("HR-104")
    assert issue is not None
    issue.fields["status"] = {"name": "To Do"}
    form_id = added(config, "HR-104", 3)

    result = form(config, "submit", "HR-104", str(form_id))

    assert result.exit_code == 0, result.output
    assert result.stdout == f"HR-104 form {form_id}: submitted (the issue transitioned)\n"
    assert issue.status_name == "Done"


def test_locked_form_needs_unlock_before_reopen(config: Path) -> None:
    form_id = str(added(config, "OPS-102", 8))

    submitted = form_json(config, "submit", "OPS-102", form_id)
    submit_again = form(config, "submit", "OPS-102", form_id)
    reopen_locked = form(config, "reopen", "OPS-102", form_id)
    unlocked = form_json(config, "unlock", "OPS-102", form_id)
    reopened = form(config, "reopen", "OPS-102", form_id)

    assert submitted == {
        "issueKey": "OPS-102",
        "formId": int(form_id),
        "status": "locked",
        "transitioned": submitted["transitioned"],
    }
    assert "400 client" in one_line_failure(submit_again)
    assert "already locked" in submit_again.stderr
    assert "unlock it" in one_line_failure(reopen_locked)
    assert unlocked["status"] == "submitted"
    assert reopened.stdout == f"OPS-102 form {form_id}: open\n"


def test_unlocking_an_open_form_fails_with_the_reason(config: Path) -> None:
    form_id = str(added(config, "HR-103", 3))

    reason = one_line_failure(form(config, "unlock", "HR-103", form_id))

    assert f"unlock of form {form_id} on HR-103 refused (400 client)" in reason
    assert "is not locked (it is open)" in reason


def test_form_visibility_is_external_only_on_a_service_desk(config: Path) -> None:
    external = form_json(config, "visibility", "ITSD-102", "1", "external")
    software = form(config, "visibility", "OPS-101", "1", "external")

    assert external == {"issueKey": "ITSD-102", "formId": 1, "visibility": "external"}
    assert "OPS is not a service desk project" in one_line_failure(software)


def test_form_pdf_writes_a_pdf_whose_text_holds_the_answers(
    config: Path, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    issue = sandbox.data.issue("HR-101")
    stored = issue.form(1) if issue else None
    assert stored is not None
    name = "Siobhán Ødegård"
    stored.document["state"]["answers"]["1"] = {"text": name}

    rich = form_json(config, "pdf", "HR-101", "1")
    plain = form(config, "pdf", "HR-101", "1", "--plain", "-o", "plain.pdf")

    rich_bytes = (tmp_path / "HR-101-form-1.pdf").read_bytes()
    plain_bytes = (tmp_path / "plain.pdf").read_bytes()
    assert rich == {
        "issueKey": "HR-101",
        "formId": 1,
        "path": "HR-101-form-1.pdf",
        "bytes": len(rich_bytes),
    }
    assert plain.stdout == f"HR-101 form 1: {len(plain_bytes)} bytes written to plain.pdf\n"
    assert rich_bytes != plain_bytes
    assert f"Employee name\n{name}" in pdf_text(rich_bytes)
    assert f"Employee name: {name}" in pdf_text(plain_bytes)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_a_form_submitted_from_the_cli_is_submitted_in_the_next_export(config: Path) -> None:
    form_id = added(config, "HR-105", 3)
    form(config, "submit", "HR-105", str(form_id))

    result = runner.invoke(app, ["export", "run", "HR", "3", "-c", str(config), "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(Path(json.loads(result.stdout)["path"]).read_text(encoding="utf-8"))
    entry = next(
        e for e in document["responses"] if e["issueKey"] == "HR-105" and e["form"]["id"] == form_id
    )
    assert entry["form"]["state"]["status"] == "s"
    assert entry["fields"]["status"] == {"name": "Done"}


# Errors: one line, non-zero exit


def test_wrong_password_is_401_without_the_password(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROFORMA_PASSWORD", "not-the-password")

    result = form(config, "submit", "HR-101", "1")

    assert "401" in one_line_failure(result)
    assert "not-the-password" not in result.output


def test_viewer_is_forbidden_to_submit(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFORMA_USERNAME", "viewer")
    monkeypatch.setenv("PROFORMA_PASSWORD", "viewer")

    reason = one_line_failure(form(config, "submit", "HR-101", "1"))

    assert "403 forbidden" in reason
    assert "lacks the permission 'Edit Issues'" in reason


def test_unknown_issue_is_404_naming_it(config: Path) -> None:
    reason = one_line_failure(form(config, "reopen", "HR-999", "1"))

    assert "404 notFound" in reason
    assert "Issue HR-999 does not exist" in reason


def test_malformed_issue_key_is_a_usage_error_and_nothing_is_sent(
    config: Path, sandbox: Sandbox
) -> None:
    sent = len(sandbox.stats.requests)

    reason = one_line_failure(form(config, "submit", "hr-101", "1"), code=2)

    assert "issue key 'hr-101' is not a Jira issue key" in reason
    assert len(sandbox.stats.requests) == sent


def test_unknown_visibility_word_is_a_usage_error(config: Path) -> None:
    result = form(config, "visibility", "ITSD-101", "1", "public")

    assert result.exit_code == 2
    assert "public" in result.output


# Configuration from flags and environment


def test_jira_flag_and_environment_work_without_a_configuration_file(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROFORMA_CONFIG", raising=False)
    monkeypatch.setenv("PROFORMA_USERNAME", "lead")
    monkeypatch.setenv("PROFORMA_PASSWORD", "lead")

    by_flag = runner.invoke(
        app, ["form", "visibility", "ITSD-104", "1", "internal", "--jira", sandbox.base_url]
    )
    monkeypatch.setenv("PROFORMA_JIRA_URL", sandbox.base_url)
    by_env = runner.invoke(app, ["form", "visibility", "ITSD-104", "1", "internal"])
    bad = runner.invoke(app, ["form", "submit", "HR-101", "1", "--jira", "ftp://nowhere"])

    assert by_flag.stdout == by_env.stdout == "ITSD-104 form 1: internal\n"
    assert "--jira: expected 'sandbox' or an http(s) URL" in one_line_failure(bad, code=2)


def test_jira_flag_overrides_the_configured_url(config: Path) -> None:
    result = runner.invoke(
        app, ["form", "submit", "HR-101", "1", "-c", str(config), "--jira", "http://127.0.0.1:9"]
    )

    assert "could not reach http://127.0.0.1:9" in one_line_failure(result)


# Help that teaches


def test_help_lists_every_form_operation_with_examples() -> None:
    group = runner.invoke(app, ["form", "--help"], env={"COLUMNS": "120"})
    commands = {
        name: runner.invoke(app, ["form", name, "--help"], env={"COLUMNS": "120"}).stdout
        for name in ("add", "copy", "submit", "reopen", "unlock", "pdf", "visibility")
    }

    assert group.exit_code == 0
    assert all(name in group.stdout for name in commands)
    assert "unlock" in group.stdout and "service-desk" in group.stdout
    assert all(f"proforma form {name} " in text for name, text in commands.items())


def test_sandbox_help_names_the_users_and_their_permissions() -> None:
    result = runner.invoke(app, ["sandbox", "--help"], env={"COLUMNS": "120"})

    for user in ("admin", "lead", "agent", "viewer", "exporter"):
        assert f"  {user} " in result.stdout
    assert "sandbox-admin-token" in result.stdout
