"""What every sandbox endpoint answers with: error bodies and the 401/403 checks.

ProForma answers errors with `{error, message}`: `client` 400, `forbidden` 403, `notFound` 404,
`server` 500, and `json` 400 with `details` for a body it cannot read. A 401 has no body, only
the `WWW-Authenticate` challenge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proforma_io.errors import truncate
from proforma_io.sandbox.auth import SandboxUser, authenticate, missing_permissions

REALM = 'Basic realm="ProForma sandbox"'


class BadBody(Exception):
    """The request body is not the JSON the operation reads."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def api_error(status_code: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status_code)


def bad_body(what: str, error: BadBody) -> JSONResponse:
    """A 400 `json` answer: the body is not `what`, for the reasons in `details`."""
    return api_error(400, "json", f"The request body is not {what}.", details=error.details)


def refusal(
    users: Sequence[SandboxUser], request: Request, needed: Sequence[str], scope: str = ""
) -> Response | None:
    """401 without valid credentials, 403 without every permission in `needed`, else None.

    `scope` is "global" for a global permission and "" for project permissions.
    """
    user = authenticate(users, request.headers)
    if user is None:
        return Response(status_code=401, headers={"WWW-Authenticate": REALM})

    missing = missing_permissions(user, needed)
    if not missing:
        return None
    noun = "permission" if len(missing) == 1 else "permissions"
    names = " and ".join(f"'{permission}'" for permission in missing)
    kind = f"{scope} " if scope else ""
    return api_error(403, "forbidden", f"User '{user.name}' lacks the {kind}{noun} {names}.")


def shown(value: Any) -> str:
    """A value as an error message quotes it, cut short."""
    return truncate(repr(value), 80)
