"""Untrusted text made inert in Markdown: no markup, no HTML, no links, no line breaks.

Runbooks and reports put inventory values (an agency's name, an app's description) into
Markdown that people open in renderers which also accept raw HTML. :func:`text` makes a value
render as exactly its characters: HTML's ``< > & "`` become entities, the characters that
open emphasis, code, links, images or table cells get a backslash (and so does one that would
start a heading, list or quote at the beginning of a line), and line breaks become spaces.
A bare ``https://…`` may still be shown as a link by some renderers; its text is then the link.
"""

from __future__ import annotations

import re

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_INLINE = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^(\s*\d*)([#+\-=!:]|(?<=\d)[.)])")
_BREAKS = re.compile(r"[\r\n\u0085\u2028\u2029\t\v\f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def text(value: object) -> str:
    """``value`` as inline Markdown text that renders as exactly its characters."""
    raw = _CONTROL.sub("", _BREAKS.sub(" ", str(value)))
    escaped = _INLINE.sub(r"\\\1", "".join(_ENTITIES.get(char, char) for char in raw))
    return _LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", escaped)
