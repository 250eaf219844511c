"""A search request, read and checked before it reaches the index: every bad shape becomes
a ``Rejected`` with the HTTP status and Elasticsearch error type that say what was wrong.

Limits: a body of at most ``MAX_BODY`` bytes (read in pieces, never whole past it), JSON
nested at most ``MAX_DEPTH`` deep, a query string of at most ``MAX_QUERY_CHARS``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from t4.catalog.state import MAX_RESULT_WINDOW

__all__ = [
    "BODY_BUDGET",
    "MAX_BODY",
    "MAX_DEPTH",
    "MAX_QUERY_CHARS",
    "BodyBudget",
    "Rejected",
    "SearchRequest",
    "read_body",
]

#: Bytes of request body accepted (10 MiB); more is a 413.
MAX_BODY = 10 * 1024 * 1024
#: Bytes of request bodies held at once across all requests (16 full bodies); past it, a 429.
BODY_BUDGET = 16 * MAX_BODY
#: Seconds a request body may take to arrive once its headers are in; longer is a 408.
BODY_SECONDS = 30.0
#: How deep JSON may nest (objects and arrays).
MAX_DEPTH = 64
#: Characters of query text accepted (``q=`` or ``query_string.query``).
MAX_QUERY_CHARS = 4096
#: Top-level keys of a ``_search`` body that are understood (others are refused).
BODY_KEYS = frozenset({"query", "size", "from", "_source", "track_total_hits", "timeout"})
_QUERY_STRING_KEYS = frozenset({"query", "default_operator", "default_field", "df"})


class Rejected(Exception):
    """A request refused with ``status``, an Elasticsearch error ``kind`` and a ``reason``."""

    def __init__(self, status: int, kind: str, reason: str):
        super().__init__(reason)
        self.status, self.kind, self.reason = status, kind, reason


def _bad(reason: str) -> Rejected:
    return Rejected(400, "parsing_exception", reason)


def _illegal(reason: str) -> Rejected:
    return Rejected(400, "illegal_argument_exception", reason)


class BodyBudget:
    """The request-body bytes every request holds at once (one event loop: no lock), so that
    memory stays bounded however many clients send large bodies together."""

    def __init__(self, limit: int | None = None):
        self.limit = BODY_BUDGET if limit is None else limit
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit:
            raise Rejected(
                429, "es_rejected_execution_exception",
                f"the catalog is holding {self.held:,} bytes of request bodies (at most "
                f"{self.limit:,} at once): try again shortly",
            )  # fmt: skip
        self.held += size

    def give(self, size: int) -> None:
        self.held -= size


async def read_body(
    headers: Mapping[str, str], chunks: AsyncIterator[bytes], budget: BodyBudget
) -> bytes:
    """The request body, refused (413) as soon as it is known to pass ``MAX_BODY``, (408)
    when it takes longer than ``BODY_SECONDS`` to arrive, or (429) when ``budget`` cannot hold
    it; the caller gives its size back to ``budget`` once done with it."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _bad(f"Content-Length must be a number of bytes, not {declared[:40]!r}")
        if int(declared) > MAX_BODY:
            raise _too_large(int(declared))
    body = bytearray()
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in chunks:
                budget.take(len(chunk))
                body += chunk
                if len(body) > MAX_BODY:
                    raise _too_large(len(body))
    except TimeoutError:
        budget.give(len(body))
        raise Rejected(
            408, "request_timeout", f"the request body did not arrive within {BODY_SECONDS:g} s"
        ) from None
    except BaseException:
        budget.give(len(body))
        raise
    return bytes(body)


def _too_large(size: int) -> Rejected:
    return Rejected(
        413,
        "content_too_long_exception",
        f"the request body is {size:,} bytes or more; at most {MAX_BODY:,} are accepted",
    )


