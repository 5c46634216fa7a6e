"""Seeded values that validate against a JSON Schema: tool arguments and structured output.

When a scenario asks for a tool call without scripting its arguments, or for a reply
under ``response_format: json_schema``, mockllm makes up a value that the request's
own schema accepts. :func:`generate_instance` walks the schema and draws every choice
from the ``rng`` and ``faker`` it is given, so a seed reproduces the same value.

What it honours:

- ``type`` (a name or a list of names), ``enum``, ``const``, the empty schema and the
  boolean schemas ``true``/``false``;
- objects: ``properties``, ``required`` (always all present), a seeded subset of the
  optional properties, ``additionalProperties`` (false, or a schema for map-like
  objects), ``patternProperties`` (merged into matching properties), ``propertyNames``,
  ``minProperties``/``maxProperties``, ``dependentRequired``;
- arrays: ``items``, ``prefixItems`` (and the older list form of ``items`` with
  ``additionalItems``), ``minItems``/``maxItems``, ``uniqueItems``, ``contains``;
- strings: ``minLength``/``maxLength``, ``pattern`` (a common subset of regular
  expressions, checked with :mod:`re` before use), ``format`` (date, date-time, time,
  email, uri/url, uuid, hostname, ipv4, ipv6, duration);
- numbers and integers: ``minimum``/``maximum``, ``exclusiveMinimum``/
  ``exclusiveMaximum`` (numbers, or draft-4 booleans), ``multipleOf``;
- ``anyOf``/``oneOf`` (one branch, seeded), ``allOf`` (merged), and local ``$ref``
  (``#``, ``#/$defs/...``, ``#/definitions/...``, any JSON pointer) with its sibling
  keywords merged in.

Property names pick realistic values where that is cheap to decide: ``city``,
``location``, ``name``, ``email``, ``date``, ``query``, ``unit``... come from Faker;
numbers named ``latitude``, ``age``, ``limit``... fall in a plausible range.

Recursive schemas are cut short: past a few levels optional properties are left out,
arrays take their minimum length and ``anyOf`` prefers branches without ``$ref``.

Best effort, never an exception: ``not``, ``if``/``then``/``else``,
``dependentSchemas``, ``unevaluated*``, remote ``$ref`` and ``$anchor`` are ignored;
``oneOf`` does not check that only one branch matches; a pattern outside the
supported subset (lookaround, backreferences, ``\\b``, ``\\p{..}``) falls back to a
string of an acceptable length; contradictory constraints (an unsatisfiable
``allOf``, a recursion that ``required`` forces forever) give a value that may not
validate (``None`` at the recursion limit).
"""

from __future__ import annotations

import copy
import math
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import UnsupportedPattern

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["generate_instance"]

_SOFT_DEPTH = 4  # from this nesting on, only what the schema requires is generated
_HARD_DEPTH = 24  # a recursion that requires itself this deep gives up (None)
_MAX_EXPANSIONS = 32  # $ref/allOf/anyOf rewrites of one schema: guards $ref cycles
_DEFAULT_MAX_ITEMS = 3
_TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")


def generate_instance(schema: Mapping[str, Any] | bool, rng: random.Random, faker: Faker) -> Any:
    """A value valid against ``schema``, drawn from ``rng`` and ``faker``.

    ``schema`` is the root of its own ``$ref``s (a tool's ``parameters``, a
    ``json_schema.schema``). The same schema and the same states of ``rng`` and
    ``faker`` (``faker.seed_instance``) give the same value. Unsupported keywords
    are ignored (see the module documentation), never raised.
    """
    return _Generator(schema, rng, faker).value(schema, "", 0)


