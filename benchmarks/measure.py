"""Measuring one stage in a fresh process: wall time and the peak resident memory of the stage.

The parent starts `python -m benchmarks.child STAGE ARGS`; the child prepares what the stage
needs, resets the kernel's high-water mark of its resident set (Linux `/proc/self/clear_refs`),
runs the stage under a clock and prints one JSON line with the figures.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
RESULT_PREFIX = "BENCH-RESULT "
_STATUS = Path("/proc/self/status")


def _status_kib(name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def reset_peak() -> None:
    """Make the resident-set high-water mark start again from the current resident set."""
    Path("/proc/self/clear_refs").write_text("5")


@dataclass
class Timing:
    """What the child measured: seconds, memory in MiB, and anything the stage adds."""

    seconds: float = 0.0
    start_mib: float = 0.0
    peak_mib: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Stopwatch:
    """Started and stopped by hand, for a stage whose start a callback observes."""

    def __init__(self) -> None:
        self.timing = Timing()
        self._started: float | None = None

    @property
    def running(self) -> bool:
        return self._started is not None

    def start(self) -> None:
        reset_peak()
        self.timing.start_mib = _status_kib("VmRSS") / 1024
        self._started = time.perf_counter()

    def stop(self) -> Timing:
        if self._started is None:
            raise RuntimeError("the stopwatch was never started")
        self.timing.seconds = time.perf_counter() - self._started
        self.timing.peak_mib = _status_kib("VmHWM") / 1024
        return self.timing


@contextmanager
def timed() -> Iterator[Timing]:
    """Time the block; its peak is the high-water mark reached inside it."""
    watch = Stopwatch()
    watch.start()
    yield watch.timing
    watch.stop()


def report(timing: Timing) -> None:
    """Print the child's one result line for the parent."""
    print(RESULT_PREFIX + json.dumps(asdict(timing), default=str), flush=True)


@dataclass
class Sample:
    """One stage of one benchmark case: the median over its repeats."""

    case: str
    stage: str
    tool: str
    responses: int
    seconds: float
    peak_mib: float
    start_mib: float
    runs: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.responses / self.seconds if self.seconds else 0.0

    @property
    def added_mib(self) -> float:
        """Memory the stage added above what the process held when the stage began."""
        return max(self.peak_mib - self.start_mib, 0.0)


def run_child(stage: str, args: dict[str, Any], timeout: float = 3600) -> Timing:
    """Run one stage in a fresh interpreter and return what it measured."""
    environment = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONHASHSEED": "0"}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", stage, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )
    lines = [x for x in completed.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout)[-3000:]
        raise RuntimeError(f"stage {stage} failed (exit {completed.returncode}):\n{tail}")
    return Timing(**json.loads(lines[-1][len(RESULT_PREFIX) :]))


def repeat(
    case: str,
    stage: str,
    tool: str,
    responses: int,
    times: int,
    run: Callable[[int], Timing],
) -> Sample:
    """Run a stage `times` times (each with its own fresh process) and keep the medians."""
    timings = [run(attempt) for attempt in range(times)]
    sample = Sample(
        case=case,
        stage=stage,
        tool=tool,
        responses=responses,
        seconds=statistics.median(t.seconds for t in timings),
        peak_mib=statistics.median(t.peak_mib for t in timings),
        start_mib=statistics.median(t.start_mib for t in timings),
        runs=[round(t.seconds, 3) for t in timings],
        extra=timings[-1].extra,
    )
    print(
        f"  {case:<10} {stage:<22} {tool:<9} {sample.seconds:8.2f} s  "
        f"{sample.rows_per_second:9.0f} rows/s  peak {sample.peak_mib:7.0f} MiB",
        flush=True,
    )
    return sample
