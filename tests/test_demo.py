"""`python -m pipelines` on the embedded default: sandbox in the process, SQLite, Parquet."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from pipelines.run import app


def test_demo_loads_every_project_from_the_embedded_sandbox(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    config = tmp_path / "proforma.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sandbox": {"issues_per_project": 5, "export_seconds": 0.1},
                "exports": [
                    {"project": "HR", "template": 3, "fields": ["summary"]},
                    {"project": "OPS", "template": 8, "format": "xlsx"},
                ],
                "polling": {"initial_interval_seconds": 0.05},
            }
        )
    )

    result = CliRunner().invoke(app, ["--config", str(config)])

    assert result.exit_code == 0, result.output
    assert "Loading 2 project(s) from the embedded sandbox: HR, OPS" in result.output
    assert result.output.count("succeeded in") == 2
    assert result.output.count("s; 6 checks passed") == 2
    assert "responses-json-HR-3-" in result.output
    assert "responses-xlsx-OPS-8-" in result.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / '.proforma' / 'warehouse.db'}")
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text("select project_key, count(*) from responses group by project_key")
            ).all()
        )
    assert counts["HR"] > 0 and counts["OPS"] > 0
    assert (tmp_path / ".proforma" / "lake" / "form_hr_3" / "project_key=HR").is_dir()
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert sorted(run.tags["proforma/project"] for run in runs) == ["HR", "OPS"]
    assert all(run.is_success for run in runs)


def test_demo_rejects_a_project_not_in_the_configuration(tmp_path):
    config = tmp_path / "proforma.yaml"
    config.write_text(yaml.safe_dump({"exports": [{"project": "HR", "template": 3}]}))

    result = CliRunner().invoke(app, ["--config", str(config), "--project", "NOPE"])

    assert result.exit_code == 2
    assert "not in the configuration: NOPE" in result.output


def test_demo_names_the_check_that_kept_an_emptied_export_out_of_the_warehouse(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    config = tmp_path / "proforma.yaml"
    settings = {
        "sandbox": {"issues_per_project": 3, "export_seconds": 0.05},
        "exports": [{"project": "HR", "template": 3}],
        "polling": {"initial_interval_seconds": 0.02},
    }
    config.write_text(yaml.safe_dump(settings))
    assert CliRunner().invoke(app, ["--config", str(config)]).exit_code == 0
    settings["exports"][0]["jql"] = 'summary ~ "nothing says this"'
    config.write_text(yaml.safe_dump(settings))

    result = CliRunner().invoke(app, ["--config", str(config)])

    assert result.exit_code == 1
    assert "HR: run " in result.output and " failed" in result.output
    assert "check export_not_emptied: Project HR: the new export has no responses" in (
        " ".join(result.output.split())
    )


def test_demo_names_missing_credentials_before_running(tmp_path, monkeypatch):
    monkeypatch.delenv("PROFORMA_USERNAME", raising=False)
    monkeypatch.delenv("PROFORMA_PASSWORD", raising=False)
    config = tmp_path / "proforma.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "jira": {"base_url": "https://jira.example.com/jira"},
                "exports": [{"project": "HR", "template": 3}],
            }
        )
    )

    result = CliRunner().invoke(app, ["--config", str(config)])

    assert result.exit_code == 2
    assert "PROFORMA_USERNAME" in result.output
    assert "Traceback" not in result.output


def test_a_failed_project_is_reported_in_one_line_without_a_stack_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "blocked").write_text("a file where the landing folder should be")
    config = tmp_path / "proforma.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sandbox": {"issues_per_project": 2, "export_seconds": 0.05},
                "exports": [{"project": "HR", "template": 3}],
                "paths": {"landing": "blocked/landing"},
                "operations": {"export_retries": 0},
            }
        )
    )

    result = CliRunner().invoke(app, ["--config", str(config)])

    assert result.exit_code == 1
    assert "HR: run" in result.output and "failed" in result.output
    reasons = [line for line in result.output.splitlines() if "    landed_exports: " in line]
    assert len(reasons) == 1
    assert "cannot write the landing folder of HR template 3" in reasons[0]
    assert "paths.landing" in reasons[0]
