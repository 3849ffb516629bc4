"""Who may call the sandbox: users with passwords or tokens, and the permissions they hold."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BROWSE_PROJECTS = "Browse Projects"
EDIT_ISSUES = "Edit Issues"
ADMINISTER_PROJECTS = "Administer Projects"
EXPORT_ALL_DATA = "ProForma: Export All Data"
ALL_PERMISSIONS = frozenset({BROWSE_PROJECTS, EDIT_ISSUES, ADMINISTER_PROJECTS, EXPORT_ALL_DATA})

ADMIN_TOKEN = "sandbox-admin-token"


@dataclass(frozen=True)
class SandboxUser:
    """A user the sandbox accepts by HTTP basic password or by `Bearer` token."""

    name: str
    password: str | None = field(default=None, repr=False)
    permissions: frozenset[str] = ALL_PERMISSIONS
    tokens: tuple[str, ...] = field(default=(), repr=False)

    def may(self, permission: str) -> bool:
        return permission in self.permissions


# Each user's password is its name. Together they meet every permission check of the API: admin
# may do everything, lead everything but export, agent may change forms but not unlock them,
# viewer may only read, and exporter (a pipeline's service account) may only export.
DEFAULT_USERS = (
    SandboxUser("admin", "admin", ALL_PERMISSIONS, (ADMIN_TOKEN,)),
    SandboxUser("lead", "lead", frozenset({BROWSE_PROJECTS, EDIT_ISSUES, ADMINISTER_PROJECTS})),
    SandboxUser("agent", "agent", frozenset({BROWSE_PROJECTS, EDIT_ISSUES})),
    SandboxUser("viewer", "viewer", frozenset({BROWSE_PROJECTS})),
    SandboxUser("exporter", "exporter", frozenset({EXPORT_ALL_DATA})),
)


def describe_users(users: Iterable[SandboxUser]) -> list[str]:
    """One line per user: name and permissions, for help texts and logs."""
    return [
        f"{user.name}: {', '.join(sorted(user.permissions)) or 'no permissions'}" for user in users
    ]


def missing_permissions(user: SandboxUser, needed: Iterable[str]) -> list[str]:
    """The permissions of `needed` that `user` lacks, in the order given."""
    return [permission for permission in needed if not user.may(permission)]


def authenticate(users: Iterable[SandboxUser], headers: Mapping[str, str]) -> SandboxUser | None:
    """The user the Authorization header proves, or None when it is missing or wrong."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return _by_token(users, credentials)
    if scheme.lower() == "basic":
        return _by_password(users, credentials)
    return None


def _by_token(users: Iterable[SandboxUser], token: str) -> SandboxUser | None:
    for user in users:
        if any(hmac.compare_digest(token.encode(), known.encode()) for known in user.tokens):
            return user
    return None


def _by_password(users: Iterable[SandboxUser], encoded: str) -> SandboxUser | None:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None

    name, separator, password = decoded.partition(":")
    if not separator:
        return None
    for user in users:
        if user.name != name or user.password is None:
            continue
        if hmac.compare_digest(password.encode(), user.password.encode()):
            return user
    return None
