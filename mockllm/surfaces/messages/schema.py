"""Messages bodies against the schemas generated from Anthropic's OpenAPI document.

A body is first run through jsonschema-rs's validator (microseconds);
only a body it refuses is walked by ``jsonschema`` for every problem at once, each
named by its dotted location and worded as the API words it (``max_tokens: Field
required``, ``messages.0.content.0.text: Field required``, ``temperature: Input should
be less than or equal to 1``).

Unions are read the way the API reads them: a union with a ``discriminator`` reports
only the problems of the member its tag names (a ``text`` block missing ``text`` is one
problem, not sixteen); a union without one reports the problems of the member whose
JSON kind fits (a list of blocks, not a string).

What the pinned document predates passes: unknown fields at the top level and on a
message (the anthropic SDK 2.x and Claude Code send fields newer than the document, such
as ``prefill``, ``speed`` or a system message's ``output_config``) and content blocks
of an unknown ``type`` (the API keeps adding them). Known fields are checked in full.
``--validation lenient`` also lets unknown fields inside objects pass; ``off`` checks
nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ...config import ValidationMode
from ...errors import FieldError
from ...naming import SUFFIX
from ...resources import data_dir
from ...schemaset import FastValidator, fast_validator

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["MessagesSchemas", "SchemaCheck", "location"]

_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "string": "a valid string",
        "integer": "a valid integer",
        "number": "a valid number",
        "boolean": "a valid boolean",
        "object": "a valid dictionary",
        "array": "a valid list",
        "null": "None",
    }
)


# Objects whose unknown fields pass besides the root: a message (Claude Code puts
# per-turn settings such as ``output_config`` on its mid-conversation system messages).
_OPEN = ("InputMessage", "BetaInputMessage")


def location(path: Iterable[str | int]) -> str:
    """A dotted location as the API writes it: ``messages.0.content``."""
    return ".".join(str(part) for part in path)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _quoted(values: Sequence[Any]) -> str:
    shown = [repr(v) if isinstance(v, str) else json.dumps(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _lenient(node: Any) -> Any:
    """``node`` with every ``additionalProperties: false`` taken out."""
    if isinstance(node, dict):
        return {
            k: _lenient(v)
            for k, v in node.items()
            if not (k == "additionalProperties" and v is False)
        }
    if isinstance(node, list):
        return [_lenient(item) for item in node]
    return node


def _open_root(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """``bundle`` whose root object and messages take unknown fields (module docstring)."""
    root = str(bundle["$ref"]).rsplit("/", 1)[-1]
    definitions = dict(bundle["definitions"])
    for name in (root, *_OPEN):
        if name in definitions:
            definitions[name] = {
                k: v for k, v in definitions[name].items() if k != "additionalProperties"
            }
    return {**bundle, "definitions": definitions}


class SchemaCheck:
    """One root's check: the fast validator first, the detailed report on a refusal."""

    __slots__ = ("_detailed", "_fast", "_lock", "bundle")

    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.bundle = bundle
        self._fast: FastValidator | None = None
        self._detailed: Validator | None = None
        self._lock = threading.Lock()

    def problems(self, body: Any) -> list[FieldError]:
        """Every problem of ``body`` (empty when it is valid)."""
        if self._fast is None:
            with self._lock:
                if self._fast is None:
                    self._fast = fast_validator(self.bundle)
        if self._fast.is_valid(body):
            return []
        if self._detailed is None:
            from jsonschema import Draft7Validator

            self._detailed = Draft7Validator(self.bundle)
        found: dict[tuple[str, str], FieldError] = {}
        for error in self._detailed.iter_errors(body):
            for where, rule, message in _explain(error):
                found.setdefault(
                    (where, message),
                    FieldError(
                        field_name=where, param=where, error_code=rule, code=rule, message=message
                    ),
                )
        return list(found.values())


def _explain(error: ValidationError) -> Iterator[tuple[str, str, str]]:
    """``(location, rule, message)`` for each problem ``error`` stands for."""
    path = list(error.absolute_path)
    rule = str(error.validator)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.instance
    if rule in ("anyOf", "oneOf"):
        yield from _union(error, schema, rule, path)
    elif rule == "required":
        for name in schema.get("required", ()):
            if isinstance(value, Mapping) and name not in value:
                yield location([*path, name]), rule, "Field required"
    elif rule == "additionalProperties":
        known = schema.get("properties", {})
        for name in value if isinstance(value, Mapping) else ():
            if name not in known:
                yield location([*path, name]), rule, "Extra inputs are not permitted"
    else:
        yield location(path), rule, _message(rule, error.validator_value, value, error.message)


