"""Generated values validate against their schema, over many seeds, and repeat per seed."""

from __future__ import annotations

import datetime
import random
import re
from typing import Any

import jsonschema
import pytest
from faker import Faker

from mockllm.reply_engine.instances import generate_instance

SEEDS = range(40)

GET_WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country, e.g. Paris, France"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}

STRICT_WEATHER = {  # OpenAI strict mode: every property required, optional ones nullable
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 14},
    },
    "required": ["location", "unit", "days"],
    "additionalProperties": False,
}

SEARCH_FLIGHTS = {  # nested objects, formats and bounds
    "type": "object",
    "properties": {
        "origin": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "destination": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "date": {"type": "string", "format": "date"},
        "passengers": {
            "type": "object",
            "properties": {
                "adults": {"type": "integer", "minimum": 1, "maximum": 9},
                "children": {"type": "integer", "minimum": 0, "maximum": 8},
            },
            "required": ["adults"],
            "additionalProperties": False,
        },
        "cabin": {"enum": ["economy", "premium", "business", "first"]},
        "max_price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
    },
    "required": ["origin", "destination", "date", "passengers"],
}

CREATE_ORDER = {  # arrays of objects
    "type": "object",
    "properties": {
        "customer": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "email": {"type": "string", "format": "email"},
            },
            "required": ["name", "email"],
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^SKU-\\d{4,6}$"},
                    "quantity": {"type": "integer", "minimum": 1, "exclusiveMaximum": 100},
                    "price": {"type": "number", "minimum": 0.5, "maximum": 99.5},
                },
                "required": ["sku", "quantity"],
                "additionalProperties": False,
            },
        },
        "notes": {"type": "string", "maxLength": 20},
        "gift": {"type": "boolean"},
    },
    "required": ["customer", "items"],
    "additionalProperties": False,
}

MATH_REASONING = {  # the OpenAI structured outputs example, strict
    "type": "object",
    "properties": {
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
                "required": ["explanation", "output"],
                "additionalProperties": False,
            },
        },
        "final_answer": {"type": "string"},
    },
    "required": ["steps", "final_answer"],
    "additionalProperties": False,
}

UI_TREE = {  # recursion through "$ref": "#", as in the OpenAI docs
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["div", "button", "header", "section", "field"]},
        "label": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#"}},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                "required": ["name", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["type", "label", "children", "attributes"],
    "additionalProperties": False,
}

LINKED_LIST = {  # recursion through $defs, ended by an anyOf null branch
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]},
            },
            "required": ["value", "next"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}

ANY_OF_DEFS = {  # anyOf over $defs, as in the OpenAI docs
    "type": "object",
    "properties": {
        "item": {"anyOf": [{"$ref": "#/$defs/user"}, {"$ref": "#/$defs/address"}]},
    },
    "required": ["item"],
    "additionalProperties": False,
    "$defs": {
        "user": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "number"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
        "address": {
            "type": "object",
            "properties": {"number": {"type": "string"}, "street": {"type": "string"}},
            "required": ["number", "street"],
            "additionalProperties": False,
        },
    },
}

DRAFT7_DEFINITIONS = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "point": {
            "type": "array",
            "items": [{"type": "number"}, {"type": "number"}],
            "additionalItems": False,
            "minItems": 2,
        }
    },  # fmt: skip
    "type": "object",
    "properties": {"a": {"$ref": "#/definitions/point"}, "b": {"$ref": "#/definitions/point"}},
    "required": ["a", "b"],
}

DRAFT4_EXCLUSIVE = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "ratio": {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": 1,
            "exclusiveMaximum": True,
        },  # fmt: skip
        "level": {"type": "integer", "minimum": 1, "exclusiveMinimum": True, "maximum": 3},
    },
    "required": ["ratio", "level"],
}

