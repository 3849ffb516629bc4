"""The `responses-json` file: the envelope the field samples use, one entry per form response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

JSON_MEDIA_TYPE = "application/json"


def render_json(
    project_key: str,
    template_id: int,
    entries: Sequence[dict[str, Any]],
    exported: datetime,
    extras: dict[str, Any] | None = None,
) -> bytes:
    """Write `{projectKey, templateFormId, exportType, exported, responses}` as UTF-8 JSON.

    `extras` are keys a replayed export carried beside these; the known keys win over them.
    """
    envelope: dict[str, Any] = {
        "projectKey": project_key,
        "templateFormId": template_id,
        "exportType": "responses-json",
        "exported": exported.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for key, value in (extras or {}).items():
        envelope.setdefault(key, value)
    envelope["responses"] = list(entries)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
