"""A sandbox serving the benchmark's data in its own process, so the client's memory is its own.

`python -m benchmarks.serve RESPONSES PROJECTS EXPORT_SECONDS` prints one JSON line with the
base URL once it listens, and serves until its standard input closes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.dataset import build
from proforma_io.sandbox import Sandbox

READY_PREFIX = "SANDBOX "


@contextmanager
def sandbox_process(responses: int, projects: int, export_seconds: float) -> Iterator[str]:
    """Start the sandbox process; yield its base URL; stop it on leaving."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.serve",
            str(responses),
            str(projects),
            str(export_seconds),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(READY_PREFIX):
            raise RuntimeError(f"the benchmark sandbox did not start: {line!r}")
        yield json.loads(line[len(READY_PREFIX) :])["base_url"]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> None:
    responses, projects, export_seconds = int(argv[1]), int(argv[2]), float(argv[3])
    sandbox = Sandbox(build(responses, projects), export_seconds=export_seconds)
    with sandbox.running():
        print(READY_PREFIX + json.dumps({"base_url": sandbox.base_url}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv)
