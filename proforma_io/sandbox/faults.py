"""Faults the sandbox injects on request: per test from Python, or `proforma sandbox --fault`.

What a fault is and how a plan of them is used up lives here; how they are served over HTTP,
in `fault_http`.

HTTP faults answer a call with an error status (429 with `Retry-After` in seconds or as an HTTP
date, 500, 502, 503) or hold its answer back past a client's timeout. Download faults break the
file off part-way: the connection drops, or the body ends short of its `Content-Length`. Export
faults change one export: it fails with a message, never completes, vanishes (404 on status),
completes without a `downloadUrl`, or points its `downloadUrl` at another host or file name.

Each fault applies `times` times (None: every time), optionally only to one project's calls.
A fault written as text is a kind, then `key=value` options, comma-separated:
`503,call=status,retry-after=0,times=2`, `drop=1000`, `fail=Disk full,project=OPS`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

Call = Literal["start", "status", "download", "form", "any"]
Kind = Literal[
    "status",
    "slow",
    "drop",
    "short",
    "fail",
    "stall",
    "vanish",
    "no-url",
    "foreign-url",
    "file-name",
]

CALLS: tuple[Call, ...] = get_args(Call)
HTTP_KINDS = frozenset({"status", "slow"})
DOWNLOAD_KINDS = frozenset({"drop", "short"})
EXPORT_KINDS = frozenset({"fail", "stall", "vanish", "no-url", "foreign-url", "file-name"})
FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})

_RETRY_AFTER = re.compile(r"^(\d+(\.\d+)?|date[+-]\d+)$")


@dataclass(frozen=True)
class Fault:
    """One fault: what goes wrong, on which call, for which project, how many times.

    `value` is the kind's parameter: the status code (`status`), the delay in seconds
    (`slow`), the bytes sent before the break (`drop`, `short`), the failure message (`fail`),
    the progress it stays at (`stall`), the origin (`foreign-url`) or the file name
    (`file-name`).
    """

    kind: Kind
    value: str = ""
    call: Call = "any"
    retry_after: str | None = None
    project: str | None = None
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.kind not in get_args(Kind):
            raise ValueError(f"unknown fault kind {self.kind!r}: expected {_kinds_text()}")
        if self.call not in CALLS:
            raise ValueError(f"unknown call {self.call!r}: expected {', '.join(CALLS)}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"a fault applies at least once, not {self.times} times")
        if self.retry_after is not None and not _RETRY_AFTER.match(self.retry_after):
            raise ValueError(
                f"retry-after must be seconds (2, 0.5) or date+N, not {self.retry_after!r}"
            )
        _check_value(self.kind, self.value)

    @classmethod
    def http(
        cls,
        status: int,
        *,
        call: Call = "any",
        retry_after: str | None = None,
        project: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Answer `call` with `status` (429, 500, 502, 503 or 504) instead of serving it."""
        return cls("status", str(status), call, retry_after, project, times)

    @classmethod
    def slow(
        cls, seconds: float, *, call: Call = "any", project: str | None = None, times: int = 1
    ) -> Fault:
        """Serve `call`, but hold the answer back for `seconds` first."""
        return cls("slow", str(seconds), call, None, project, times)

    @classmethod
    def dropped_download(cls, after_bytes: int, *, project: str | None = None) -> Fault:
        """Drop the connection after `after_bytes` bytes of the next download."""
        return cls("drop", str(after_bytes), "download", project=project)

    @classmethod
    def short_download(cls, after_bytes: int, *, project: str | None = None) -> Fault:
        """End the next download's body after `after_bytes` bytes, short of its Content-Length."""
        return cls("short", str(after_bytes), "download", project=project)

    @classmethod
    def failed_export(cls, message: str, *, project: str | None = None, times: int = 1) -> Fault:
        """The next export fails with `message` when it would have completed."""
        return cls("fail", message, "start", project=project, times=times)

    @classmethod
    def stalled_export(cls, progress: int = 50, *, project: str | None = None) -> Fault:
        """The next export never completes: its progress stops at `progress`."""
        return cls("stall", str(progress), "start", project=project)

    @classmethod
    def vanished_export(cls, *, project: str | None = None, times: int = 1) -> Fault:
        """The next export is forgotten at its first status call, which answers 404."""
        return cls("vanish", "", "start", project=project, times=times)

    @classmethod
    def missing_download_url(cls, *, project: str | None = None) -> Fault:
        """The next export completes without a downloadUrl in its status."""
        return cls("no-url", "", "start", project=project)

    @classmethod
    def foreign_download_url(cls, origin: str, *, project: str | None = None) -> Fault:
        """The next export's downloadUrl points at `origin` (such as http://other:8080)."""
        return cls("foreign-url", origin, "start", project=project)

    @classmethod
    def odd_file_name(cls, name: str, *, project: str | None = None) -> Fault:
        """The next export's file is called `name` (which may hold `/`, `..` and the like)."""
        return cls("file-name", name, "start", project=project)

    def __str__(self) -> str:
        what = {
            "status": f"{self.value} on {self.call}",
            "slow": f"{self.call} answered after {self.value} s",
            "drop": f"download dropped after {self.value} bytes",
            "short": f"download ends short after {self.value} bytes",
            "fail": f"export fails: {self.value}",
            "stall": f"export stalls at {self.value}%",
            "vanish": "export vanishes",
            "no-url": "export has no downloadUrl",
            "foreign-url": f"downloadUrl on {self.value}",
            "file-name": f"file named {self.value!r}",
        }[self.kind]
        if self.retry_after is not None:
            what += f" (Retry-After: {self.retry_after})"
        if self.project:
            what += f" for {self.project}"
        return what

    @property
    def seconds(self) -> float:
        return float(self.value)

    @property
    def number(self) -> int:
        return int(self.value)


