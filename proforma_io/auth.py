"""Credentials for Jira's REST API, usable as httpx auth and never shown in reprs."""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping

import httpx

from proforma_io.errors import ConfigError

MASK = "***"


class BasicCredentials(httpx.Auth):
    """HTTP basic authentication with a Jira user name and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    @property
    def password(self) -> str:
        return self._password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield from httpx.BasicAuth(self.username, self._password).auth_flow(request)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BasicCredentials):
            return NotImplemented
        return (self.username, self._password) == (other.username, other._password)

    def __hash__(self) -> int:
        return hash((BasicCredentials, self.username, self._password))

    def __repr__(self) -> str:
        return f"BasicCredentials(username={self.username!r}, password={MASK})"

    __str__ = __repr__


class TokenCredentials(httpx.Auth):
    """A Jira Data Center personal access token, sent as `Authorization: Bearer`."""

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenCredentials):
            return NotImplemented
        return self._token == other._token

    def __hash__(self) -> int:
        return hash((TokenCredentials, self._token))

    def __repr__(self) -> str:
        return f"TokenCredentials(token={MASK})"

    __str__ = __repr__


Credentials = BasicCredentials | TokenCredentials


def credentials_from_env(
    username_env: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Read credentials from the named environment variables, at call time.

    A token wins when its variable is set; otherwise both user name and password must be set.
    """
    if (username_env is None) != (password_env is None):
        raise ValueError("name both the user name and the password variable, or neither")
    if username_env is None and token_env is None:
        raise ValueError("name a token variable or a user name and password variable")
    env = os.environ if environ is None else environ

    token = env.get(token_env, "") if token_env else ""
    if token:
        return TokenCredentials(token)

    if username_env is None or password_env is None:
        raise ConfigError(f"environment variable {token_env} is not set (expected a token)")
    missing = [name for name in (username_env, password_env) if not env.get(name)]
    if missing:
        names = " and ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        alternative = f", and neither is token variable {token_env}" if token_env else ""
        raise ConfigError(f"environment variable {names} {verb} not set{alternative}")

    return BasicCredentials(env[username_env], env[password_env])
