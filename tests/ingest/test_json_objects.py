"""The compiled parsers' ``extra`` column: each object's JSON text is what ``extra_json``
(``json.dumps``) gives, also when objects repeat or come with the same items in another order
(the column reuses the last object's text when its items are the same, in the same order)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perftui.store.writer import extra_json
from tests.ingest.differential import compiled

TEXT = st.sampled_from(["QC_hit", "No", "Yes", "port", "5432", "", "é", '"', "\\", "\n", "a\x01"])
OBJECTS = st.dictionaries(TEXT, st.none() | TEXT, max_size=3)


def _texts(objects: list) -> list:
    return compiled("perftui.ingest._columns", "json_texts")(objects)


@given(st.lists(OBJECTS, max_size=12), st.randoms())
def test_json_text_of_every_object(objects: list[dict], random) -> None:
    # Repeats, and the same items in another order, as parsers produce them.
    sequence = []
    for d in objects:
        sequence.append(d)
        if random.random() < 0.5:
            sequence.append(dict(d))
        if len(d) > 1 and random.random() < 0.5:
            sequence.append(dict(reversed(d.items())))
    assert _texts(sequence) == [extra_json(d) for d in sequence]


def test_repeats_nulls_and_changes_between_objects() -> None:
    assert _texts(
        [{"QC_hit": "No"}, {"QC_hit": "Yes"}, {"QC_hit": "No"}, None, {}, {"a": None}]
    ) == [
        '{"QC_hit":"No"}',
        '{"QC_hit":"Yes"}',
        '{"QC_hit":"No"}',
        None,
        None,
        '{"a":null}',
    ]


def test_a_key_that_is_not_a_str_is_refused_after_an_equal_str_key() -> None:
    class Key(str):
        pass

    with pytest.raises(TypeError):
        _texts([{"a": "x"}, {Key("a"): "x"}])