class _Generator:
    """One walk over a schema: the root for ``$ref`` and the sources of randomness."""

    __slots__ = ("faker", "rng", "root")

    def __init__(self, root: Mapping[str, Any] | bool, rng: random.Random, faker: Faker) -> None:
        self.root = root
        self.rng = rng
        self.faker = faker

    def value(self, schema: Any, name: str, depth: int) -> Any:
        """A value for ``schema``, found under the property ``name`` at ``depth``."""
        if depth > _HARD_DEPTH or schema is False:
            return None
        flat = self.flatten(schema, depth)
        if "const" in flat:
            return copy.deepcopy(flat["const"])
        if "enum" in flat and isinstance(flat["enum"], list) and flat["enum"]:
            return copy.deepcopy(self.rng.choice(_typed_enum(flat)))
        kind = self.pick_type(flat, depth)
        if kind == "object":
            return self.object(flat, depth)
        if kind == "array":
            return self.array(flat, depth)
        if kind == "string":
            return self.string(flat, name)
        if kind in ("number", "integer"):
            return self.number(flat, name, integer=kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    # --- composition ----------------------------------------------------------------

    def flatten(self, schema: Any, depth: int) -> dict[str, Any]:
        """``schema`` with its top-level ``$ref``, ``allOf``, ``anyOf`` and ``oneOf``
        resolved into one plain schema (sibling keywords merged in)."""
        if not isinstance(schema, Mapping):
            return {}
        flat = dict(schema)
        for _ in range(_MAX_EXPANSIONS):
            if "$ref" in flat:
                target = self.lookup(flat.pop("$ref"))
                flat = _merge(target if isinstance(target, Mapping) else {}, flat)
            elif "allOf" in flat:
                parts = flat.pop("allOf")
                for part in parts if isinstance(parts, list) else []:
                    flat = _merge(flat, self.flatten(part, depth))
            elif "anyOf" in flat or "oneOf" in flat:
                key = "anyOf" if "anyOf" in flat else "oneOf"
                branches = flat.pop(key)
                if isinstance(branches, list) and branches:
                    flat = _merge(flat, self.branch(branches, depth))
            else:
                return flat
        return flat

    def branch(self, branches: Sequence[Any], depth: int) -> dict[str, Any]:
        """One of ``branches``; deep down, one without ``$ref`` so recursion ends."""
        choices = list(branches)
        if depth >= _SOFT_DEPTH:
            # Ending the recursion: a branch with no $ref, preferably a scalar one.
            shallow = [b for b in choices if not _has_ref(b)]
            scalar = [b for b in shallow if _scalar(b)]
            choices = scalar or shallow or choices
        chosen = self.rng.choice(choices)
        return dict(chosen) if isinstance(chosen, Mapping) else {}

    def lookup(self, ref: Any) -> Any:
        """The target of a local ``$ref`` (a JSON pointer after ``#``); ``{}`` otherwise."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        node: Any = self.root
        pointer = ref[1:]
        if not pointer:
            return node
        if not pointer.startswith("/"):
            return {}  # a named $anchor: not supported
        for raw in pointer[1:].split("/"):
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def pick_type(self, flat: Mapping[str, Any], depth: int) -> str:
        """The JSON type to generate: the one named, one of a list, or inferred."""
        declared = flat.get("type")
        if isinstance(declared, str):
            return str(declared)
        if isinstance(declared, list):
            names: list[str] = [t for t in declared if t in _TYPES] or ["null"]
            concrete = [t for t in names if t != "null"]
            if not concrete:
                return "null"
            if "null" in names and (depth >= _SOFT_DEPTH or self.rng.random() < 0.15):
                return "null"
            return self.rng.choice(concrete)
        for kind, keys in _TYPE_HINTS:
            if any(key in flat for key in keys):
                return kind
        # The empty schema: any value; a short string reads most naturally.
        return self.rng.choice(("string", "string", "integer", "boolean"))

    # --- objects and arrays ---------------------------------------------------------

    def object(self, flat: Mapping[str, Any], depth: int) -> dict[str, Any]:
        """Every required property, a seeded share of the optional ones, extras if needed."""
        properties = flat.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        listed = flat.get("required")
        required = [k for k in listed if isinstance(k, str)] if isinstance(listed, list) else []
        extra = flat.get("additionalProperties", True)
        dependent = flat.get("dependentRequired")
        dependent = dependent if isinstance(dependent, Mapping) else {}
        max_props = flat.get("maxProperties")
        budget = max_props if isinstance(max_props, int) else math.inf

        chosen = list(required)
        for key in properties:
            if key not in chosen and depth < _SOFT_DEPTH and self.rng.random() < 0.6:
                if len(chosen) < budget:
                    chosen.append(key)
        for key in list(chosen):
            deps = dependent.get(key)
            for dep in deps if isinstance(deps, list) else ():
                if isinstance(dep, str) and dep not in chosen:
                    chosen.append(dep)
        min_props = flat.get("minProperties")
        want = min_props if isinstance(min_props, int) else 0
        for key in properties:
            if len(chosen) >= want:
                break
            if key not in chosen:
                chosen.append(key)
        order = [k for k in properties if k in chosen] + [k for k in chosen if k not in properties]

        out: dict[str, Any] = {}
        for key in order:
            out[key] = self.value(self.property_schema(flat, key), key, depth + 1)
        if extra is not False and not properties and isinstance(extra, Mapping) and not out:
            # A map (additionalProperties only): a few entries reads like real data.
            want = max(want, self.rng.randint(1, 2) if depth < _SOFT_DEPTH else 0)
        attempts = 0
        while len(out) < want and extra is not False and attempts < 4 * want + 4:
            attempts += 1
            key = self.property_name(flat, depth)
            if key not in out:
                out[key] = self.value(self.property_schema(flat, key), key, depth + 1)
        return out

    def property_schema(self, flat: Mapping[str, Any], key: str) -> Any:
        """The schema a property's value must meet: its own, or additionalProperties,
        merged with every patternProperties entry whose pattern it matches."""
        properties = flat.get("properties")
        if isinstance(properties, Mapping) and key in properties:
            schema = properties[key]
        else:
            extra = flat.get("additionalProperties", True)
            schema = extra if isinstance(extra, Mapping) else {}
        patterns = flat.get("patternProperties")
        if isinstance(patterns, Mapping):
            for pattern, sub in patterns.items():
                if isinstance(sub, Mapping) and _searches(pattern, key):
                    schema = {"allOf": [schema, sub]}
        return schema

    def property_name(self, flat: Mapping[str, Any], depth: int) -> str:
        """A name for an extra property: from ``propertyNames`` if given, else a word."""
        names = flat.get("propertyNames")
        if isinstance(names, Mapping):
            name = self.value({"type": "string", "allOf": [names]}, "", depth + 1)
            if isinstance(name, str):
                return name
        return str(self.faker.word())

    def array(self, flat: Mapping[str, Any], depth: int) -> list[Any]:
        """Items for ``prefixItems`` then ``items``, within the length bounds, unique if asked."""
        prefix, rest = _item_schemas(flat)
        low = _int(flat.get("minItems"), 0)
        high = _int(flat.get("maxItems"), None)
        if rest is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        top = max(low, _DEFAULT_MAX_ITEMS if high is None else min(high, _DEFAULT_MAX_ITEMS))
        if depth >= _SOFT_DEPTH:
            count = low  # deep down: as short as allowed, so recursion through items ends
        else:
            bottom = max(low, min(1, top))
            count = self.rng.randint(bottom, max(bottom, top))
        unique = flat.get("uniqueItems") is True

        rest_flat = self.flatten(rest, depth + 1) if isinstance(rest, Mapping) else {}
        if unique and not prefix and isinstance(rest_flat.get("enum"), list):
            # Distinct picks from an enum: sample instead of retrying collisions.
            pool = list({_canonical(v): v for v in _typed_enum(rest_flat)}.values())
            return copy.deepcopy(self.rng.sample(pool, min(count, len(pool))))

        items: list[Any] = []
        seen: list[Any] = []
        for index in range(count):
            schema = prefix[index] if index < len(prefix) else rest
            for _ in range(8):
                item = self.value(schema, "", depth + 1)
                key = _canonical(item)
                if not unique or key not in seen:
                    break
            else:
                break  # no new distinct value: stop short rather than repeat one
            items.append(item)
            seen.append(key)
        contains = flat.get("contains")
        if isinstance(contains, Mapping):
            # One item that meets ``contains`` (and ``items``) guarantees the match.
            schema = {"allOf": [contains, rest]} if isinstance(rest, Mapping) else contains
            witness = self.value(schema, "", depth + 1)
            if items and high is not None and len(items) >= high:
                items[-1] = witness
            else:
                items.append(witness)
        return items

    # --- scalars --------------------------------------------------------------------

    def string(self, flat: Mapping[str, Any], name: str) -> str:
        """A string meeting format, pattern and length, realistic for ``name``."""
        low = _int(flat.get("minLength"), 0)
        high = _int(flat.get("maxLength"), None)
        fmt = flat.get("format")
        pattern = flat.get("pattern")
        if isinstance(pattern, str):
            text = self.from_pattern(pattern, low, high)
            if text is not None:
                return text
        maker = _FORMATS.get(fmt) if isinstance(fmt, str) else None
        if maker is not None:
            text = maker(self.faker, self.rng)
        else:
            text = self.by_name(name)
        return self.fit_length(text, low, high)

    def by_name(self, name: str) -> str:
        """A value that suits a property called ``name``, or a few words."""
        tokens = _tokens(name)
        for words, maker in _STRING_HINTS:
            if not tokens.isdisjoint(words):
                try:
                    return maker(self.faker, self.rng)
                except AttributeError:  # a provider this Faker locale lacks
                    break
        return " ".join(self.faker.words(self.rng.randint(1, 3)))

    def fit_length(self, text: str, low: int, high: int | None) -> str:
        """``text`` padded with words up to ``low`` and cut down to ``high`` characters."""
        while len(text) < low:
            text = f"{text} {self.faker.word()}" if text else str(self.faker.word())
        if high is not None and len(text) > high:
            text = text[:high]
            if len(text.rstrip()) >= low:
                text = text.rstrip()
        return text

    def from_pattern(self, pattern: str, low: int, high: int | None) -> str | None:
        """A string the regular expression matches within the length bounds, or None
        when the pattern is outside the supported subset or no try fits."""
        try:
            node = _RegexParser(pattern).parse()
            # Python spells named groups (?P<name>...); ECMA-262 and JSON Schema (?<name>...).
            compiled = re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern))
        except (UnsupportedPattern, re.error):
            return None
        for _ in range(6):
            text = _render(node, self.rng)
            fits = len(text) >= low and (high is None or len(text) <= high)
            if fits and compiled.search(text):
                return text
        return None

    def number(self, flat: Mapping[str, Any], name: str, *, integer: bool) -> int | float:
        """A number within the bounds, a multiple of ``multipleOf``, plausible for ``name``."""
        low, low_open = _bound(flat, "minimum", "exclusiveMinimum", max)
        high, high_open = _bound(flat, "maximum", "exclusiveMaximum", min)
        if low is None or high is None:
            low, high = _span(low, high, _number_hint(name))
        given: Any = flat.get("multipleOf")
        step: float | None = given if _is_number(given) and given > 0 else None
        if integer or (step is not None and float(step).is_integer()):
            return self.integer(low, low_open, high, high_open, step)
        for _ in range(8):
            if step is not None:
                first = math.ceil(low / step)
                last = math.floor(high / step)
                value: float = round(
                    self.rng.randint(first, max(first, last)) * step, _decimals(step)
                )
                if (value / step) != int(value / step):
                    continue  # float error: validators would reject this multiple
            else:
                value = round(self.rng.uniform(low, high), 2)
            if _inside(value, low, low_open, high, high_open):
                return value
        return low + (high - low) / 2 if high > low else low

    def integer(
        self, low: float, low_open: bool, high: float, high_open: bool, step: float | None
    ) -> int:
        """An integer within the bounds and a multiple of ``step`` when given."""
        first = math.floor(low) + 1 if low_open and float(low).is_integer() else math.ceil(low)
        last = math.ceil(high) - 1 if high_open and float(high).is_integer() else math.floor(high)
        if step is None:
            return self.rng.randint(first, max(first, last))
        stride = int(step) if float(step).is_integer() else 1
        if not float(step).is_integer():
            # An integer multiple of a fractional step: any integer that divides evenly.
            for _ in range(8):
                value = self.rng.randint(first, max(first, last))
                if (value / step) == int(value / step):
                    return value
            return first
        k_first = -(-first // stride)
        k_last = last // stride
        return stride * self.rng.randint(k_first, max(k_first, k_last))


# --- schema helpers -----------------------------------------------------------------

_TYPE_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("object", ("properties", "required", "additionalProperties", "patternProperties")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")),
    ("string", ("minLength", "maxLength", "pattern", "format")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Both schemas' constraints in one schema, as ``allOf: [a, b]`` means.

    Bounds take the tighter value, ``required`` the union, ``type`` and ``enum`` the
    intersection, ``properties`` merge key by key; other keywords: ``b`` wins.
    """
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if key == "properties" and isinstance(mine, Mapping) and isinstance(value, Mapping):
            props = dict(mine)
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "required" and isinstance(mine, list) and isinstance(value, list):
            out[key] = mine + [k for k in value if k not in mine]
        elif key == "type":
            left = mine if isinstance(mine, list) else [mine]
            right = value if isinstance(value, list) else [value]
            both = [t for t in left if t in right or (t == "integer" and "number" in right)]
            both += [t for t in right if t == "integer" and "number" in left and t not in both]
            out[key] = both or right
        elif key == "enum" and isinstance(mine, list) and isinstance(value, list):
            out[key] = [v for v in mine if v in value] or value
        elif key in _LOWER_BOUNDS and _is_number(mine) and _is_number(value):
            out[key] = max(mine, value)
        elif key in _UPPER_BOUNDS and _is_number(mine) and _is_number(value):
            out[key] = min(mine, value)
        elif key == "additionalProperties" and (mine is False or value is False):
            out[key] = False
        elif key in ("items", "contains") and isinstance(mine, Mapping):
            out[key] = {"allOf": [mine, value]}
        else:
            out[key] = value
    if a.get("additionalProperties") is False or b.get("additionalProperties") is False:
        # Under ``additionalProperties: false`` only that schema's own names may appear.
        allowed = [
            set(s.get("properties") or {}) for s in (a, b) if s.get("additionalProperties") is False
        ]
        named = out.get("properties")
        if isinstance(named, Mapping):
            out["properties"] = {k: v for k, v in named.items() if all(k in s for s in allowed)}
    return out


def _typed_enum(flat: Mapping[str, Any]) -> list[Any]:
    """The enum values that also have the declared type (all of them if none does)."""
    values = list(flat["enum"])
    declared = flat.get("type")
    if declared is None:
        return values
    names = declared if isinstance(declared, list) else [declared]
    typed = [v for v in values if any(_is_type(v, t) for t in names)]
    return typed or values


def _is_type(value: Any, name: Any) -> bool:
    """Whether ``value`` is of the JSON type ``name``."""
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return _is_number(value) and float(value).is_integer()
    if name == "number":
        return _is_number(value)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, Mapping)
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_ref(schema: Any) -> bool:
    """Whether a ``$ref`` appears anywhere inside ``schema``."""
    if isinstance(schema, Mapping):
        return "$ref" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False