SCHEMAS: dict[str, Any] = {
    "get_weather": GET_WEATHER,
    "strict_weather": STRICT_WEATHER,
    "search_flights": SEARCH_FLIGHTS,
    "create_order": CREATE_ORDER,
    "math_reasoning": MATH_REASONING,
    "ui_tree": UI_TREE,
    "linked_list": LINKED_LIST,
    "any_of_defs": ANY_OF_DEFS,
    "draft7_definitions": DRAFT7_DEFINITIONS,
    "draft4_exclusive": DRAFT4_EXCLUSIVE,
    "empty": {},
    "true": True,
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "const": {"const": {"kind": "fixed", "n": [1, 2]}},
    "enum_mixed": {"enum": ["a", 1, None, {"x": True}]},
    "enum_typed": {"type": "string", "enum": ["a", 1, None]},
    "type_list": {"type": ["integer", "string", "null"], "minimum": 5, "minLength": 2},
    "int_multiple": {"type": "integer", "minimum": -50, "maximum": 50, "multipleOf": 7},
    "num_multiple_float": {"type": "number", "minimum": 0, "maximum": 3, "multipleOf": 0.1},
    "num_multiple_half": {"type": "number", "minimum": 1, "maximum": 2, "multipleOf": 0.25},
    "num_exclusive": {"type": "number", "exclusiveMinimum": 10, "exclusiveMaximum": 10.5},
    "int_only_max": {"type": "integer", "maximum": -1000},
    "int_only_min": {"type": "integer", "minimum": 1e6},
    "string_lengths": {"type": "string", "minLength": 30, "maxLength": 35},
    "string_short": {"type": "string", "maxLength": 3},
    "uuid": {"type": "string", "format": "uuid"},
    "date_time": {"type": "string", "format": "date-time"},
    "formats": {
        "type": "object",
        "properties": {
            f: {"type": "string", "format": f}
            for f in ("email", "date", "uri", "hostname", "ipv4", "ipv6", "time", "duration")
        },
        "required": ["email", "date", "uri", "hostname", "ipv4", "ipv6", "time", "duration"],
    },
    "all_of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}, "a": {"minimum": 3}}, "required": ["b"]},
            {"properties": {"a": {"maximum": 5}}},
        ]
    },
    "ref_with_siblings": {
        "$defs": {"name": {"type": "string", "minLength": 2}},
        "$ref": "#/$defs/name",
        "maxLength": 4,
    },
    "one_of": {"oneOf": [{"type": "string", "maxLength": 0}, {"type": "integer", "minimum": 1}]},
    "unique_enum": {
        "type": "array",
        "items": {"enum": ["red", "green", "blue", "cyan"]},
        "uniqueItems": True,
        "minItems": 3,
    },
    "unique_objects": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 0, "maximum": 1000}},
            "required": ["id"],
        },  # fmt: skip
        "uniqueItems": True,
        "minItems": 2,
        "maxItems": 4,
    },
    "unique_small_ints": {
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 6},
        "uniqueItems": True,
    },
    "unique_numbers_and_bools": {  # 1 and 1.0 are equal in JSON Schema; true and 1 are not
        "type": "array",
        "items": {"enum": [1, 1.0, True, False]},
        "uniqueItems": True,
        "maxItems": 3,
    },
    "prefix_items": {
        "type": "array",
        "prefixItems": [{"type": "string", "format": "date"}, {"type": "integer"}],
        "items": False,
    },
    "contains": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 100},
        "contains": {"const": 42},
        "maxItems": 3,
    },
    "map": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    "property_names": {
        "type": "object",
        "propertyNames": {"pattern": "^x-[a-z]{3}$"},
        "minProperties": 2,
    },
    "pattern_properties": {
        "type": "object",
        "properties": {"s_name": {"type": "string"}, "n_count": {"type": "integer"}},
        "patternProperties": {"^s_": {"maxLength": 5}, "^n_": {"minimum": 10, "maximum": 20}},
        "required": ["s_name", "n_count"],
    },
    "min_max_properties": {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in "abcdef"},
        "minProperties": 4,
        "maxProperties": 4,
    },
    "dependent_required": {
        "type": "object",
        "properties": {"card": {"type": "string"}, "billing": {"type": "string"}},
        "required": ["card"],
        "dependentRequired": {"card": ["billing"]},
    },
}

PATTERNS = [
    r"^\d{3}-\d{4}$",
    r"^[A-Z][a-z]{2,8}$",
    r"(foo|bar)+baz",
    r"^(?<year>\d{4})-(?:0[1-9]|1[0-2])$",
    r"^[^\s@]+@[^\s@]+\.[a-z]{2,}$",
    r"^#[0-9a-fA-F]{6}$",
    r"^\w+\.\w{2,3}$",
    r"^[a-z0-9_-]{3,16}$",
    r"^v\d+\.\d+(\.\d+)?(-rc\d)?$",
    r"^\+?1?\s?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}$",
    r"^\u00e9t[eé]+$",
    r"^[\[\]{}]x{2}\.$",
]


def make_validator(schema: Any) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


FAKER = Faker()  # building a Faker takes milliseconds; seeding it per value is what matters


