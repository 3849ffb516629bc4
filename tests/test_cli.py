"""The `proforma` command against the sandbox over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from proforma_io.cli import app
from proforma_io.sandbox import Sandbox, SandboxData

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox():
    server = Sandbox(SandboxData.generated(seed=3, issues_per_project=5), export_seconds=0.1)
    with server.running():
        yield server


@pytest.fixture
def config(sandbox, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PROFORMA_USERNAME", "admin")
    monkeypatch.setenv("PROFORMA_PASSWORD", "admin")
    path = tmp_path / "proforma.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jira": {"base_url": sandbox.base_url},
                "exports": [{"project": "HR", "template": 3, "fields": ["summary"]}],
                "polling": {"initial_interval_seconds": 0.05, "max_interval_seconds": 0.1},
            }
        )
    )
    return path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_export_run_lands_the_file_once_and_prints_json(config, sandbox):
    result = invoke("export", "run", "HR", "3", "--config", str(config), "--json")

    assert result.exit_code == 0, result.output
    landed = json.loads(result.stdout)
    path = Path(landed["path"])
    assert path.read_bytes()[:1] == b"{"
    assert path.stat().st_size == landed["size_bytes"]
    assert landed["fields"] == ["summary"]
    assert sandbox.stats.downloads[landed["export_id"]] == 1
    assert path.is_relative_to(config.parent / ".proforma" / "landing" / "HR" / "3")


def test_export_run_format_flag_overrides_the_configuration(config):
    result = invoke("export", "run", "HR", "3", "-f", "xlsx", "-c", str(config), "--json")

    assert result.exit_code == 0, result.output
    landed = json.loads(result.stdout)
    assert landed["export_id"].startswith("responses-xlsx-HR-3-")
    assert Path(landed["path"]).read_bytes()[:2] == b"PK"


def test_start_status_download_by_hand_downloads_only_once(config, tmp_path, sandbox):
    started = json.loads(invoke("export", "start", "HR", "3", "-c", str(config), "--json").stdout)
    export_id = started["id"]
    sandbox_wait(config, export_id)
    target = tmp_path / "out.json"

    first = invoke("export", "download", export_id, "-o", str(target), "-c", str(config))
    second = invoke(
        "export", "download", export_id, "-o", str(tmp_path / "again.json"), "-c", str(config)
    )

    assert first.exit_code == 0, first.output
    assert json.loads(target.read_text())["projectKey"] == "HR"
    assert second.exit_code == 1
    assert "already downloaded" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1


def sandbox_wait(config: Path, export_id: str) -> None:
    for _ in range(100):
        status = json.loads(
            invoke("export", "status", export_id, "-c", str(config), "--json").stdout
        )
        if status["complete"]:
            return
    raise AssertionError(f"export {export_id} never completed")


def test_unknown_project_fails_with_the_server_message(config):
    result = invoke("export", "run", "HX", "3", "-c", str(config))

    assert result.exit_code == 1
    assert "HX" in result.stderr
    assert "400 client" in result.stderr


def test_wrong_password_fails_with_an_authentication_error(config, monkeypatch):
    monkeypatch.setenv("PROFORMA_PASSWORD", "not-the-password")

    result = invoke("export", "run", "HR", "3", "-c", str(config))

    assert result.exit_code == 1
    assert "401" in result.stderr
    assert "not-the-password" not in result.output


def test_bad_format_is_a_usage_error_naming_the_key(config):
    result = invoke("export", "run", "HR", "3", "--format", "csv", "-c", str(config))

    assert result.exit_code == 2
    assert "format" in result.stderr


def test_missing_credentials_name_the_variable(config, monkeypatch):
    monkeypatch.delenv("PROFORMA_PASSWORD")

    result = invoke("export", "run", "HR", "3", "-c", str(config))

    assert result.exit_code == 2
    assert "PROFORMA_PASSWORD" in result.stderr


def test_config_check_prints_what_would_load(config):
    result = invoke("config", "check", "-c", str(config), "--json")

    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["projects"] == ["HR"]
    assert checked["exports"] == ["HR/3 as json -> form_hr_3"]
    assert checked["credentials"] == "set in the environment"


def test_config_check_hides_the_warehouse_password_and_names_missing_credentials(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("PROFORMA_PASSWORD", raising=False)
    path = tmp_path / "proforma.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "jira": {"base_url": "https://jira.example.com/jira"},
                "exports": [{"project": "HR", "template": 3}],
                "warehouse": {"url": "postgresql+psycopg://etl:S3cretPGpw@db.example.com/dw"},
            }
        )
    )

    result = invoke("config", "check", "-c", str(path), "--json")

    assert result.exit_code == 0, result.output
    assert "S3cretPGpw" not in result.output
    checked = json.loads(result.stdout)
    assert checked["warehouse"] == "postgresql+psycopg://etl:***@db.example.com/dw"
    assert "PROFORMA_PASSWORD" in checked["credentials"]


def test_missing_configuration_is_exit_two_with_the_path(tmp_path):
    result = invoke("config", "check", "-c", str(tmp_path / "absent.yaml"))

    assert result.exit_code == 2
    assert "absent.yaml not found" in result.stderr
