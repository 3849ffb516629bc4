"""What every `proforma` command shares: options, configuration, the client, output, failures.

A failure prints one line, `error: <reason>`, on stderr and exits 1; a bad configuration or
bad arguments exit 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from proforma_io.client import ProformaClient
from proforma_io.config import (
    JiraSettings,
    SandboxSettings,
    Settings,
    config_path,
    describe_errors,
    load_settings,
)
from proforma_io.errors import ConfigError, FormArgumentError, ProformaError
from proforma_io.load import ApiTarget, credentials_for, open_client

JIRA_ENV = "PROFORMA_JIRA_URL"

err = Console(stderr=True)
out = Console()
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Configuration file (default: PROFORMA_CONFIG or ./proforma.yaml)."
    ),
]
JiraOption = Annotated[
    str | None,
    typer.Option(
        "--jira",
        envvar=JIRA_ENV,
        help="Jira base URL with its context path, or 'sandbox'; overrides jira.base_url.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print the one-line reason and return the exit to raise."""
    line = " ".join(message.split())
    err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def guarded(action: Callable[[], T]) -> T:
    """Run an action, turning library errors into a one-line reason and an exit status."""
    try:
        return action()
    except (ConfigError, FormArgumentError) as exc:
        raise fail(str(exc), 2) from None
    except ValidationError as exc:
        raise fail("invalid arguments: " + describe_errors(exc.errors()).strip(), 2) from None
    except ProformaError as exc:
        raise fail(str(exc)) from None


def settings(config: Path | None, jira: str | None = None) -> Settings:
    """The configuration file's settings, with `--jira` (or PROFORMA_JIRA_URL) applied."""
    loaded = guarded(lambda: load_settings(config))
    if not jira:
        return loaded
    raw = {**loaded.jira.model_dump(), "base_url": jira}
    try:
        overridden = JiraSettings.model_validate(raw)
    except ValidationError as exc:
        raise fail(f"--jira: {exc.errors()[0]['msg'].removeprefix('Value error, ')}", 2) from None
    return loaded.model_copy(update={"jira": overridden})


def api_settings(config: Path | None, jira: str | None) -> Settings | JiraSettings:
    """The settings of a command that only calls the API.

    Those of the configuration file; with `--jira` and no configuration file at all, the Jira
    settings of that URL alone.
    """
    if jira and config is None and not config_path().exists():
        try:
            return JiraSettings.model_validate({"base_url": jira})
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise fail(f"--jira: {message}", 2) from None
    return settings(config, jira)


@contextmanager
def client(loaded: Settings | JiraSettings) -> Iterator[ProformaClient]:
    """A client for the configured API; with `base_url: sandbox` an embedded sandbox runs."""
    jira = loaded if isinstance(loaded, JiraSettings) else loaded.jira
    sandbox = SandboxSettings() if isinstance(loaded, JiraSettings) else loaded.sandbox
    credentials = guarded(lambda: credentials_for(jira))
    with open_client(ApiTarget(jira, sandbox, credentials)) as api:
        yield api


def print_data(data: dict[str, Any] | list[Any], as_json: bool) -> None:
    """JSON for scripts, else `key: value` lines (one line per item of a list)."""
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                out.print(f"{key}: {value}", highlight=False)
        else:
            out.print(str(item), highlight=False)


def print_line(text: str) -> None:
    out.print(text, highlight=False, soft_wrap=True)


def relative(path: Path) -> str:
    """A path as short as possible for messages: relative to the working directory if inside."""
    try:
        return str(path.resolve().relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)
