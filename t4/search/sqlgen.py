"""A luqum tree -> SQL over the embedded index's tables (see ``t4.search.sqlite_index``).

Words and phrases on text fields become FTS5 ``MATCH`` expressions (merged into one where
they are ANDed or ORed together, so one full-text lookup serves them); fields become
predicates on ``docs d`` and on the ``fields`` / ``nums`` tables of flattened
``user_meta`` values.
Every value travels as a parameter: the SQL text is built only from fixed fragments.

Fields a query may name::

    key, version_id, etag     exact (wildcards * and ? allowed), ranges compare as strings
    size                      a number: size:100, size:[1 TO 10], size:>=100
    last_modified             a date or date-time: last_modified:[2024-01-01 TO now]
    user_meta.<dotted.path>   a word matches a value or a word of it (case-insensitive);
                              "a phrase" the value or a run inside it; ranges on numbers,
                              dates, else strings; user_meta.x:* means the field exists
    content (the default), text, user_meta   full-text words and phrases
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from luqum.tree import (
    AndOperation,
    BaseGroup,
    Boost,
    From,
    Fuzzy,
    Item,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Proximity,
    Range,
    Regex,
    SearchField,
    Term,
    To,
    UnknownOperation,
    Word,
)

from t4.errors import QuerySyntaxError
from t4.search.query import as_number, bounds, parse, term_text, to_epoch, tokens

__all__ = ["SqlQuery", "to_sql"]

#: Text fields -> the FTS5 column filter their words use.
_FTS_COLUMNS = {"content": "", "text": "text : ", "user_meta": "meta : "}
#: Text fields -> the docs columns a LIKE fallback (inner wildcards) scans.
_LIKE_COLUMNS = {
    "content": ("d.key", "d.text", "d.meta"),
    "text": ("d.text",),
    "user_meta": ("d.meta",),
}
_STRING_COLUMNS = {"key": "d.key", "version_id": "d.version_id", "etag": "d.etag"}
_KNOWN = "content, text, key, version_id, etag, size, last_modified, user_meta.<path>"


@dataclass(frozen=True)
class SqlQuery:
    """A compiled query.

    ``match`` is an FTS5 expression every hit must match (the query's top-level full-text
    part: it drives the lookup and ranks by bm25); ``where`` a predicate on ``docs d`` with
    ``params``; ``rank`` an FTS5 expression to rank by when there is no ``match`` but the
    query still has words (``thor OR user_meta.x:1``). ``scan_where`` is ``where`` with the
    same parameters, written to be checked row by row while scanning newest first (which
    wins when many documents match, as it stops after ``limit``).
    """

    match: str | None
    where: str
    params: tuple[Any, ...]
    rank: str | None
    scan_where: str = "1"


def to_sql(query: str, default_operator: str = "AND", default_field: str = "content") -> SqlQuery:
    """Compile a query string for the embedded index.

    Example:
        >>> q = to_sql("thor AND user_meta.rows:[100 TO 5000]")
        >>> q.match, q.params
        ('("thor")', ('rows', 100.0, 5000.0))
        >>> q.where
        '(d.id IN (SELECT doc_id FROM nums WHERE path = ? AND num >= ? AND num <= ?))'
    """
    tree, origin = parse(query)
    or_default = default_operator.upper() == "OR"
    plan = _Compiler(query, origin, or_default, False).plan(tree, default_field)
    scan = _Compiler(query, origin, or_default, True).plan(tree, default_field)
    return replace(plan, scan_where=scan.where)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _glob(pattern: str) -> str:
    """A Lucene wildcard (``*`` ``?``, backslash escapes) as a SQLite GLOB pattern."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        else:
            out.append("[[]" if ch == "[" else ch)
        i += 1
    return "".join(out)


def _like(pattern: str) -> str:
    """A Lucene wildcard as a LIKE pattern (escape ``\\``), unanchored."""
    body = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + body.replace("*", "%").replace("?", "_") + "%"


def _unwrap(node: Item) -> Item:
    while isinstance(node, BaseGroup | Plus | Boost | Fuzzy):
        node = node.children[0]
    return node