def _scalar(schema: Any) -> bool:
    """Whether ``schema`` names only scalar types (so generating it ends recursion)."""
    if not isinstance(schema, Mapping):
        return False
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    return all(t in ("null", "boolean", "number", "integer", "string") for t in names)


def _item_schemas(flat: Mapping[str, Any]) -> tuple[list[Any], Any]:
    """The positional item schemas and the schema for the items after them.

    Draft 2020-12 spells these ``prefixItems`` and ``items``; drafts 4-7 use a list
    in ``items`` and ``additionalItems``.
    """
    items = flat.get("items", {})
    if isinstance(flat.get("prefixItems"), list):
        return list(flat["prefixItems"]), items
    if isinstance(items, list):
        return list(items), flat.get("additionalItems", {})
    return [], items


def _bound(
    flat: Mapping[str, Any], inclusive: str, exclusive: str, tighter: Callable[..., float]
) -> tuple[float | None, bool]:
    """A bound and whether it is open, from the draft-6+ or the draft-4 spelling."""
    closed = flat.get(inclusive)
    closed = closed if _is_number(closed) else None
    opened = flat.get(exclusive)
    if opened is True and closed is not None:  # draft 4: a flag on the inclusive bound
        return closed, True
    if _is_number(opened):
        if closed is None or tighter(closed, opened) == opened:
            return opened, True
    return closed, False


