"""Dagster resources: the ProForma API, the local storage folders and the warehouse."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import make_url

from proforma_io.auth import BasicCredentials, TokenCredentials
from proforma_io.client import ProformaClient
from proforma_io.config import AuthSettings, JiraSettings, SandboxSettings, Settings
from proforma_io.landing import Landing
from proforma_io.load import ApiTarget, open_client
from proforma_io.remote_lake import is_uri


class ProformaApiResource(dg.ConfigurableResource):
    """The ProForma Customer API of one Jira instance, or `sandbox` for the embedded sandbox.

    The password and token never show in the resource's repr.
    """

    base_url: str = "sandbox"
    auth_method: Literal["basic", "token", "none"] = "basic"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    token: str | None = Field(default=None, repr=False)
    timeout_seconds: float = 30.0
    verify_tls: bool = True
    ca_bundle: str | None = None
    retry_attempts: int = 4
    retry_max_wait_seconds: float = 60.0
    sandbox_seed: int = 42
    sandbox_issues_per_project: int = 40
    sandbox_export_seconds: float = 1.0
    sandbox_replay_dir: str | None = None

    @contextmanager
    def client(self) -> Iterator[ProformaClient]:
        """An open client; with `sandbox`, the embedded sandbox runs until it closes."""
        jira = JiraSettings(
            base_url=self.base_url,
            auth=AuthSettings(method=self.auth_method),
            timeout_seconds=self.timeout_seconds,
            verify_tls=self.verify_tls,
            ca_bundle=self.ca_bundle,
            retry_attempts=self.retry_attempts,
            retry_max_wait_seconds=self.retry_max_wait_seconds,
        )
        sandbox = SandboxSettings(
            seed=self.sandbox_seed,
            issues_per_project=self.sandbox_issues_per_project,
            export_seconds=self.sandbox_export_seconds,
            replay_dir=self.sandbox_replay_dir,
        )
        with open_client(ApiTarget(jira, sandbox, self._credentials())) as client:
            yield client

    def _credentials(self) -> BasicCredentials | TokenCredentials | None:
        if self.auth_method == "token" and self.token:
            return TokenCredentials(self.token)
        if self.auth_method == "basic" and self.username and self.password:
            return BasicCredentials(self.username, self.password)
        return None


class StorageResource(dg.ConfigurableResource):
    """Where landed export files are kept (a local folder) and where the Parquet lake lives (a
    folder, or a URI such as s3://bucket/lake)."""

    landing_dir: str
    lake_dir: str

    def landing(self) -> Landing:
        return Landing(Path(self.landing_dir))

    @property
    def lake(self) -> str | Path:
        return self.lake_dir if is_uri(self.lake_dir) else Path(self.lake_dir)


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse, as a SQLAlchemy URL (SQLite or PostgreSQL)."""

    url: str

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for logs and metadata."""
        return make_url(self.url).render_as_string(hide_password=True)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources from the configuration file; secrets stay in environment variables."""
    jira, auth, sandbox = settings.jira, settings.jira.auth, settings.sandbox
    secrets: dict[str, object] = {}
    if not jira.is_sandbox and auth.method == "basic":
        secrets = {
            "username": dg.EnvVar(auth.username_env),
            "password": dg.EnvVar(auth.password_env),
        }
    elif not jira.is_sandbox and auth.method == "token":
        secrets = {"token": dg.EnvVar(auth.token_env)}

    api = ProformaApiResource(
        base_url=jira.base_url,
        auth_method=auth.method,
        timeout_seconds=jira.timeout_seconds,
        verify_tls=jira.verify_tls,
        ca_bundle=jira.ca_bundle,
        retry_attempts=jira.retry_attempts,
        retry_max_wait_seconds=jira.retry_max_wait_seconds,
        sandbox_seed=sandbox.seed,
        sandbox_issues_per_project=sandbox.issues_per_project,
        sandbox_export_seconds=sandbox.export_seconds,
        sandbox_replay_dir=str(settings.resolve(sandbox.replay_dir))
        if sandbox.replay_dir
        else None,
        **secrets,  # type: ignore[arg-type]
    )
    return {
        "proforma_api": api,
        "storage": StorageResource(
            landing_dir=str(settings.landing_dir), lake_dir=settings.lake_location
        ),
        "warehouse": WarehouseResource(url=settings.warehouse_url),
    }
