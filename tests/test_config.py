from pathlib import Path

import pytest
import yaml

from proforma_io.config import load_settings
from proforma_io.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = {"exports": [{"project": "HR", "template": 3}]}


def write(tmp_path: Path, data: object, name: str = "proforma.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def error_text(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, data))
    return str(caught.value)


def test_shipped_configuration_loads_with_every_project():
    settings = load_settings(ROOT / "proforma.yaml")

    assert settings.jira.is_sandbox
    assert settings.projects == ["HR", "ITSD", "OPS"]
    assert [e.table_name for e in settings.exports_for("OPS")] == [
        "ops_access_request",
        "ops_change_request",
    ]


def test_defaults_fill_everything_but_the_exports(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL))

    assert settings.jira.base_url == "sandbox"
    assert settings.exports[0].format == "json"
    assert settings.exports[0].table_name == "form_hr_3"
    assert settings.polling.deadline_seconds == 1800
    assert settings.schedule.cron == "0 2 * * *"


def test_relative_paths_resolve_against_the_file_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = load_settings(write(tmp_path, MINIMAL))

    assert settings.landing_dir == (tmp_path / ".proforma/landing").resolve()
    assert settings.warehouse_url == f"sqlite:///{(tmp_path / '.proforma/warehouse.db').resolve()}"


def test_absolute_and_postgres_warehouse_urls_are_kept(tmp_path):
    url = "postgresql+psycopg://etl@db.example.com:5432/warehouse"
    settings = load_settings(write(tmp_path, {**MINIMAL, "warehouse": {"url": url}}))

    assert settings.warehouse_url == url


def test_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL, "elsewhere.yaml")
    monkeypatch.setenv("PROFORMA_CONFIG", str(path))

    assert load_settings().projects == ["HR"]


def test_base_url_with_context_path_is_accepted_without_trailing_slash(tmp_path):
    data = {**MINIMAL, "jira": {"base_url": "https://jira.example.com/jira/"}}

    settings = load_settings(write(tmp_path, data))

    assert settings.jira.base_url == "https://jira.example.com/jira"
    assert not settings.jira.is_sandbox


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"exports": [{"project": "hr", "template": 3}]}, "exports.0.project: expected a Jira"),
        ({"exports": [{"project": "HR", "template": 0}]}, "exports.0.template"),
        ({"exports": [{"project": "HR", "template": 3, "format": "csv"}]}, "exports.0.format"),
        ({"exports": [{"project": "HR", "template": 3, "colour": 1}]}, "exports.0.colour"),
        ({**MINIMAL, "jira": {"base_url": "jira.example.com"}}, "jira.base_url: expected"),
        ({**MINIMAL, "jira": {"auth": {"method": "kerberos"}}}, "jira.auth.method"),
        ({**MINIMAL, "schedule": {"cron": "daily"}}, "schedule.cron: expected a five-field"),
        ({**MINIMAL, "schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone: unknown"),
        ({**MINIMAL, "polling": {"deadline_seconds": -1}}, "polling.deadline_seconds"),
        ({"exports": []}, "exports: expected at least one export"),
        ({"exports": [{"project": "HR", "template": True}]}, "exports.0.template"),
        ({**MINIMAL, "schedule": {"cron": "99 * * * *"}}, "schedule.cron: expected a five-field"),
        ({**MINIMAL, "warehouse": {"url": "notaurl"}}, "warehouse.url: expected a SQLite or"),
        ({**MINIMAL, "warehouse": {"url": "mysql://db/x"}}, "warehouse.url: expected a SQLite or"),
        (
            {"exports": [{"project": "HR", "template": 3, "table": "answers"}]},
            "exports.0.table: 'answers' is one of the warehouse's own tables",
        ),
        (
            {**MINIMAL, "polling": {"initial_interval_seconds": 5, "max_interval_seconds": 1}},
            "polling: max_interval_seconds (1.0) is smaller than initial_interval_seconds (5.0)",
        ),
        ({**MINIMAL, "sandbox": {"replay_dir": "nowhere"}}, "sandbox.replay_dir: no folder at"),
        ({**MINIMAL, "jira": {"ca_bundle": "nowhere.pem"}}, "jira.ca_bundle: no file at"),
        ({"jira": {}}, "exports: Field required"),
    ],
)
def test_invalid_settings_name_the_bad_key(tmp_path, data, expected):
    message = error_text(tmp_path, data)

    assert "proforma.yaml is invalid" in message
    assert expected in message


def test_an_error_inside_one_export_is_reported_alone(tmp_path):
    message = error_text(tmp_path, {"exports": [{"project": "hr", "template": 3}]})

    assert message.count("\n") == 1
    assert "at least one export" not in message


def test_the_same_template_twice_is_refused(tmp_path):
    data = {"exports": [{"project": "HR", "template": 3}, {"project": "HR", "template": 3}]}

    assert "project HR template 3 is listed twice" in error_text(tmp_path, data)


def test_two_exports_cannot_share_a_table(tmp_path):
    data = {
        "exports": [
            {"project": "HR", "template": 3, "table": "forms"},
            {"project": "OPS", "template": 7, "table": "forms"},
        ]
    }

    assert "table 'forms' is used by two exports" in error_text(tmp_path, data)


def test_table_names_must_be_safe_identifiers(tmp_path):
    data = {"exports": [{"project": "HR", "template": 3, "table": 'x"; drop table responses'}]}

    assert "exports.0.table: expected a lower-case table name" in error_text(tmp_path, data)


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml not found"):
        load_settings(tmp_path / "nowhere.yaml")

    assert "is not valid YAML" in error_text(tmp_path, "exports: [unclosed")
    assert "expected a mapping at the top level, got list" in error_text(tmp_path, "- 1\n- 2\n")
