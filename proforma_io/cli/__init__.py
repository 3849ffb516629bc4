"""The `proforma` command: exports, forms on issues, the configuration and the sandbox.

Every command that calls the API reads the same configuration file as the pipeline
(`--config`, else `PROFORMA_CONFIG`, else ./proforma.yaml); `--jira` (or `PROFORMA_JIRA_URL`)
points it at another Jira; credentials come from the environment variables the file names
(`PROFORMA_USERNAME` and `PROFORMA_PASSWORD`, or `PROFORMA_TOKEN`). Errors end with a one-line
reason and exit status 1 (2 for a bad configuration or bad arguments).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from proforma_io.cli.export import config_app, export_app
from proforma_io.cli.forms import form_app
from proforma_io.cli.sandbox import sandbox

app = typer.Typer(
    help="""Export ProForma form responses from Jira, work with forms on issues, and try it all
    on a local sandbox.

    Configuration: --config FILE (else PROFORMA_CONFIG, else ./proforma.yaml); --jira URL (else
    PROFORMA_JIRA_URL, else jira.base_url in the file); credentials from PROFORMA_USERNAME and
    PROFORMA_PASSWORD, or PROFORMA_TOKEN. Add --json to any command for scripts.
    """,
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(export_app, name="export")
app.add_typer(form_app, name="form")
app.add_typer(config_app, name="config")
app.command("sandbox")(sandbox)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


__all__ = ["app"]