def generate(schema: Any, seed: int) -> Any:
    FAKER.seed_instance(seed)
    return generate_instance(schema, random.Random(seed), FAKER)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_value_validates_over_many_seeds(name: str) -> None:
    schema = SCHEMAS[name]
    validator = make_validator(schema)
    for seed in SEEDS:
        value = generate(schema, seed)
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (seed, value, errors)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_produce_matching_strings(pattern: str) -> None:
    compiled = re.compile(pattern.replace("(?<", "(?P<"))
    for seed in SEEDS:
        value = generate({"type": "string", "pattern": pattern}, seed)
        assert compiled.search(value), (seed, value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": r"^(?=.*\d)[a-z\d]+$", "minLength": 8, "maxLength": 12},
        {"type": "string", "pattern": r"\bword\b", "maxLength": 10},
        {"type": "string", "pattern": r"(a)\1", "minLength": 2, "maxLength": 2},
        {"type": "string", "pattern": "[unclosed", "minLength": 1},
    ],
)
def test_unsupported_patterns_fall_back_to_a_string_of_allowed_length(
    schema: dict[str, Any],
) -> None:
    for seed in range(10):
        value = generate(schema, seed)
        assert isinstance(value, str)
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**6)


@pytest.mark.parametrize(
    "schema",
    [
        {"not": {"type": "string"}},
        {"if": {"type": "string"}, "then": {"minLength": 2}},
        {"$ref": "https://example.com/remote.json"},
        {"$ref": "#/$defs/missing"},
        {"$ref": "#anchor"},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {"type": "object", "required": ["x"], "properties": {"x": {"$ref": "#"}}},
        {"type": "whatever"},
        {"type": "string", "minLength": 5, "maxLength": 2},
        {"type": "integer", "minimum": 5, "maximum": 1},
        {"allOf": "not a list", "anyOf": []},
        {"type": "object", "required": True, "dependentRequired": {"a": "b"}},
        {"type": "array", "items": [True, False], "minItems": 4, "uniqueItems": True},
        False,
    ],
)
def test_unsupported_or_contradictory_schemas_do_not_raise(schema: Any) -> None:
    generate(schema, 1)


@pytest.mark.parametrize("name", ["get_weather", "create_order", "ui_tree", "search_flights"])
def test_the_same_seed_gives_the_same_value_and_seeds_vary(name: str) -> None:
    schema = SCHEMAS[name]
    assert generate(schema, 11) == generate(schema, 11)
    assert len({repr(generate(schema, seed)) for seed in range(8)}) > 4


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("name", ["ui_tree", "linked_list"])
def test_recursive_schemas_stay_shallow(name: str) -> None:
    assert max(depth(generate(SCHEMAS[name], seed)) for seed in SEEDS) <= 10


def test_required_properties_always_present_and_optional_ones_sometimes() -> None:
    values = [generate(GET_WEATHER, seed) for seed in SEEDS]
    assert all("location" in v for v in values)
    with_unit = sum("unit" in v for v in values)
    assert 0 < with_unit < len(values)


def test_strict_nullable_fields_are_mostly_filled() -> None:
    values = [generate(STRICT_WEATHER, seed) for seed in SEEDS]
    assert sum(v["unit"] is not None for v in values) > len(values) // 2


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("email", lambda v: "@" in v),
        ("contact_email", lambda v: "@" in v),
        ("date", lambda v: datetime.date.fromisoformat(v) is not None),
        ("startDate", lambda v: datetime.date.fromisoformat(v) is not None),
        ("location", lambda v: ", " in v),
        ("unit", lambda v: v in ("celsius", "fahrenheit")),
        ("user_id", lambda v: len(v) == 36 and v.count("-") == 4),
        ("query", lambda v: 1 <= len(v.split()) <= 4),
    ],
)
def test_property_names_pick_realistic_strings(name: str, check: Any) -> None:
    schema = {"type": "object", "properties": {name: {"type": "string"}}, "required": [name]}
    for seed in range(5):
        assert check(generate(schema, seed)[name]), name


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("latitude", -90, 90), ("lng", -180, 180), ("age", 18, 90), ("limit", 1, 10)],
)
def test_property_names_pick_plausible_numbers(name: str, low: float, high: float) -> None:
    schema = {"type": "object", "properties": {name: {"type": "number"}}, "required": [name]}
    for seed in range(10):
        assert low <= generate(schema, seed)[name] <= high


def test_date_time_is_rfc3339() -> None:
    for seed in range(10):
        value = generate({"type": "string", "format": "date-time"}, seed)
        assert value.endswith("Z") and "T" in value
        assert datetime.datetime.fromisoformat(value).tzinfo is not None
