"""Metadata flattened for the index: dotted paths, the words of values, numbers and dates.

``user_meta.owner.team:ops`` finds ``{"owner": {"team": "ops"}}`` because the index holds
one row per leaf value under its dotted path (lists repeat the path of their items).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from t4.search.query import to_epoch, tokens

__all__ = ["field_rows", "leaves", "meta_text"]


def leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted path, scalar) for every leaf of a metadata value; lists repeat their path.

    Example:
        >>> list(leaves({"a": {"b": 1}, "tags": ["x", "y"]}, ""))
        [('a.b', 1), ('tags', 'x'), ('tags', 'y')]
    """
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from leaves(inner, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from leaves(inner, path)
    elif value is not None:
        yield path, value


def field_rows(
    doc_id: int,
    flat: list[tuple[str, Any]],
    strings: list[tuple[str, str, int, int]],
    numbers: list[tuple[str, float, int]],
) -> None:
    """Append the ``fields`` and ``nums`` rows of one document's metadata leaves."""
    seen: set[tuple[str, str, int]] = set()
    for path, value in flat:
        number: float | None = None
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, int | float):
            text, number = str(value).lower(), float(value)
        else:
            text = str(value)
            try:
                number = float(text)
            except ValueError:
                number = to_epoch(text)
        lower = text.lower()
        words = tokens(text)
        rows = [(lower, 0)]
        if len(words) > 1 or (words and words[0] != lower):
            rows += [(word, 1) for word in words]
        for value_text, tok in rows:
            if (path, value_text, tok) not in seen:  # a list may repeat a value
                seen.add((path, value_text, tok))
                strings.append((path, value_text, doc_id, tok))
        if number is not None and number == number and (path, str(number), 2) not in seen:
            seen.add((path, str(number), 2))  # NaN has no place in an index
            numbers.append((path, number, doc_id))


def meta_text(flat: list[tuple[str, Any]]) -> str:
    """The words of a document's metadata for full-text search: each path and its value.

    Example:
        >>> meta_text(list(leaves({"a": {"b": "x y"}, "n": 1}, "")))
        'a.b x y n 1'
    """
    return " ".join(f"{path} {value}" for path, value in flat)
