"""The event filter language: all-keys equality, operators on dotted paths, and syntax problems."""

from __future__ import annotations

import pytest

from extensions_core.filters import filter_matches, filter_problems

PAYLOAD = {
    "extension_name": "hello-extension",
    "count": 5,
    "ratio": 0.5,
    "tags": ["a", "b"],
    "device": {"room": "kitchen", "battery": 12, "readings": [3, 4]},
    "note": "low battery warning",
    "flag": False,
    "nothing": None,
}

TABLE = [
    ({}, True, "empty filter matches everything"),
    ({"extension_name": "hello-extension"}, True, "plain equality"),
    ({"extension_name": "other"}, False, "plain inequality"),
    ({"extension_name": "hello-extension", "count": 5}, True, "all keys must match"),
    ({"extension_name": "hello-extension", "count": 6}, False, "one key differs"),
    ({"device.room": "kitchen"}, True, "dotted path"),
    ({"device.readings.1": 4}, True, "list index in a path"),
    ({"device.missing": "x"}, False, "missing path never equals"),
    ({"nothing": None}, True, "null equals null"),
    ({"flag": False}, True, "false equals false"),
    ({"count": {"$ne": 4}}, True, "$ne different"),
    ({"count": {"$ne": 5}}, False, "$ne same"),
    ({"absent": {"$ne": 1}}, True, "$ne on a missing path"),
    ({"count": {"$in": [1, 5, 9]}}, True, "$in hit"),
    ({"count": {"$in": [1, 9]}}, False, "$in miss"),
    ({"count": {"$gt": 4}}, True, "$gt"),
    ({"count": {"$gt": 5}}, False, "$gt equal"),
    ({"count": {"$gte": 5}}, True, "$gte equal"),
    ({"ratio": {"$lt": 1}}, True, "$lt with a float"),
    ({"count": {"$lte": 4}}, False, "$lte"),
    ({"device.battery": {"$gte": 10, "$lt": 20}}, True, "a range with two operators"),
    ({"device.battery": {"$gte": 15, "$lt": 20}}, False, "a range that misses"),
    ({"note": {"$gt": "a"}}, True, "strings compare with strings"),
    ({"count": {"$gt": "1"}}, False, "a number never compares with a string"),
    ({"flag": {"$lt": 1}}, False, "booleans are not numbers here"),
    ({"device.room": {"$exists": True}}, True, "$exists true"),
    ({"device.floor": {"$exists": True}}, False, "$exists true on a missing path"),
    ({"device.floor": {"$exists": False}}, True, "$exists false"),
    ({"note": {"$contains": "battery"}}, True, "$contains in a string"),
    ({"tags": {"$contains": "b"}}, True, "$contains in a list"),
    ({"tags": {"$contains": "z"}}, False, "$contains miss"),
    ({"count": {"$contains": 5}}, False, "$contains on a number"),
    ({"absent": {"$gt": 1}}, False, "operators on a missing path fail"),
    ({"device": {"room": "kitchen", "battery": 12, "readings": [3, 4]}}, True, "object equality without operators"),
]


@pytest.mark.parametrize(("conditions", "expected", "case"), TABLE, ids=[case for _, _, case in TABLE])
def test_filter_operator_table(conditions, expected, case):
    assert filter_problems(conditions) == []
    assert filter_matches(conditions, PAYLOAD) is expected


@pytest.mark.parametrize(
    ("conditions", "field", "fragment"),
    [
        ({"count": {"$regex": "x"}}, "filter.count.$regex", '"$regex" is not an operator'),
        ({"count": {"$in": 5}}, "filter.count.$in", "$in takes a list"),
        ({"count": {"$exists": "yes"}}, "filter.count.$exists", "$exists takes true or false"),
        ({"count": {"$gt": [1]}}, "filter.count.$gt", "$gt takes a number or a string"),
        ({"$or": [1]}, "filter.$or", "is not a dotted path"),
        ({"a..b": 1}, "filter.a..b", "is not a dotted path"),
    ],
)
def test_filter_syntax_problems_name_the_path(conditions, field, fragment):
    [(where, message)] = filter_problems(conditions)

    assert where == field
    assert fragment in message


def test_a_filter_must_be_an_object():
    assert filter_problems(["count"]) == [
        ("filter", "a filter must be an object of dotted paths to values or operators")
    ]
