"""The configuration file: which projects and templates to export, and where data goes.

One YAML file, found through `PROFORMA_CONFIG` (default `proforma.yaml` in the working
directory), validated when loaded. Relative paths in it are relative to the file's folder.
Secrets are never in the file: it names the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from proforma_io.errors import ConfigError
from proforma_io.schema import CORE_TABLES, QUARANTINE

CONFIG_ENV = "PROFORMA_CONFIG"
DEFAULT_CONFIG = "proforma.yaml"
SANDBOX_URL = "sandbox"

PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CRON_FIELDS = 5
WAREHOUSE_BACKENDS = ("sqlite", "postgresql")
# The warehouse's and the lake's own tables, which a template's wide table may not be named.
RESERVED_TABLES = frozenset(
    {
        *CORE_TABLES,
        QUARANTINE,
        "load_log",
        "wide_tables",
        "wide_columns",
        "schema_changes",
        "schema_version",
    }
)
LAKE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSettings(_Strict):
    """How to authenticate: the names of the environment variables holding the secrets."""

    method: Literal["basic", "token", "none"] = "basic"
    username_env: str = "PROFORMA_USERNAME"
    password_env: str = "PROFORMA_PASSWORD"
    token_env: str = "PROFORMA_TOKEN"


class JiraSettings(_Strict):
    """Where the ProForma API is. `base_url: sandbox` runs the embedded sandbox."""

    base_url: str = SANDBOX_URL
    auth: AuthSettings = AuthSettings()
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    verify_tls: bool = True
    ca_bundle: str | None = None
    retry_attempts: Annotated[int, Field(ge=1, le=20)] = 4
    retry_max_wait_seconds: Annotated[float, Field(ge=0)] = 60.0

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value == SANDBOX_URL:
            return value
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"expected 'sandbox' or an http(s) URL such as https://jira.example.com/jira, "
                f"got {value!r}"
            )
        return value

    @property
    def is_sandbox(self) -> bool:
        return self.base_url == SANDBOX_URL


class SandboxSettings(_Strict):
    """The embedded sandbox: generated data (by seed) or export files replayed from a folder."""

    seed: int = 42
    issues_per_project: Annotated[int, Field(ge=1)] = 40
    export_seconds: Annotated[float, Field(ge=0)] = 1.0
    replay_dir: str | None = None


class ExportSettings(_Strict):
    """One export: every response to one template form in one project."""

    project: str
    template: Annotated[int, Field(ge=1, strict=True)]
    format: Literal["json", "xlsx"] = "json"
    fields: tuple[str, ...] = ()
    jql: str | None = None
    table: str | None = None

    @field_validator("project")
    @classmethod
    def _check_project(cls, value: str) -> str:
        if not PROJECT_KEY.match(value):
            raise ValueError(f"expected a Jira project key such as HR or ITSD, got {value!r}")
        return value

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str | None) -> str | None:
        if value is not None and not TABLE_NAME.match(value):
            raise ValueError(
                f"expected a lower-case table name of letters, digits and _, got {value!r}"
            )
        if value in RESERVED_TABLES:
            raise ValueError(f"{value!r} is one of the warehouse's own tables; choose another name")
        return value

    @property
    def table_name(self) -> str:
        return self.table or f"form_{self.project.lower()}_{self.template}"


class PathSettings(_Strict):
    landing: str = ".proforma/landing"
    lake: str = ".proforma/lake"


class WarehouseSettings(_Strict):
    url: str = "sqlite:///.proforma/warehouse.db"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in WAREHOUSE_BACKENDS:
            raise ValueError(
                "expected a SQLite or PostgreSQL SQLAlchemy URL such as "
                f"sqlite:///warehouse.db or postgresql+psycopg://user@host/db, got {value!r}"
            )
        return value


class PollingSettings(_Strict):
    initial_interval_seconds: Annotated[float, Field(gt=0)] = 0.5
    max_interval_seconds: Annotated[float, Field(gt=0)] = 10.0
    multiplier: Annotated[float, Field(ge=1)] = 1.5
    deadline_seconds: Annotated[float, Field(gt=0)] = 1800.0
    restarts: Annotated[int, Field(ge=0, le=10)] = 2
    restart_cooldown_seconds: Annotated[float, Field(ge=0)] = 30.0

    @model_validator(mode="after")
    def _check_intervals(self) -> PollingSettings:
        if self.max_interval_seconds < self.initial_interval_seconds:
            raise ValueError(
                f"max_interval_seconds ({self.max_interval_seconds}) is smaller than "
                f"initial_interval_seconds ({self.initial_interval_seconds})"
            )
        return self


class ScheduleSettings(_Strict):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        if len(value.split()) != CRON_FIELDS or not croniter.is_valid(value):
            raise ValueError(f"expected a five-field cron expression, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


# Column-name patterns whose values the Dagster previews hide: people's names and ids, e-mail
# addresses, phone numbers, profile links, free-text summaries and descriptions.
DEFAULT_MASKED_COLUMNS = (
    "*name*",
    "*email*",
    "*e_mail*",
    "*phone*",
    "*mobile*",
    "*address*",
    "*user*",
    "*manager*",
    "*reporter*",
    "*assignee*",
    "*approver*",
    "*owner*",
    "*contact*",
    "*profile*",
    "*summary*",
    "*description*",
)


class OperationsSettings(_Strict):
    """How the Dagster code location runs the loads: pools, retries, freshness and previews."""

    export_pool_limit: Annotated[int, Field(ge=1)] = 2
    export_retries: Annotated[int, Field(ge=0, le=10)] = 3
    export_retry_delay_seconds: Annotated[float, Field(ge=0)] = 30.0
    freshness_grace_minutes: Annotated[int, Field(ge=1)] = 120
    preview_rows: Annotated[int, Field(ge=0, le=50)] = 5
    masked_columns: tuple[str, ...] = DEFAULT_MASKED_COLUMNS

    @field_validator("masked_columns")
    @classmethod
    def _check_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        blank = [pattern for pattern in value if not pattern.strip()]
        if blank:
            raise ValueError("expected column names or glob patterns such as '*email*', got ''")
        return tuple(pattern.strip().lower() for pattern in value)


class Settings(_Strict):
    """The whole configuration file."""

    jira: JiraSettings = JiraSettings()
    sandbox: SandboxSettings = SandboxSettings()
    exports: tuple[ExportSettings, ...]
    paths: PathSettings = PathSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    polling: PollingSettings = PollingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    operations: OperationsSettings = OperationsSettings()
    base_dir: Path = Path(".")

    @field_validator("exports")
    @classmethod
    def _check_exports(cls, value: tuple[ExportSettings, ...]) -> tuple[ExportSettings, ...]:
        if not value:
            raise ValueError("expected at least one export (a project and a template)")
        return value

    @model_validator(mode="after")
    def _check_paths(self) -> Settings:
        replay, bundle = self.sandbox.replay_dir, self.jira.ca_bundle
        if replay and not self.resolve(replay).is_dir():
            raise ValueError(f"sandbox.replay_dir: no folder at {self.resolve(replay)}")
        if bundle and not self.resolve(bundle).is_file():
            raise ValueError(f"jira.ca_bundle: no file at {self.resolve(bundle)}")
        return self

    @model_validator(mode="after")
    def _check_unique(self) -> Settings:
        seen: set[tuple[str, int]] = set()
        tables: dict[str, str] = {}
        for export in self.exports:
            pair = (export.project, export.template)
            if pair in seen:
                raise ValueError(
                    f"project {export.project} template {export.template} is listed twice"
                )
            seen.add(pair)
            owner = tables.setdefault(export.table_name, f"{export.project}/{export.template}")
            if owner != f"{export.project}/{export.template}":
                raise ValueError(f"table {export.table_name!r} is used by two exports")
        return self

    @property
    def projects(self) -> list[str]:
        """Project keys in the order they first appear."""
        return list(dict.fromkeys(export.project for export in self.exports))

    def exports_for(self, project: str) -> list[ExportSettings]:
        found = [export for export in self.exports if export.project == project]
        if not found:
            raise ConfigError(f"project {project} has no exports in the configuration")
        return found

    def resolve(self, path: str) -> Path:
        """A path from the file, made absolute against the file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    @property
    def landing_dir(self) -> Path:
        return self.resolve(self.paths.landing)

    @property
    def lake_dir(self) -> Path:
        return self.resolve(self.paths.lake)

    @property
    def lake_location(self) -> str:
        """The lake: a URI such as `s3://bucket/lake` as written, else the absolute folder."""
        if LAKE_URI.match(self.paths.lake):
            return self.paths.lake
        return str(self.lake_dir)

    @property
    def warehouse_display_url(self) -> str:
        """The warehouse URL with any password hidden, for printing."""
        return make_url(self.warehouse_url).render_as_string(hide_password=True)

    @property
    def warehouse_url(self) -> str:
        """The SQLAlchemy URL, with a relative SQLite path made absolute."""
        url = self.warehouse.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The configuration file to use: the argument, else `PROFORMA_CONFIG`, else the default."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the configuration file; errors name the file and the bad key."""
    source = config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"configuration file {source} not found (set {CONFIG_ENV} or pass --config)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"configuration file {source} cannot be read: {exc}") from exc

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(raw).__name__}"
        )

    return settings_from_mapping(raw, base_dir=source.resolve().parent, source=str(source))


def settings_from_mapping(
    raw: dict[str, Any], *, base_dir: Path, source: str = "configuration"
) -> Settings:
    """Validate an already-parsed configuration mapping."""
    if "base_dir" in raw:
        raise ConfigError(f"{source}: base_dir: this key is set by the loader, not the file")
    try:
        return Settings.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid:\n{describe_errors(exc.errors())}") from None


def describe_errors(errors: Iterable[Any]) -> str:
    """One line per validation error: the dotted key, then what was wrong."""
    lines = []
    for error in errors:
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}" if key else f"  {message}")
    return "\n".join(lines)
