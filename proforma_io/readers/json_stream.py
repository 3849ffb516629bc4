"""Incremental reading of a large JSON document, one value at a time.

An export holds one entry per form response, each with its own copy of the form design, so the
whole document can be far larger than the data kept from it. `JsonStream` lets a reader walk
the outer object or list and decode one element at a time with the standard library's decoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

CHUNK_CHARS = 1 << 20
_WHITESPACE = " \t\n\r"


class JsonStreamError(ValueError):
    """The text is not valid JSON; `where` names the line and column."""

    def __init__(self, problem: str, where: str) -> None:
        super().__init__(f"{problem} at {where}")
        self.problem = problem
        self.where = where


class JsonStream:
    """A cursor over JSON text: peek at the next token, take punctuation, decode values."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._at_end = False
        self._lines_before = 0
        self._column_before = 0

    def peek(self) -> str:
        """The next character that is not whitespace, without taking it; "" at the end."""
        while True:
            while self._pos < len(self._buffer) and self._buffer[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._buffer) or not self._fill():
                return self._buffer[self._pos : self._pos + 1]

    def take(self, char: str) -> None:
        """Consume `char`, which must come next."""
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "the end of the text"
            raise self._error(f"expected {char!r}, found {shown}", self._pos)
        self._pos += 1

    def value(self) -> Any:
        """Decode the next complete value."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as exc:
                # Limitation: a value cannot be told truncated from malformed before the end of
                # the text, so a syntax error is reported only after the rest has been read.
                if self._fill():
                    continue
                raise self._error(exc.msg, exc.pos) from None
            # A number that ends the buffer may go on in the next chunk.
            if end == len(self._buffer) and self._fill():
                continue
            self._pos = end
            return value

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next; read each key's value before resuming."""
        self.take("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            start = self._pos
            key = self.value()
            if not isinstance(key, str):
                raise self._error("expected an object key in double quotes", start)
            self.take(":")
            yield key
            if self.peek() != ",":
                self.take("}")
                return
            self._pos += 1

    def elements(self) -> Iterator[int]:
        """Indexes of the elements of the list that comes next; read each before resuming."""
        self.take("[")
        if self.peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            yield index
            if self.peek() != ",":
                self.take("]")
                return
            self._pos += 1
            index += 1

    def finish(self) -> None:
        """Check that nothing but whitespace follows."""
        if self.peek():
            raise self._error("expected the end of the text, found more", self._pos)

    def _fill(self) -> bool:
        """Read more text, dropping what was consumed; False at the end of the text."""
        if self._at_end:
            return False
        # Grow reads with the pending value so a value spanning many chunks decodes in linear time.
        chunk = self._handle.read(max(CHUNK_CHARS, len(self._buffer) - self._pos))
        if not chunk:
            self._at_end = True
            return False

        consumed = self._buffer[: self._pos]
        newline = consumed.rfind("\n")
        self._lines_before += consumed.count("\n")
        if newline >= 0:
            self._column_before = len(consumed) - newline - 1
        else:
            self._column_before += len(consumed)
        self._buffer, self._pos = self._buffer[self._pos :] + chunk, 0
        return True

    def _error(self, problem: str, pos: int) -> JsonStreamError:
        line = self._lines_before + self._buffer.count("\n", 0, pos) + 1
        newline = self._buffer.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._column_before + pos + 1
        return JsonStreamError(problem, f"line {line} column {column}")
