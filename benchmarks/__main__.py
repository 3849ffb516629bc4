"""`python -m benchmarks`: run the benchmarks, print the Markdown report, keep the raw results."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.backfill import BackfillOptions, run_backfill
from benchmarks.databases import DEFAULT_POSTGRES, postgres_reachable
from benchmarks.measure import Sample
from benchmarks.report import render
from benchmarks.suite import Suite, SuiteOptions

DEFAULT_SIZES = "1000,10000"
LIBRARIES = ("pandas", "pyarrow", "sqlalchemy", "psycopg", "python-calamine", "openpyxl", "dlt")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.report:
        _print(_merge([json.loads(Path(p).read_text()) for p in args.report]))
        return

    postgres = not args.skip_postgres and postgres_reachable(args.postgres)
    if not postgres and not args.skip_postgres:
        print(f"PostgreSQL is not reachable at {args.postgres}: its cases are skipped.")
    results: dict[str, Any] = {"machine": machine(), "samples": [], "backfill": None}
    out = Path(args.results or work / f"results-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")

    def save(sample: Sample | None = None) -> None:
        if sample is not None:
            results["samples"].append(dataclasses.asdict(sample))
        out.write_text(json.dumps(results, indent=1, default=str))

    if not args.backfill_only:
        options = SuiteOptions(
            sizes=tuple(int(s) for s in args.sizes.split(",")),
            formats=tuple(args.formats.split(",")),
            repeats=args.repeats,
            baseline_repeats=args.baseline_repeats,
            postgres=postgres,
            dlt=not args.skip_dlt,
            dlt_max=args.dlt_max,
            postgres_admin=args.postgres,
            tools=tuple(args.tools.split(",")) if args.tools else None,
        )
        suite = Suite(options, work, on_sample=save)
        suite.run()
        results["failures"] = suite.failures
    if not args.skip_backfill and postgres:
        backfill = BackfillOptions(
            projects=args.backfill_projects,
            responses=args.backfill_responses,
            export_seconds=args.export_seconds,
            repeats=args.repeats,
            postgres_admin=args.postgres,
            alone=args.backfill_alone,
        )
        results["backfill"] = dataclasses.asdict(run_backfill(backfill, work))

    save()
    print(f"\nRaw results: {out}\n")
    _print(results)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="responses per export, e.g. 1000,10000,100000"
    )
    parser.add_argument("--formats", default="json,xlsx")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per figure; the median is kept"
    )
    parser.add_argument(
        "--baseline-repeats",
        type=int,
        default=None,
        help="runs per baseline figure (pandas, openpyxl, calamine, dlt); default: --repeats",
    )
    parser.add_argument(
        "--tools", default=None, help="only these tools, e.g. ours,dlt (downloads always run)"
    )
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--dlt-max", type=int, default=None, help="skip dlt above this size")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="admin URL; a database is created per run and dropped",
    )
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--backfill-only", action="store_true")
    parser.add_argument("--backfill-projects", type=int, default=20)
    parser.add_argument("--backfill-responses", type=int, default=500)
    parser.add_argument(
        "--backfill-alone",
        type=int,
        default=None,
        help="run only this many projects one by one (for long export latencies)",
    )
    parser.add_argument(
        "--export-seconds",
        type=float,
        default=5.0,
        help="server-side export latency in the backfill",
    )
    parser.add_argument("--work", default=".proforma/bench", help="folder for files and databases")
    parser.add_argument("--results", default=None, help="where to write the raw results (JSON)")
    parser.add_argument(
        "--report", nargs="+", metavar="RESULTS", help="print the report of saved results and stop"
    )
    return parser


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    total = memory.splitlines()[1].split()[1] if memory else "?"
    versions = ", ".join(f"{name} {_version(name)}" for name in LIBRARIES)
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores (nproc)",
        "memory": total,
        "load average at start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "libraries": versions,
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several runs; a later run's figure replaces an earlier one's."""
    samples: dict[tuple[Any, ...], dict[str, Any]] = {}
    backfills: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for result in results:
        for sample in result["samples"]:
            key = (sample["case"], sample["stage"], sample["tool"], sample["responses"])
            samples[key] = sample
        if result.get("backfill"):
            backfills.append(result["backfill"])
        failures += result.get("failures") or []
    return {
        "machine": results[-1]["machine"],
        "samples": list(samples.values()),
        "backfills": backfills,
        "failures": failures,
    }


def _print(results: dict[str, Any]) -> None:
    fields = {f.name for f in dataclasses.fields(Sample)}
    samples = [Sample(**{k: v for k, v in s.items() if k in fields}) for s in results["samples"]]
    backfills = results.get("backfills") or [b for b in [results.get("backfill")] if b]
    text = render(samples, backfills, results["machine"])
    for failure in results.get("failures") or []:
        text += (
            f"\nFailed: {failure['case']} {failure['stage']} {failure['tool']} at "
            f"{failure['responses']} responses: {failure['error'].strip().splitlines()[-1]}\n"
        )
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