def _span(low: float | None, high: float | None, hint: tuple[float, float]) -> tuple[float, float]:
    """The range to draw from: the schema's bounds, the name's plausible range where a
    bound is missing, and 100 past the one bound the hint does not fit."""
    if low is None and high is None:
        return hint
    if low is None:
        assert high is not None
        return (hint[0] if hint[0] < high else high - 100), high
    if high is None:
        return low, (hint[1] if hint[1] > low else low + 100)
    return low, high


def _inside(value: float, low: float, low_open: bool, high: float, high_open: bool) -> bool:
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below


def _decimals(step: float) -> int:
    """Decimal places of ``step``, to round its multiples back onto the grid."""
    text = repr(float(step))
    if "e" in text:
        return max(0, -int(text.split("e")[1]) + 1)
    return len(text.split(".")[1]) if "." in text else 0


def _int(value: Any, default: Any) -> Any:
    """``value`` if it is a usable count (a non-negative integer), else ``default``."""
    if _is_number(value) and float(value).is_integer() and value >= 0:
        return int(value)
    return default


def _canonical(value: Any) -> Any:
    """A hashable form in which values JSON Schema calls equal are equal (1 == 1.0,
    but true != 1), for ``uniqueItems``."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("a", tuple(_canonical(v) for v in value))
    if isinstance(value, Mapping):
        return ("o", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    return ("?", repr(value))


def _searches(pattern: str, text: str) -> bool:
    """Whether the regular expression ``pattern`` is found in ``text`` (False if invalid)."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _tokens(name: str) -> frozenset[str]:
    """A property name as lower-case words: ``cityName`` and ``city_name`` -> city, name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return frozenset(re.split(r"[^A-Za-z0-9]+", spaced.lower())) - {""}


# --- realistic values ---------------------------------------------------------------

_Maker = Callable[["Faker", random.Random], str]


def _location(faker: Faker, rng: random.Random) -> str:
    return f"{faker.city()}, {faker.country()}"


def _words(count: int) -> _Maker:
    return lambda faker, rng: " ".join(faker.words(rng.randint(1, count)))


_STRING_HINTS: tuple[tuple[tuple[str, ...], _Maker], ...] = (
    # Before the names: user_id is an id, not a user's name.
    (("id", "uuid", "guid"), lambda f, r: str(uuid.UUID(int=r.getrandbits(128), version=4))),
    (("email", "mail"), lambda f, r: str(f.email())),
    (("url", "uri", "link", "website", "href", "homepage"), lambda f, r: str(f.url())),
    (("username", "login", "handle"), lambda f, r: str(f.user_name())),
    (("city", "town"), lambda f, r: str(f.city())),
    (("location", "place", "destination", "origin"), _location),
    (("country",), lambda f, r: str(f.country())),
    (("address", "street"), lambda f, r: str(f.street_address())),
    (("zip", "zipcode", "postcode", "postal"), lambda f, r: str(f.postcode())),
    (("phone", "mobile", "tel"), lambda f, r: str(f.phone_number())),
    (("company", "organization", "organisation", "employer"), lambda f, r: str(f.company())),
    (("first", "firstname", "given"), lambda f, r: str(f.first_name())),
    (("last", "lastname", "surname", "family"), lambda f, r: str(f.last_name())),
    (("name", "author", "person", "user", "customer"), lambda f, r: str(f.name())),
    (("date", "day", "birthday"), lambda f, r: str(f.date())),
    (("time",), lambda f, r: str(f.time())),
    (("timezone", "tz"), lambda f, r: str(f.timezone())),
    (("currency",), lambda f, r: str(f.currency_code())),
    (("language", "lang", "locale"), lambda f, r: str(f.language_name())),
    (("color", "colour"), lambda f, r: str(f.color_name())),
    (("unit", "units"), lambda f, r: r.choice(("celsius", "fahrenheit"))),
    (("job", "occupation", "role"), lambda f, r: str(f.job())),
    (("title", "subject", "headline"), lambda f, r: str(f.catch_phrase())),
    (("query", "search", "q", "keywords", "prompt", "question", "topic"), _words(4)),
    (
        ("description", "summary", "text", "content", "message", "body", "comment", "note"),
        lambda f, r: str(f.sentence()),
    ),  # fmt: skip
    (("tag", "category", "keyword", "word", "label", "type", "status"), _words(1)),
)

_NUMBER_HINTS: tuple[tuple[tuple[str, ...], tuple[float, float]], ...] = (
    (("latitude", "lat"), (-90, 90)),
    (("longitude", "lon", "lng"), (-180, 180)),
    (("age",), (18, 90)),
    (("year",), (1990, 2030)),
    (("month",), (1, 12)),
    (("hour",), (0, 23)),
    (("temperature", "temp"), (-10, 40)),
    (("rating", "stars", "score"), (1, 5)),
    (("percent", "percentage", "probability"), (0, 100)),
    (("price", "amount", "cost", "total", "budget", "salary"), (1, 500)),
    (
        ("limit", "count", "num", "number", "max", "top", "k", "n", "size", "quantity", "page"),
        (1, 10),
    ),  # fmt: skip
)


def _number_hint(name: str) -> tuple[float, float]:
    """A plausible range for a number called ``name`` (0-100 if nothing fits)."""
    tokens = _tokens(name)
    for words, span in _NUMBER_HINTS:
        if not tokens.isdisjoint(words):
            return span
    return (0, 100)


_FORMATS: Mapping[str, _Maker] = MappingProxyType(
    {
        "date": lambda f, r: str(f.date()),
        "date-time": lambda f, r: f.date_time(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "time": lambda f, r: f"{f.time()}Z",
        "email": lambda f, r: str(f.email()),
        "idn-email": lambda f, r: str(f.email()),
        "uri": lambda f, r: str(f.url()),
        "url": lambda f, r: str(f.url()),
        "iri": lambda f, r: str(f.url()),
        "uri-reference": lambda f, r: str(f.url()),
        "uuid": lambda f, r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "hostname": lambda f, r: str(f.domain_name()),
        "idn-hostname": lambda f, r: str(f.domain_name()),
        "ipv4": lambda f, r: str(f.ipv4()),
        "ipv6": lambda f, r: str(f.ipv6()),
        "duration": lambda f, r: f"PT{r.randint(1, 59)}M",
    }
)


# --- regular expressions -------------------------------------------------------------

_PRINTABLE = tuple(chr(c) for c in range(0x20, 0x7F))
_DIGITS = tuple(string.digits)
_WORD = tuple(string.ascii_letters + string.digits + "_")
_SPACE = (" ", "\t")
_CLASSES = MappingProxyType({"d": _DIGITS, "w": _WORD, "s": _SPACE})
_CONTROL = MappingProxyType({"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"})
_UNBOUNDED_EXTRA = 4  # how far past its minimum a ``*``, ``+`` or ``{n,}`` repeats


# A parsed pattern: ("chars", options), ("seq", nodes), ("alt", nodes), ("rep", node, lo, hi).
_Node = tuple[Any, ...]


class _RegexParser:
    """A recursive-descent parser for the common subset of ECMA-262 patterns: literals,
    ``.``, classes ``[...]`` with ranges and negation, ``\\d\\w\\s`` (and negations),
    groups (capturing, ``(?:``, named), ``|``, ``? * + {n} {n,} {n,m}`` (lazy too)
    and the anchors ``^ $`` (which generation can ignore)."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def parse(self) -> _Node:
        node = self.alternation()
        if self.pos != len(self.text):
            raise UnsupportedPattern(self.text)
        return node

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        if self.pos >= len(self.text):
            raise UnsupportedPattern("unexpected end")
        char = self.text[self.pos]
        self.pos += 1
        return char

    def alternation(self) -> _Node:
        options = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else ("alt", options)

    def sequence(self) -> _Node:
        nodes: list[_Node] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            if atom is not None:
                nodes.append(self.quantified(atom))
        return ("seq", nodes)

    def atom(self) -> _Node | None:
        char = self.take()
        if char in "^$":
            return None
        if char == ".":
            return ("chars", _PRINTABLE)
        if char == "(":
            if self.text.startswith("?:", self.pos):
                self.pos += 2
            elif (
                self.text.startswith("?<", self.pos)
                and self.text[self.pos + 2 : self.pos + 3] not in "=!"
            ):
                self.pos = self.text.index(">", self.pos) + 1
            elif self.text.startswith("?P<", self.pos):
                self.pos = self.text.index(">", self.pos) + 1
            elif self.peek() == "?":
                raise UnsupportedPattern("lookaround or inline flags")
            inner = self.alternation()
            if self.take() != ")":
                raise UnsupportedPattern("unclosed group")
            return inner
        if char == "[":
            return ("chars", self.char_class())
        if char == "\\":
            return ("chars", self.escape(in_class=False))
        if char in "*+?":
            raise UnsupportedPattern("nothing to repeat")
        return ("chars", (char,))

    def quantified(self, atom: _Node) -> _Node:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (match := re.match(r"\{(\d+)(,(\d*))?\}", self.text[self.pos :])):
            self.pos += match.end()
            low = int(match.group(1))
            high = (
                low if match.group(2) is None else int(match.group(3)) if match.group(3) else None
            )
        else:
            return atom
        if self.peek() == "?":  # lazy: the same strings match
            self.pos += 1
        return ("rep", atom, low, high)

    def char_class(self) -> tuple[str, ...]:
        negate = self.peek() == "^"
        if negate:
            self.pos += 1
        chars: list[str] = []
        first = True
        while True:
            char = self.take()
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                chars.extend(self.escape(in_class=True))
                continue
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                end = self.take()
                if end == "\\":
                    escaped = self.escape(in_class=True)
                    if len(escaped) != 1:
                        raise UnsupportedPattern("class range to a class")
                    end = escaped[0]
                if ord(end) < ord(char):
                    raise UnsupportedPattern("reversed range")
                chars.extend(chr(c) for c in range(ord(char), ord(end) + 1))
                continue
            chars.append(char)
        if negate:
            excluded = set(chars)
            return tuple(c for c in _PRINTABLE if c not in excluded)
        return tuple(dict.fromkeys(chars))

    def escape(self, *, in_class: bool) -> tuple[str, ...]:
        char = self.take()
        if char.lower() in _CLASSES:
            members = _CLASSES[char.lower()]
            if char.isupper():
                return tuple(c for c in _PRINTABLE if c not in members)
            return members
        if char in _CONTROL:
            return (_CONTROL[char],)
        if char == "u" and re.match(r"[0-9A-Fa-f]{4}", self.text[self.pos : self.pos + 4]):
            self.pos += 4
            return (chr(int(self.text[self.pos - 4 : self.pos], 16)),)
        if char == "x" and re.match(r"[0-9A-Fa-f]{2}", self.text[self.pos : self.pos + 2]):
            self.pos += 2
            return (chr(int(self.text[self.pos - 2 : self.pos], 16)),)
        if char.isalnum():
            raise UnsupportedPattern(f"\\{char}")  # \b, \p{..}, backreferences...
        return (char,)


def _render(node: _Node, rng: random.Random) -> str:
    """One string the parsed pattern matches."""
    kind = node[0]
    if kind == "chars":
        options = node[1]
        return rng.choice(options) if options else ""
    if kind == "seq":
        return "".join(_render(child, rng) for child in node[1])
    if kind == "alt":
        return _render(rng.choice(node[1]), rng)
    _, child, low, high = node
    count = rng.randint(low, low + _UNBOUNDED_EXTRA if high is None else max(low, high))
    return "".join(_render(child, rng) for _ in range(count))
