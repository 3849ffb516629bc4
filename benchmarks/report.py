"""The results as Markdown: the stage table, the ratios against the baselines, the targets."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

from benchmarks.measure import MIB, Sample

PIPELINE = ("read+normalise", "parquet write")
TARGETS = ("sqlite", "postgresql")


def _find(samples: Iterable[Sample], case: str, stage: str, tool: str, size: int) -> Sample | None:
    return next(
        (s for s in samples if (s.case, s.stage, s.tool, s.responses) == (case, stage, tool, size)),
        None,
    )


def _sizes(samples: list[Sample]) -> list[int]:
    return sorted({s.responses for s in samples})


def _size(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def stage_table(samples: list[Sample]) -> list[str]:
    lines = [
        "| size | file | stage | tool | wall s | responses/s | peak RSS MiB | added MiB "
        "| runs (s) |",
        "|---:|---|---|---|---:|---:|---:|---:|---|",
    ]
    for sample in sorted(samples, key=lambda s: s.responses):
        runs = ", ".join(f"{r:.2f}" for r in sample.runs)
        lines.append(
            f"| {_size(sample.responses)} | {sample.case} | {sample.stage} | {sample.tool} "
            f"| {sample.seconds:.2f} | {sample.rows_per_second:,.0f} | {sample.peak_mib:,.0f} "
            f"| {sample.added_mib:,.0f} | {runs} |"
        )
    return lines


def ours_to(samples: list[Sample], target: str, size: int) -> float | None:
    """Seconds for file -> target through the pipeline: normalise, Parquet, then the load."""
    parts = [_find(samples, "json", stage, "ours", size) for stage in PIPELINE]
    parts.append(_find(samples, "json", f"{target} load", "ours", size))
    if any(p is None for p in parts):
        return None
    return sum(p.seconds for p in parts if p is not None)


def ratio_table(samples: list[Sample]) -> list[str]:
    lines = [
        "| size | path | ours s | pandas s | pandas / ours | dlt s | dlt / ours |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in _sizes(samples):
        for target in TARGETS:
            ours = ours_to(samples, target, size)
            if ours is None:
                continue
            cells = [f"{_size(size)}", f"JSON -> {target}", f"{ours:.2f}"]
            for tool in ("pandas", "dlt"):
                other = _find(samples, "json", f"file->{target}", tool, size)
                cells += (
                    [f"{other.seconds:.2f}", f"{other.seconds / ours:.2f}x"]
                    if other
                    else ["-", "-"]
                )
            lines.append("| " + " | ".join(cells) + " |")
        ours_x = _find(samples, "xlsx", "read", "ours", size)
        for tool in ("openpyxl", "calamine"):
            other = _find(samples, "xlsx", "read", tool, size)
            if ours_x and other:
                lines.append(
                    f"| {_size(size)} | XLSX read: {tool} cells / our reader "
                    f"| {ours_x.seconds:.2f} | {other.seconds:.2f} "
                    f"| {other.seconds / ours_x.seconds:.2f}x | | |"
                )
    return lines


def memory_table(samples: list[Sample]) -> list[str]:
    lines = [
        "| size | JSON file MiB | read+normalise peak MiB | added MiB | added / file "
        "| download peak MiB (JSON, XLSX) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for size in _sizes(samples):
        download = _find(samples, "json", "download", "ours", size)
        normalise = _find(samples, "json", "read+normalise", "ours", size)
        xlsx = _find(samples, "xlsx", "download", "ours", size)
        if not (download and normalise):
            continue
        file_mib = download.extra["bytes"] / MIB
        peaks = ", ".join(f"{s.peak_mib:.0f}" for s in (download, xlsx) if s)
        lines.append(
            f"| {_size(size)} | {file_mib:,.0f} | {normalise.peak_mib:,.0f} "
            f"| {normalise.added_mib:,.0f} | {normalise.added_mib / file_mib:.2f}x | {peaks} |"
        )
    return lines


def linearity_table(samples: list[Sample]) -> list[str]:
    sizes = _sizes(samples)
    if len(sizes) < 2:
        return ["(one size only: no growth figures)"]
    small, large = sizes[-2], sizes[-1]
    lines = [
        f"| file | stage | tool | µs/response at {_size(small)} | at {_size(large)} | growth |",
        "|---|---|---|---:|---:|---:|",
    ]
    for sample in samples:
        if sample.responses != large or sample.tool != "ours":
            continue
        before = _find(samples, sample.case, sample.stage, sample.tool, small)
        if before is None:
            continue
        per_before = before.seconds / small * 1e6
        per_after = sample.seconds / large * 1e6
        lines.append(
            f"| {sample.case} | {sample.stage} | ours | {per_before:,.1f} | {per_after:,.1f} "
            f"| {per_after / per_before:.2f}x |"
        )
    return lines


def backfill_table(result: dict[str, Any]) -> list[str]:
    options, walls = result["options"], result["walls"]
    slowest = result["slowest_single"]
    lines = [
        f"{options['projects']} projects x {options['responses']} responses, exports take "
        f"{options['export_seconds']:g} s on the server, {options['threads']} threads, "
        f"{options['processes']} worker processes; slowest single project alone: "
        f"{slowest:.2f} s.",
        "",
        "| mode | wall s (median) | runs (s) | wall / slowest single | one by one / wall |",
        "|---|---:|---|---:|---:|",
    ]
    sequential = walls.get("one by one", 0.0)
    if options.get("alone"):
        lines[0] += f" One by one ran only {options['alone']} projects, for their single times."
        sequential = 0.0
    lines[:1] = textwrap.wrap(lines[0], 100)
    for mode, wall in walls.items():
        runs = ", ".join(f"{r:.2f}" for r in result["runs"][mode])
        speedup = f"{sequential / wall:.2f}x" if sequential else "-"
        lines.append(f"| {mode} | {wall:.2f} | {runs} | {wall / slowest:.2f}x | {speedup} |")
    return lines


def render(samples: list[Sample], backfills: list[dict[str, Any]], machine: dict[str, str]) -> str:
    sections = [
        "## Machine",
        *(f"- {key}: {value}" for key, value in machine.items()),
        "",
        "## Stages (median of the runs; each run a fresh process)",
        *stage_table(samples),
        "",
        "## Against the baselines (higher is better for us)",
        *ratio_table(samples),
        "",
        "## Memory",
        *memory_table(samples),
        "",
        "## Growth with export size",
        *linearity_table(samples),
        "",
        "## Backfill",
    ]
    for backfill in backfills:
        sections += [*backfill_table(backfill), ""]
    if not backfills:
        sections.append("(backfill not run)")
    return "\n".join(sections) + "\n"