def _depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most ``MAX_DEPTH`` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def parse_json(raw: bytes) -> dict[str, Any]:
    """A ``_search`` body: empty means ``{}``; otherwise a JSON object within the limits."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        body = None
        deep = True
    except (ValueError, UnicodeDecodeError) as err:
        raise _bad(f"the request body is not valid JSON: {err}") from None
    else:
        deep = not _depth_ok(body)
    if deep:
        raise _bad(f"the request body nests deeper than {MAX_DEPTH} levels")
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


@dataclass(frozen=True)
class SearchRequest:
    """A checked search: the body the index understands, and the page wanted."""

    body: dict[str, Any]
    size: int
    from_: int


def _count(name: str, value: Any) -> int:
    """``size`` or ``from``: an integer (a whole-number string from a URL too)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 12:
            raise _illegal(f"{name} must be a whole number, not {value[:40]!r}")
        value = int(text)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _illegal(f"{name} must be a whole number, not {json.dumps(value)[:40]}")
    if value < 0:
        raise _illegal(f"{name} must be 0 or more, not {value}")
    if value > MAX_RESULT_WINDOW:
        raise _illegal(
            f"{name} must be at most {MAX_RESULT_WINDOW} (max_result_window), not {value}"
        )
    return value


def _query_text(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise _bad(f"{where} must be a string, not {json.dumps(text)[:40]}")
    if len(text) > MAX_QUERY_CHARS:
        raise _illegal(
            f"{where} is {len(text):,} characters; at most {MAX_QUERY_CHARS:,} are accepted"
        )
    return text


def _check_query(query: Any) -> None:
    """The ``query`` clause: ``match_all``, or ``query_string`` with string fields."""
    if not isinstance(query, dict) or len(query) != 1:
        raise _bad("query must be an object with one clause: query_string or match_all")
    ((kind, clause),) = query.items()
    if not isinstance(clause, dict):
        raise _bad(f"query.{kind} must be an object, not {json.dumps(clause)[:40]}")
    if kind == "match_all":
        return
    if kind != "query_string":
        raise _bad(f"query.{kind} is not supported here: use query_string or match_all")
    unknown = sorted(set(clause) - _QUERY_STRING_KEYS)
    if unknown:
        raise _bad(f"query.query_string does not support {', '.join(unknown)}")
    _query_text(clause.get("query"), "query.query_string.query")
    operator = clause.get("default_operator", "OR")
    if not isinstance(operator, str) or operator.upper() not in ("AND", "OR"):
        raise _bad(f"default_operator must be AND or OR, not {json.dumps(operator)[:40]}")
    for field in ("default_field", "df"):
        if field in clause and not isinstance(clause[field], str):
            raise _bad(f"{field} must be a field name, not {json.dumps(clause[field])[:40]}")


def search_request(body: dict[str, Any], params: Mapping[str, str]) -> SearchRequest:
    """Check a ``_search`` body and its URL parameters (``q``, ``size``, ``from``,
    ``default_operator``, ``df``), which win over the body's."""
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise _bad(f"unknown key(s) in the search body: {', '.join(unknown)}")
    body = dict(body)
    if "q" in params:
        clause: dict[str, Any] = {"query": _query_text(params["q"], "q")}
        if "default_operator" in params:
            clause["default_operator"] = params["default_operator"]
        if "df" in params:
            clause["default_field"] = params["df"]
        body["query"] = {"query_string": clause}
    body.setdefault("query", {"match_all": {}})
    _check_query(body["query"])
    size = _count("size", params.get("size", body.get("size", 10)))
    from_ = _count("from", params.get("from", body.get("from", 0)))
    if from_ + size > MAX_RESULT_WINDOW:
        raise _illegal(
            f"from + size must be at most {MAX_RESULT_WINDOW} (max_result_window), "
            f"not {from_} + {size}"
        )
    clean = {"query": _normalised(body["query"])}
    return SearchRequest(clean, size, from_)


def _normalised(query: dict[str, Any]) -> dict[str, Any]:
    """``df`` as ``default_field``, and the operator upper-cased, as the index reads them."""
    clause = query.get("query_string")
    if clause is None:
        return query
    clause = dict(clause)
    if "df" in clause:
        clause.setdefault("default_field", clause.pop("df"))
    clause["default_operator"] = clause.get("default_operator", "OR").upper()
    return {"query_string": clause}
