"""The small part of JQL the sandbox understands, turned into a predicate over issues.

Supported: clauses joined by AND (keywords in any case), on `key`/`issuekey` and `project`
(`=`, `!=`, `in`, `not in`), `status` and `priority` (the same, matched on the value's name),
and `summary` (`~`, `!~`). Values are bare words or quoted strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proforma_io.sandbox.store import Issue

Predicate = Callable[[Issue], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<operator>!=|!~|=|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s=!~(),"']+)
    )""",
    re.VERBOSE,
)
_LIST_OPERATORS = {"in", "not in"}
_FIELD_OPERATORS = {
    "key": {"=", "!=", "in", "not in"},
    "project": {"=", "!=", "in", "not in"},
    "status": {"=", "!=", "in", "not in"},
    "priority": {"=", "!=", "in", "not in"},
    "summary": {"~", "!~"},
}
_ALIASES = {"issuekey": "key", "issue": "key"}


class JqlError(ValueError):
    """The query is outside the subset the sandbox understands, or malformed."""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def compile_jql(query: str | None) -> Predicate:
    """A predicate for `query`; an empty query matches every issue."""
    if query is None or not query.strip():
        return lambda issue: True

    clauses = _Parser(_tokenize(query)).clauses()
    return lambda issue: all(clause(issue) for clause in clauses)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN.match(query, position)
        if match is None or match.lastgroup is None:
            at = len(query) - len(query[position:].lstrip())
            raise JqlError(f"Unexpected character '{query[at]}' at character {at + 1}.")
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def clauses(self) -> list[Predicate]:
        found = [self._clause()]
        while self._peek() is not None:
            keyword = self._next("'AND'")
            if keyword.kind != "word" or keyword.text.lower() != "and":
                raise self._error("'AND' (the sandbox supports no OR, NOT or ORDER BY)", keyword)
            found.append(self._clause())
        return found

    def _clause(self) -> Predicate:
        name = self._next("a field name")
        if name.kind not in ("word", "string"):
            raise self._error("a field name", name)
        field = _ALIASES.get(_unquote(name).lower(), _unquote(name).lower())
        if field not in _FIELD_OPERATORS:
            raise JqlError(
                f"Field '{_unquote(name)}' does not exist or you do not have permission to view it."
            )

        operator = self._operator()
        if operator not in _FIELD_OPERATORS[field]:
            raise JqlError(f"The operator '{operator}' is not supported by the '{field}' field.")

        values = self._list() if operator in _LIST_OPERATORS else [self._value()]
        return _predicate(field, operator, values)

    def _operator(self) -> str:
        token = self._next("an operator")
        if token.kind == "operator":
            return token.text
        word = token.text.lower() if token.kind == "word" else ""
        if word == "in":
            return "in"
        if word == "not":
            following = self._next("'IN'")
            if following.kind == "word" and following.text.lower() == "in":
                return "not in"
            raise self._error("'IN'", following)
        raise self._error("an operator", token)

    def _list(self) -> list[str]:
        opening = self._next("'('")
        if opening.text != "(":
            raise self._error("'('", opening)
        values = [self._value()]
        while True:
            token = self._next("',' or ')'")
            if token.text == ")":
                return values
            if token.text != ",":
                raise self._error("',' or ')'", token)
            values.append(self._value())

    def _value(self) -> str:
        token = self._next("a value")
        if token.kind not in ("word", "string"):
            raise self._error("a value", token)
        return _unquote(token)

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, expected: str) -> _Token:
        token = self._peek()
        if token is None:
            raise JqlError(f"Expecting {expected} but reached the end of the query.")
        self.index += 1
        return token

    def _error(self, expected: str, token: _Token) -> JqlError:
        return JqlError(
            f"Expecting {expected} but got '{token.text}' at character {token.position + 1}."
        )


def _unquote(token: _Token) -> str:
    if token.kind != "string":
        return token.text
    return re.sub(r"\\(.)", r"\1", token.text[1:-1])


def _predicate(field: str, operator: str, values: list[str]) -> Predicate:
    wanted = {value.lower() for value in values}
    negated = operator in ("!=", "not in", "!~")
    if field == "summary":
        needle = values[0].lower()
        # Limitation: `~` matches a case-insensitive substring; Jira matches stemmed words.
        return lambda issue: (needle in str(issue.fields.get("summary") or "").lower()) != negated

    def read(issue: Issue) -> str:
        if field == "key":
            return issue.key.lower()
        if field == "project":
            return issue.project_key.lower()
        return _name_of(issue.fields.get(field)).lower()

    return lambda issue: (read(issue) in wanted) != negated


def _name_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("value") or "")
    return "" if value is None else str(value)