def _union(
    error: ValidationError, schema: Mapping[str, Any], rule: str, path: list[str | int]
) -> Iterator[tuple[str, str, str]]:
    branches: Sequence[Mapping[str, Any]] = schema.get(rule, ())
    value = error.instance
    discriminator = schema.get("discriminator")
    if (
        isinstance(discriminator, Mapping)
        and isinstance(value, Mapping)
        and discriminator.get("mapping")
    ):
        tag_name = str(discriminator.get("propertyName"))
        tag = value.get(tag_name)
        if tag is None:
            yield location([*path, tag_name]), "required", "Field required"
            return
        target = discriminator["mapping"].get(tag)
        if target is None:
            return  # a block type newer than the document: let it pass
        picked = [i for i, branch in enumerate(branches) if branch.get("$ref") == target]
    else:
        kind = _kind(value)
        picked = _closest(error, branches, kind)
    if len(picked) != 1:
        kinds = sorted({_KINDS.get(k, k) for b in branches for k in _kinds_of(b)})
        yield (
            location(path),
            rule,
            f"Input should be {' or '.join(kinds) if kinds else 'one of the allowed forms'}",
        )
        return
    for sub in error.context or ():
        if sub.relative_schema_path and sub.relative_schema_path[0] == picked[0]:
            yield from _explain(sub)


def _closest(error: ValidationError, branches: Sequence[Mapping[str, Any]], kind: str) -> list[int]:
    """The member of an untagged union that ``error``'s value was meant to be: of its
    JSON kind, not refused by a ``type`` tag, with the fewest problems."""
    fitting = [i for i, branch in enumerate(branches) if _fits(branch, kind)]
    if len(fitting) < 2:
        return fitting
    problems: dict[int, int] = dict.fromkeys(fitting, 0)
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if index not in problems:
            continue
        if list(sub.relative_path) == ["type"] and sub.validator in ("const", "enum"):
            problems[index] = 1 << 30  # another member's tag
        problems[index] += 1
    best = min(problems.values())
    return [i for i, count in problems.items() if count == best][:1]


def _kinds_of(branch: Mapping[str, Any]) -> list[str]:
    declared = branch.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [str(k) for k in declared]
    if "$ref" in branch or "oneOf" in branch or "properties" in branch:
        return ["object"]
    return []


def _fits(branch: Mapping[str, Any], kind: str) -> bool:
    kinds = _kinds_of(branch)
    return (
        kind in kinds
        or (kind == "integer" and "number" in kinds)
        or (not kinds and "const" in branch)
    )


def _message(rule: str, limit: Any, value: Any, fallback: str) -> str:
    """The API's words for one broken rule."""
    if rule == "type":
        kinds = [limit] if isinstance(limit, str) else list(limit)
        return "Input should be " + " or ".join(_KINDS.get(k, k) for k in kinds)
    if rule == "const":
        return f"Input should be {_quoted([limit])}"
    if rule == "enum":
        return f"Input should be {_quoted(list(limit))}"
    words = {
        "minimum": "greater than or equal to",
        "maximum": "less than or equal to",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if rule in words:
        return f"Input should be {words[rule]} {limit}"
    if rule == "minLength":
        return f"String should have at least {_plural(limit, 'character')}"
    if rule == "maxLength":
        return f"String should have at most {_plural(limit, 'character')}"
    if rule in ("minItems", "maxItems"):
        bound = "at least" if rule == "minItems" else "at most"
        count = len(value) if isinstance(value, list) else 0
        return f"List should have {bound} {_plural(limit, 'item')} after validation, not {count}"
    if rule == "pattern":
        return f"String should match pattern '{limit}'"
    return fallback


class MessagesSchemas:
    """The Messages surface's checks by root (``CreateMessageParams``...), each built on
    first use, in the server's validation mode."""

    def __init__(self, mode: ValidationMode, folder: Path | None = None) -> None:
        self.mode = mode
        self.folder = folder or data_dir("schemas") / "anthropic"
        self._checks: dict[str, SchemaCheck] = {}
        self._lock = threading.Lock()

    def check(self, root: str, body: Any) -> list[FieldError]:
        """Every problem of ``body`` as an instance of ``root`` (none when validation
        is off)."""
        if self.mode is ValidationMode.OFF:
            return []
        found = self._checks.get(root)
        if found is None:
            with self._lock:
                found = self._checks.get(root)
                if found is None:
                    found = self._checks[root] = SchemaCheck(self._bundle(root))
        return found.problems(body)

    def _bundle(self, root: str) -> dict[str, Any]:
        bundle: dict[str, Any] = json.loads(
            (self.folder / f"{root}{SUFFIX}").read_text(encoding="utf-8")
        )
        if root.endswith("Params"):  # a request: unknown top-level fields pass
            bundle = _open_root(bundle)
        if self.mode is ValidationMode.LENIENT:
            bundle = _lenient(bundle)
        return bundle