def parse_fault(text: str) -> Fault:
    """A fault from its text form, e.g. `429,call=status,retry-after=date+2,times=3`."""
    head, *options = [part.strip() for part in text.split(",")]
    kind, _, value = head.partition("=")
    kind = kind.strip()
    fields: dict[str, object] = {"kind": kind, "value": value.strip()}
    if kind.isdigit():
        fields = {"kind": "status", "value": kind}

    for option in options:
        key, separator, setting = option.partition("=")
        key = key.strip().replace("-", "_")
        if not separator or key not in ("call", "retry_after", "project", "times"):
            raise ValueError(
                f"fault {text!r}: expected options call=, retry-after=, project= or times=, "
                f"got {option!r}"
            )
        fields[key] = _option(key, setting.strip(), text)

    if fields["kind"] == "stall" and not fields["value"]:
        fields["value"] = "50"
    if fields["kind"] in DOWNLOAD_KINDS:
        fields.setdefault("call", "download")
    if fields["kind"] in EXPORT_KINDS:
        fields.setdefault("call", "start")
    try:
        return Fault(**fields)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fault {text!r}: {exc}") from None


class FaultPlan:
    """The faults a sandbox injects, used up in order; safe to change while the sandbox runs.

    `applied` lists, in order, a description of every fault applied so far.
    """

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Planned] = []
        self.applied: list[str] = []
        self.add(*faults)

    def __repr__(self) -> str:
        with self._lock:
            return f"FaultPlan({[str(planned.fault) for planned in self._pending]})"

    def add(self, *faults: Fault) -> None:
        """Queue faults behind those already planned."""
        with self._lock:
            self._pending.extend(_Planned(fault, fault.times) for fault in faults)

    def clear(self) -> None:
        """Forget every fault not yet used up (the record of applied ones stays)."""
        with self._lock:
            self._pending.clear()

    def take(self, kinds: frozenset[str], call: Call, project: str | None) -> Fault | None:
        """The first planned fault of `kinds` for this call and project, counted as applied."""
        with self._lock:
            for planned in self._pending:
                fault = planned.fault
                if fault.kind not in kinds or fault.call not in ("any", call):
                    continue
                if fault.project is not None and fault.project != project:
                    continue
                if planned.left is not None:
                    planned.left -= 1
                    if planned.left == 0:
                        self._pending.remove(planned)
                self.applied.append(str(fault))
                return fault
        return None


@dataclass
class _Planned:
    fault: Fault
    left: int | None


def _option(key: str, setting: str, text: str) -> object:
    if key == "times":
        if setting == "always":
            return None
        if not setting.isdigit():
            raise ValueError(f"fault {text!r}: times must be a number or 'always', not {setting!r}")
        return int(setting)
    return setting


def _check_value(kind: str, value: str) -> None:
    if kind == "status":
        if not value.isdigit() or int(value) not in FAULT_STATUSES:
            expected = ", ".join(map(str, sorted(FAULT_STATUSES)))
            raise ValueError(f"status fault needs one of {expected}, not {value!r}")
    elif kind == "slow":
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if seconds < 0:
            raise ValueError(f"slow fault needs a delay in seconds, not {value!r}")
    elif kind in DOWNLOAD_KINDS or kind == "stall":
        if not value.isdigit():
            raise ValueError(f"{kind} fault needs a whole number, not {value!r}")
    elif kind in ("fail", "foreign-url", "file-name") and not value:
        raise ValueError(f"{kind} fault needs a value (a message, an origin or a file name)")


def _kinds_text() -> str:
    return ", ".join(k for k in get_args(Kind) if k != "status") + " or a status code"
