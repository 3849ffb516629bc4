"""`proforma sandbox`: serve a ProForma-compatible API on this machine until Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proforma_io.cli.common import err, guarded

FAULT_HELP = (
    "Misbehave on purpose; repeatable. A kind, then comma-separated options: "
    "'503,call=status,retry-after=0,times=2' (429/500/502/503/504 on start|status|download|form|"
    "any; retry-after=SECONDS or date+N), 'slow=5,call=status', 'drop=1000' or 'short=1000' "
    "(download breaks after that many bytes), 'fail=MESSAGE', 'stall=50', 'vanish', 'no-url', "
    "'foreign-url=http://other:8080', 'file-name=NAME'. Options: project=KEY, times=N|always."
)


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    context_path: Annotated[str, typer.Option(help="Jira context path, e.g. /jira.")] = "/jira",
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    issues: Annotated[int, typer.Option(help="Generated issues per project.")] = 40,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Folder of *.responses.json/.xlsx export files to serve: each replaces the "
            "generated forms of its project and template; an XLSX is served as recorded."
        ),
    ] = None,
    export_seconds: Annotated[float, typer.Option(help="How long an export takes.")] = 2.0,
    fault: Annotated[list[str] | None, typer.Option(help=FAULT_HELP, show_default=False)] = None,
) -> None:
    """Serve a ProForma-compatible API with generated (and replayed) data until Ctrl-C.

    Projects: HR (business), ITSD (service desk: forms may be external) and OPS (software).
    Templates: HR 3 and OPS 8 move their issue on submit; OPS 8 locks on submit; OPS 7 is a
    legacy form.

    \b
    Users (password = name) and what they may do:
      admin     everything; also bearer token sandbox-admin-token
      lead      browse, edit, administer projects (unlock); no export
      agent     browse and edit (add, copy, submit, reopen, visibility, PDF)
      viewer    browse only (PDF)
      exporter  ProForma: Export All Data only

    \b
    Try it, from the repository folder (its proforma.yaml says where files land;
    PROFORMA_JIRA_URL points it at this sandbox, elsewhere pass --config FILE):
      proforma sandbox &
      export PROFORMA_JIRA_URL=http://127.0.0.1:8080/jira PROFORMA_USERNAME=admin
      export PROFORMA_PASSWORD=admin
      proforma form add HR-101 3 && proforma export run HR 3

    \b
    Make it misbehave (each fault once unless times= says otherwise):
      proforma sandbox --fault '429,call=status,retry-after=2,times=3'
      proforma sandbox --fault 'drop=1000' --fault 'fail=Disk full,project=OPS'
    """
    from proforma_io.sandbox import DEFAULT_USERS, SandboxData, parse_fault, serve
    from proforma_io.sandbox.auth import describe_users

    try:
        faults = [parse_fault(text) for text in fault or ()]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    data = SandboxData.generated(seed=seed, issues_per_project=issues)
    if replay is not None:
        data = data.merge(guarded(lambda: SandboxData.from_folder(replay)))
    err.print(f"Serving the ProForma sandbox at http://{host}:{port}{context_path} (Ctrl-C stops).")
    err.print(
        "Users (password = name):", *describe_users(DEFAULT_USERS), sep="\n  ", soft_wrap=True
    )
    if faults:
        err.print("Faults, in order:", *map(str, faults), sep="\n  ", soft_wrap=True)
    serve(host, port, context_path, data, export_seconds, faults=faults)
