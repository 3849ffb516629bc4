"""Credentials never appear anywhere a load leaves a trace.

A load runs through Dagster with distinctive credentials, retries, a restarted export and a
failure, and the test then searches for the secrets (as given, and as the Authorization header
carries them) in the captured logs, the Dagster instance's storage and event log, the run's
metadata, the exception texts, the reprs, and every file of the landing folder, the lake and
the warehouse.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.definitions import DAILY_JOB, build_definitions
from pipelines.resources import ProformaApiResource, build_resources
from proforma_io.auth import BasicCredentials, TokenCredentials
from proforma_io.client import ProformaClient
from proforma_io.config import JiraSettings, SandboxSettings, Settings, load_settings
from proforma_io.errors import AuthenticationError
from proforma_io.load import ApiTarget, open_client
from proforma_io.sandbox import Fault, Sandbox, SandboxData, SandboxUser
from proforma_io.sandbox.auth import ALL_PERMISSIONS

USER = "svc-export-k7q"
PASSWORD = "pw-Zq81-never-show"
TOKEN = "pat-Xx93-never-show"
WRONG_PASSWORD = "pw-wrong-Jd02-never-show"


def secrets(password: str = PASSWORD) -> list[str]:
    """The secrets in every form a request could carry them."""
    basic = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return [password, TOKEN, basic, f"Basic {basic}", f"Bearer {TOKEN}"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    user = SandboxUser(USER, PASSWORD, ALL_PERMISSIONS, (TOKEN,))
    data = SandboxData.generated(seed=5, issues_per_project=3)
    with Sandbox(data, export_seconds=0.05, users=[user]).running() as running:
        yield running


def settings_for(root: Path, sandbox: Sandbox, method: str = "basic") -> Settings:
    config = {
        "jira": {"base_url": sandbox.base_url, "auth": {"method": method}, "timeout_seconds": 5},
        "exports": [
            {"project": "OPS", "template": 7, "fields": ["summary"]},
            {"project": "OPS", "template": 8, "format": "xlsx"},
        ],
        "paths": {"landing": "landing", "lake": "lake"},
        "warehouse": {"url": "sqlite:///warehouse.db"},
        "polling": {
            "initial_interval_seconds": 0.02,
            "max_interval_seconds": 0.05,
            "restart_cooldown_seconds": 0,
        },
        "operations": {"export_retries": 0},
    }
    path = root / "proforma.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def run(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    return job.execute_in_process(instance=instance, partition_key="OPS", raise_on_error=False)


def stored(root: Path) -> str:
    """Every byte under `root` (landing, lake, warehouse, Dagster's storage) as text."""
    return "\n".join(
        path.read_bytes().decode("latin-1") for path in sorted(root.rglob("*")) if path.is_file()
    )


def event_log(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """The run's event log as stored: messages, events, metadata, errors."""
    return "\n".join(
        f"{entry.user_message} {entry.dagster_event!r}"
        for entry in instance.all_logs(result.run_id)
    )


def assert_nowhere(texts: dict[str, str], found_secrets: list[str]) -> None:
    for where, text in texts.items():
        for secret in found_secrets:
            assert secret not in text, f"{secret!r} appears in {where}"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    storage = tmp_path / "dagster"
    storage.mkdir()
    with dg.instance_for_test(temp_dir=str(storage)) as active:
        yield active


@pytest.mark.parametrize("method", ["basic", "token"])
def test_a_load_with_retries_and_a_restart_leaves_no_trace_of_the_credentials(
    tmp_path: Path,
    sandbox: Sandbox,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PROFORMA_USERNAME", USER)
    monkeypatch.setenv("PROFORMA_PASSWORD", PASSWORD)
    monkeypatch.setenv("PROFORMA_TOKEN", TOKEN)
    settings = settings_for(tmp_path, sandbox, method)
    sandbox.faults.add(
        Fault.http(503, call="status", retry_after="0"),
        Fault.failed_export("Disk full"),
        Fault.dropped_download(50),
    )

    result = run(settings, instance)

    assert result.success
    assert sandbox.faults.applied[:2] == [
        "export fails: Disk full",
        "503 on status (Retry-After: 0)",
    ]
    assert all(status != 401 for _, _, status in sandbox.stats.requests)
    metadata = [
        event.materialization.metadata
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    ]
    resources = build_resources(settings)
    assert_nowhere(
        {
            "the captured logs": caplog.text,
            "the event log": event_log(instance, result),
            "the run's events and metadata": f"{result.all_events!r} {metadata!r}",
            "the resources' reprs": f"{resources!r} {resources['proforma_api']}",
            "the landing folder, lake, warehouse and Dagster storage": stored(tmp_path),
        },
        secrets(),
    )


def test_a_refused_load_names_the_user_problem_but_not_the_secret(
    tmp_path: Path,
    sandbox: Sandbox,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PROFORMA_USERNAME", USER)
    monkeypatch.setenv("PROFORMA_PASSWORD", WRONG_PASSWORD)
    settings = settings_for(tmp_path, sandbox)

    result = run(settings, instance)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "refused (401); check the user name and password or the token" in description
    assert_nowhere(
        {
            "the failure": f"{failure!r} {description}",
            "the captured logs": caplog.text,
            "the event log": event_log(instance, result),
            "the landing folder, lake, warehouse and Dagster storage": stored(tmp_path),
        },
        secrets(WRONG_PASSWORD),
    )


def test_errors_and_reprs_of_the_library_never_show_the_secret(sandbox: Sandbox) -> None:
    wrong = BasicCredentials(USER, WRONG_PASSWORD)
    resource = ProformaApiResource(
        base_url=sandbox.base_url, username=USER, password=WRONG_PASSWORD, token=TOKEN
    )

    with ProformaClient(sandbox.base_url, credentials=wrong) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.export_status("responses-json-HR-3-1")
        shown = [repr(client), repr(wrong), str(wrong), repr(TokenCredentials(TOKEN))]
    target = ApiTarget(JiraSettings(base_url=sandbox.base_url), SandboxSettings(), wrong)
    with open_client(target) as opened:
        shown.append(repr(opened))
    shown += [str(caught.value), repr(caught.value), repr(vars(caught.value)), repr(resource)]

    assert_nowhere({"the reprs and errors": " ".join(shown)}, secrets(WRONG_PASSWORD))