class _Compiler:
    def __init__(self, query: str, origin: list[int], or_default: bool, correlated: bool):
        self.query = query
        self.origin = origin
        self.or_default = or_default
        self.correlated = correlated

    def fields(self, condition: str, seek: bool = True) -> str:
        """A ``fields`` lookup (its ``path = ?`` first): an id list, or when scanning by
        time and the condition can seek the primary key, a per-row probe."""
        where = f"path = ? AND {condition}"
        if self.correlated and seek:
            return f"EXISTS (SELECT 1 FROM fields WHERE {where} AND doc_id = d.id)"
        return f"d.id IN (SELECT doc_id FROM fields WHERE {where})"

    def nums(self, condition: str) -> str:
        """A ``nums`` lookup (its ``path = ?`` first), as ``fields``; ``nums_doc`` probes."""
        where = f"path = ? AND {condition}"
        if self.correlated:
            return f"EXISTS (SELECT 1 FROM nums WHERE {where} AND doc_id = d.id)"
        return f"d.id IN (SELECT doc_id FROM nums WHERE {where})"

    def error(self, node: Item, why: str) -> QuerySyntaxError:
        pos = self.origin[min(node.pos or 0, len(self.origin) - 1)]
        return QuerySyntaxError(f"{why} at position {pos} in {self.query!r}", position=pos)

    def is_and(self, node: Item) -> bool:
        return isinstance(node, AndOperation) or (
            isinstance(node, UnknownOperation) and not self.or_default
        )

    # -- planning -------------------------------------------------------------------------

    def plan(self, tree: Item, default_field: str) -> SqlQuery:
        params: list[Any] = []
        root = _unwrap(tree)
        children = root.children if self.is_and(root) else [root]
        match, preds = self.conjunction(children, default_field, params, inline=False)
        where = " AND ".join(f"({p})" for p in preds) or "1"
        rank = None if match else self.rank_expr(root, default_field)
        return SqlQuery(match, where, tuple(params), rank)

    def rank_expr(self, node: Item, field: str) -> str | None:
        """The positive words of the query, ORed, to rank hits that the filter keeps."""
        node = _unwrap(node)
        if isinstance(node, Not | Prohibit):
            return None
        if isinstance(node, SearchField):
            return self.rank_expr(node.expr, node.name)
        if isinstance(node, AndOperation | OrOperation | UnknownOperation):
            parts = [r for c in node.children if (r := self.rank_expr(c, field))]
            return " OR ".join(f"({p})" for p in parts) or None
        return self.fts(node, field)

    def conjunction(
        self, children: list[Item], field: str, params: list[Any], inline: bool
    ) -> tuple[str | None, list[str]]:
        """Merge the full-text children into one MATCH; compile the others to predicates."""
        positive, negative, preds = [], [], []
        for child in children:
            inner = _unwrap(child)
            if isinstance(inner, Not | Prohibit) and (neg := self.fts(inner.children[0], field)):
                negative.append(neg)
            elif fts := self.fts(child, field):
                positive.append(fts)
            else:
                preds.append(self.sql(child, field, params))
        if not positive:
            preds += [self.sql(c, field, params) for c in children if self.fts_negated(c, field)]
            return None, preds
        match = " AND ".join(f"({p})" for p in positive) + "".join(f" NOT ({n})" for n in negative)
        if inline:
            params.insert(len(params) - _count_params(preds), match)
            preds.insert(0, "d.id IN (SELECT rowid FROM fts WHERE fts MATCH ?)")
            return None, preds
        return match, preds

    def fts_negated(self, child: Item, field: str) -> bool:
        inner = _unwrap(child)
        return isinstance(inner, Not | Prohibit) and self.fts(inner.children[0], field) is not None

    # -- full text ------------------------------------------------------------------------

    def fts(self, node: Item, field: str) -> str | None:
        """The node as an FTS5 expression, or None when it is not pure full text."""
        node = _unwrap(node)
        if isinstance(node, SearchField):
            return self.fts(node.expr, node.name) if node.name in _FTS_COLUMNS else None
        if field not in _FTS_COLUMNS:
            return None
        if isinstance(node, AndOperation | UnknownOperation) and self.is_and(node):
            parts = [self.fts(c, field) for c in node.children]
            return None if None in parts else " AND ".join(f"({p})" for p in parts)
        if isinstance(node, OrOperation | UnknownOperation):
            parts = [self.fts(c, field) for c in node.children]
            return None if None in parts else " OR ".join(f"({p})" for p in parts)
        return self.fts_term(node, field)

    def fts_term(self, node: Item, field: str) -> str | None:
        column = _FTS_COLUMNS[field]
        if isinstance(node, Proximity) and isinstance(node.term, Phrase):
            words = " ".join(_quote(w) for w in term_text(node.term).split())
            return f"{column}NEAR({words}, {int(node.degree or 0)})"
        if isinstance(node, Phrase):
            return column + _quote(term_text(node))
        if isinstance(node, Word):
            text = term_text(node)
            if not node.has_wildcard():
                return column + _quote(text)
            stem = node.value[:-1]
            if node.value.endswith("*") and stem and not Word(stem).has_wildcard():
                return column + _quote(term_text(Word(stem))) + "*"
        return None

    # -- predicates -----------------------------------------------------------------------

    def sql(self, node: Item, field: str, params: list[Any]) -> str:
        node = _unwrap(node)
        if fts := self.fts(node, field):
            params.append(fts)
            return "d.id IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
        if isinstance(node, SearchField):
            self.check_field(node)
            return self.sql(node.expr, node.name, params)
        if isinstance(node, Not | Prohibit):
            return f"NOT ({self.sql(node.children[0], field, params)})"
        if self.is_and(node):
            _, preds = self.conjunction(list(node.children), field, params, inline=True)
            return " AND ".join(f"({p})" for p in preds)
        if isinstance(node, OrOperation | UnknownOperation):
            return " OR ".join(f"({self.sql(c, field, params)})" for c in node.children)
        return self.leaf(node, field, params)

    def check_field(self, node: SearchField) -> None:
        name = node.name
        if name in _FTS_COLUMNS or name in _STRING_COLUMNS or name in ("size", "last_modified"):
            return
        if name.startswith("user_meta.") and len(name) > len("user_meta."):
            return
        raise self.error(node, f"unknown field {name!r}; fields are {_KNOWN}")

    def leaf(self, node: Item, field: str, params: list[Any]) -> str:
        if isinstance(node, Range | From | To):
            return self.range(node, field, params)
        if isinstance(node, Regex):
            raise self.error(node, "regular expressions are not supported; use wildcards * and ?")
        if not isinstance(node, Term):
            raise self.error(node, f"unsupported query part {str(node)!r}")
        if isinstance(node, Word) and node.value == "*":
            return "1" if field in _FTS_COLUMNS else self.exists(field, params)
        if field in _FTS_COLUMNS:
            return self.like(node, field, params)
        if field in _STRING_COLUMNS:
            return self.string(node, _STRING_COLUMNS[field], params)
        if field == "size":
            params.append(self.number(node, term_text(node)))
            return "d.size = ?"
        if field == "last_modified":
            start = self.date(node, term_text(node))
            params.extend([start, start + (86400 if len(term_text(node)) <= 10 else 1)])
            return "d.last_modified >= ? AND d.last_modified < ?"
        return self.meta_value(node, field.removeprefix("user_meta."), params)

    def like(self, node: Term, field: str, params: list[Any]) -> str:
        columns = _LIKE_COLUMNS[field]
        params.extend([_like(node.value)] * len(columns))
        return " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)

    def exists(self, field: str, params: list[Any]) -> str:
        if field.startswith("user_meta."):
            params.append(field.removeprefix("user_meta."))
            return self.fields("1", seek=False)
        return f"{_STRING_COLUMNS[field]} IS NOT NULL" if field in _STRING_COLUMNS else "1"

    def string(self, node: Term, column: str, params: list[Any]) -> str:
        if isinstance(node, Word) and node.has_wildcard():
            params.append(_glob(node.value))
            return f"{column} GLOB ?"
        params.append(term_text(node))
        return f"{column} = ?"

    def meta_value(self, node: Term, path: str, params: list[Any]) -> str:
        text = term_text(node)
        if isinstance(node, Word) and node.has_wildcard():
            params.extend([path, _glob(node.value.lower())])
            return self.fields("str GLOB ?", seek=False)
        words = tokens(text)
        number = as_number(text)
        if number is not None:
            params.extend([path, text.lower(), path, number])
            return f"{self.fields('str = ?')} OR {self.nums('num = ?')}"
        if len(words) == 1 and words[0] == text.lower():
            params.extend([path, words[0]])
            return self.fields("str = ?")
        params.extend([path, text.lower(), _like(text.lower())])
        return self.fields("tok = 0 AND (str = ? OR str LIKE ? ESCAPE '\\')", seek=False)

    # -- ranges ---------------------------------------------------------------------------

    def range(self, node: Range | From | To, field: str, params: list[Any]) -> str:
        low, high = bounds(node)
        convert: Callable[[Item, str], Any]
        if field in ("size", "last_modified"):
            convert = self.number if field == "size" else self.date
            column = f"d.{field}"
        elif field.startswith("user_meta."):
            column, convert = self.meta_range_kind(node, low, high)
        elif field in _STRING_COLUMNS:
            column, convert = _STRING_COLUMNS[field], _identity
        else:
            raise self.error(
                node, f"a range needs a field (size, user_meta.<path>...), not {field!r}"
            )
        clauses = []
        for bound, op in ((low, ">"), (high, "<")):
            if bound is not None:
                value, inclusive = bound
                params.append(convert(node, value))
                clauses.append(f"{column} {op}{'=' if inclusive else ''} ?")
        if field.startswith("user_meta."):
            params.insert(len(params) - len(clauses), field.removeprefix("user_meta."))
            where = " AND ".join(clauses) if clauses else "1"
            if column == "num":
                return self.nums(where)
            return self.fields(f"tok = 0 AND {where}", seek=False)
        return " AND ".join(clauses) or "1"

    def meta_range_kind(self, node: Item, low: Any, high: Any) -> tuple[str, Any]:
        values = [b[0] for b in (low, high) if b is not None]
        if all(as_number(v) is not None for v in values):
            return "num", self.number
        if all(v == "now" or to_epoch(v) is not None for v in values):
            return "num", self.date
        return "str", lambda _node, v: v.lower()

    def number(self, node: Item, value: str) -> float:
        number = as_number(value)
        if number is None:
            raise self.error(node, f"{value!r} is not a number")
        return number

    def date(self, node: Item, value: str) -> float:
        if value == "now":
            return time.time()
        epoch = to_epoch(value)
        if epoch is None:
            raise self.error(node, f"{value!r} is not a date (use YYYY-MM-DD or ISO 8601)")
        return epoch


def _identity(_node: Item, value: str) -> str:
    return value


def _count_params(preds: list[str]) -> int:
    return sum(p.count("?") for p in preds)
