"""JSON bodies nested deeper than `MAX_JSON_DEPTH` are refused at the edge with a 400.

No body of ours nests more than a few levels; a body nested a thousand deep is an attack on the
decoder (it recurses once per level and would fail with a RecursionError, a 500). The check costs
nearly nothing on ordinary requests: a body with fewer brackets in all than the limit cannot
exceed it, and that is counted in C. Only a body with many brackets is measured, with its strings
removed first (a bracket inside a string does not nest).
"""

from __future__ import annotations

import re

from prm.core.errors import DomainError

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: no step per character
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


class TooDeep(DomainError):
    status_code = 400
    title = "Bad request"
    type_slug = "validation"


def json_depth(body: bytes, *, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), counted up to one
    past `stop_after`. Each pass removes the innermost pairs, one level, in C. In malformed JSON
    the openers left unpaired count as levels too: the decoder descends into them before it
    finds the text broken."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    while brackets and depth <= stop_after:
        inner = _INNERMOST.sub(b"", brackets)
        if inner == brackets:
            return depth + brackets.count(b"[") + brackets.count(b"{")
        brackets, depth = inner, depth + 1
    return depth


def refuse_deep_json(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:  # nearly every request stops here
        return
    if json_depth(body) > MAX_JSON_DEPTH:
        raise TooDeep(f"Invalid input: body nests deeper than {MAX_JSON_DEPTH} levels.", field="body")
