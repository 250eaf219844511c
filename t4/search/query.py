"""The query language: Lucene ``query_string``, parsed with luqum.

This module turns a query into a luqum tree (with T4's single-quoted values accepted) and
into the body an Elasticsearch/OpenSearch endpoint expects; ``t4.search.sqlgen`` turns the
same tree into SQL for the embedded index.

Words combine with AND unless an operator says otherwise (``default_operator="AND"``), in
the embedded index and in the body sent to Elasticsearch alike.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from t4.errors import QuerySyntaxError

if TYPE_CHECKING:  # luqum (and ply) load on the first query, not with ``import t4``
    from luqum.tree import From, Item, Range, Term, To

__all__ = [
    "as_number",
    "bounds",
    "es_body",
    "normalize",
    "parse",
    "term_text",
    "to_epoch",
    "tokens",
]

#: Characters after which a ``'`` opens a quoted value rather than sitting inside a word.
_QUOTE_OPENERS = set(" \t\r\n:([{+-!")
#: luqum reports where a query broke only inside its message.
_POSITION = re.compile(r"at position (\d+)")
_TOKEN = re.compile(r"\w+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$")


def normalize(query: str) -> tuple[str, list[int]]:
    """Rewrite T4-style single-quoted values as double-quoted phrases.

    T4's documentation writes ``user_meta.name:'thor'``; Lucene only knows double quotes.
    A ``'`` that opens a token starts a quoted value up to the next unescaped ``'``; an
    apostrophe inside a word (``don't``) is escaped. Returns the rewritten query and, for
    each of its characters, the offset of the character it came from (to report errors
    against what the user typed).

    Example:
        >>> normalize("user_meta.name:'thor'")[0]
        'user_meta.name:"thor"'
        >>> normalize("don't")[0]
        "don\\\\'t"
    """
    out: list[str] = []
    origin: list[int] = []
    i, in_double = 0, False
    while i < len(query):
        ch = query[i]
        if ch == "\\" and i + 1 < len(query):
            out += [ch, query[i + 1]]
            origin += [i, i + 1]
            i += 2
            continue
        if ch == '"':
            in_double = not in_double
        elif ch == "'" and not in_double:
            if i == 0 or query[i - 1] in _QUOTE_OPENERS:
                i = _single_quoted(query, i, out, origin)
                continue
            out.append("\\")
            origin.append(i)
        out.append(ch)
        origin.append(i)
        i += 1
    origin.append(len(query))
    return "".join(out), origin


def _single_quoted(query: str, start: int, out: list[str], origin: list[int]) -> int:
    """Copy the single-quoted value opening at ``start`` as a double-quoted one."""
    i = start + 1
    out.append('"')
    origin.append(start)
    while i < len(query) and query[i] != "'":
        if query[i] == "\\" and i + 1 < len(query):
            out += ["\\", query[i + 1]]
            origin += [i, i + 1]
            i += 2
            continue
        if query[i] == '"':
            out.append("\\")
            origin.append(i)
        out.append(query[i])
        origin.append(i)
        i += 1
    if i >= len(query):
        raise QuerySyntaxError(
            f"unterminated quote at position {start} in {query!r}: close it with '",
            position=start,
        )
    out.append('"')
    origin.append(i)
    return i + 1


def parse(query: str) -> tuple[Item, list[int]]:
    """Parse a query into a luqum tree; return it with the offset map of ``normalize``.

    Raises:
        QuerySyntaxError: the query does not parse; ``position`` is where, in ``query``.

    Example:
        >>> parse("user_meta.name:'thor' AND size:>10")[0]
        AndOperation(SearchField('user_meta.name', Phrase('"thor"')), SearchField('size', From(Word('10'))))
    """  # noqa: E501  # a doctest output line cannot be wrapped
    from luqum.exceptions import ParseError
    from luqum.parser import lexer, parser

    if not query.strip():
        raise QuerySyntaxError("empty search query: give words or field:value terms", position=0)
    text, origin = normalize(query)
    try:
        # A fresh lexer per call: ply lexers hold state, and the catalog server is threaded.
        tree = parser.parse(text, lexer=lexer.clone())
    except ParseError as err:
        found = _POSITION.search(str(err))
        pos = origin[min(int(found.group(1)), len(origin) - 1)] if found else len(query)
        raise QuerySyntaxError(
            f"cannot parse search query {query!r} at position {pos}: {err}", position=pos
        ) from err
    return tree, origin


def term_text(term: Term) -> str:
    """A word's or phrase's text, quotes and escapes removed.

    Example:
        >>> from luqum.tree import Phrase
        >>> term_text(Phrase('"a \\\\"b\\\\""'))
        'a "b"'
    """
    from luqum.tree import Phrase

    value = term.value[1:-1] if isinstance(term, Phrase) else term.value
    return re.sub(r"\\(.)", r"\1", value)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens, as the index splits metadata values.

    Example:
        >>> tokens("Thor Odinson-2")
        ['thor', 'odinson', '2']
    """
    return _TOKEN.findall(text.lower())


def to_epoch(value: str) -> float | None:
    """Seconds since the epoch for an ISO date or date-time (UTC when no zone), else None.

    Example:
        >>> to_epoch("1970-01-02")
        86400.0
        >>> to_epoch("thor") is None
        True
    """
    if not _DATE.match(value.strip()):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def es_body(query: str | dict[str, Any], limit: int = 10) -> dict[str, Any]:
    """The request body for Elasticsearch/OpenSearch ``_search``.

    A string becomes T4's ``query_string`` body on the ``content`` field, with
    ``default_operator`` AND (the embedded index's rule) and single quotes rewritten; it is
    parsed first so that a bad query fails here, with its position. A dict is a raw body,
    sent as it is (``size`` added when missing).

    Example:
        >>> es_body("user_meta.name:'thor'", 5)["query"]["query_string"]["query"]
        'user_meta.name:"thor"'
    """
    if isinstance(query, dict):
        return {"size": limit, **query}
    parse(query)
    text, _ = normalize(query)
    return {
        "query": {
            "query_string": {"default_field": "content", "default_operator": "AND", "query": text}
        },
        "size": limit,
    }


def as_number(text: str) -> float | None:
    """A finite number written as text, else None.

    Example:
        >>> as_number("1e3"), as_number("nan"), as_number("x")
        (1000.0, None, None)
    """
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def bounds(node: Range | From | To) -> tuple[tuple[str, bool] | None, tuple[str, bool] | None]:
    """(value, inclusive) for the low and high ends of a range; None for an open end.

    Example:
        >>> from luqum.tree import Range, Word
        >>> bounds(Range(Word("1"), Word("*"), include_high=False))
        (('1', True), None)
    """
    from luqum.tree import From, Range, Term

    if isinstance(node, Range):
        ends = [(node.low, node.include_low), (node.high, node.include_high)]
    elif isinstance(node, From):
        ends = [(node.a, node.include), (None, True)]
    else:
        ends = [(None, True), (node.a, node.include)]
    out: list[tuple[str, bool] | None] = []
    for term, inclusive in ends:
        text = term_text(term) if isinstance(term, Term) else None
        out.append(None if text in (None, "*") else (str(text), bool(inclusive)))
    return out[0], out[1]
