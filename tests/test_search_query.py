"""The query language layer on its own: quoting, parse errors with positions, ES bodies."""

from __future__ import annotations

import pytest

from t4.errors import QuerySyntaxError, T4Error
from t4.search.query import es_body, normalize, parse
from t4.search.sqlgen import to_sql


@pytest.mark.parametrize(
    "query, normalized",
    [
        ("user_meta.name:'thor'", 'user_meta.name:"thor"'),
        ("'mighty thor'", '"mighty thor"'),
        ("a:'x' AND b:'y z'", 'a:"x" AND b:"y z"'),
        ("(user_meta.a:'x')", '(user_meta.a:"x")'),
        ("-'x'", '-"x"'),
        ("'say \"hi\"'", '"say \\"hi\\""'),
        ('"don\'t"', '"don\'t"'),
        ("don't", "don\\'t"),
        ("'it\\'s'", '"it\\\'s"'),
        ("plain words", "plain words"),
    ],
)
def test_single_quotes_become_phrases(query: str, normalized: str) -> None:
    assert normalize(query)[0] == normalized
    parse(query)  # and luqum accepts the result


def test_positions_map_back_to_what_the_user_typed() -> None:
    text, _ = normalize("'a\"b' AND (")
    assert text == '"a\\"b" AND ('
    with pytest.raises(QuerySyntaxError) as caught:
        parse("'a\"b' AND (")
    assert caught.value.position == 11  # the end of the original, not of the rewrite


def test_errors_are_t4_and_value_errors() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("a OR OR b")
    assert isinstance(caught.value, T4Error) and isinstance(caught.value, ValueError)
    assert caught.value.position == 5
    assert "position 5" in str(caught.value)


@pytest.mark.parametrize("query", ["user_meta.x:/regex/", "user_meta.x:[1 TO", "size:[a TO b]"])
def test_unsupported_or_broken_parts(query: str) -> None:
    with pytest.raises(QuerySyntaxError):
        to_sql(query)


def test_es_body_is_t4s_request() -> None:
    body = es_body("user_meta.name:'thor' hammer", 7)
    assert body == {
        "query": {
            "query_string": {
                "default_field": "content",
                "default_operator": "AND",
                "query": 'user_meta.name:"thor" hammer',
            }
        },
        "size": 7,
    }
    raw = {"query": {"term": {"key": "a"}}}
    assert es_body(raw, 3) == {"size": 3, "query": {"term": {"key": "a"}}}
    with pytest.raises(QuerySyntaxError):
        es_body("(", 10)


def test_values_travel_as_parameters() -> None:
    evil = "x'); DROP TABLE docs; --"
    compiled = to_sql(f'key:"{evil}" AND user_meta.name:"{evil}"')
    assert "DROP" not in compiled.where and "DROP" not in compiled.scan_where
    assert evil in compiled.params


def test_words_and_by_default_or_on_request() -> None:
    assert to_sql("a b").match == '("a") AND ("b")'
    assert to_sql("a b", default_operator="OR").match == '(("a") OR ("b"))'
