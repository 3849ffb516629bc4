"""Rich text in the Atlassian document format (ADF) turned into plain text.

Block nodes (paragraphs, headings, list items, code blocks) become lines joined with "\n"; a
hard break is a line break; text nodes are concatenated and their marks (bold, links) ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# Inline nodes that stand for text of their own; everything else inline is skipped.
_INLINE_TEXT_ATTRS = {
    "mention": "text",
    "emoji": "shortName",
    "status": "text",
    "inlineCard": "url",
    "date": "timestamp",
}
_INLINE_TYPES = {"text", "hardBreak", "mediaInline", "placeholder", "inlineExtension"}
_INLINE_TYPES |= set(_INLINE_TEXT_ATTRS)


def adf_to_text(doc: Any) -> str:
    """Plain text of an ADF document; an empty or missing document is ""."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return doc
        if isinstance(doc, str):
            return doc

    nodes = doc if isinstance(doc, list) else [doc]
    return "\n".join(line for node in nodes for line in _block_lines(node))


def _block_lines(node: Any) -> Iterator[str]:
    """The lines of one block node: its own text if it holds inline nodes, else its children's."""
    if not isinstance(node, dict):
        return
    children = node.get("content")
    if not isinstance(children, list) or not children:
        if node.get("type") in ("paragraph", "heading", "codeBlock"):
            yield ""
        elif node.get("type") in _INLINE_TYPES:
            yield _inline_text(node)
        return

    if any(isinstance(child, dict) and child.get("type") in _INLINE_TYPES for child in children):
        yield "".join(_inline_text(child) for child in children)
        return

    for child in children:
        yield from _block_lines(child)


def _inline_text(node: Any) -> str:
    """The text an inline node stands for."""
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""
    if kind == "hardBreak":
        return "\n"
    if kind in _INLINE_TEXT_ATTRS:
        attrs = node.get("attrs")
        value = attrs.get(_INLINE_TEXT_ATTRS[kind]) if isinstance(attrs, dict) else None
        return str(value) if value is not None else ""
    return ""
