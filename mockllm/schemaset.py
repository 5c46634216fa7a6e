"""The shipped JSON Schemas, loaded once, with a detailed and a compiled fast validator.

``SchemaSet.load()`` reads every ``*.schema.json`` of the schemas folder a single time
(at app start). What it builds from them, each the first time it is needed (a server
in strict mode never compiles the lenient validator, and one that is never sent an
invalid body never imports ``jsonschema``):

* a ``referencing`` registry, so ``jsonschema`` follows the cross-file ``$ref``s
  (``{"$ref": "AiMessage.schema.json"}``) without any network;
* fast validators (``jsonschema-rs``, in Rust) for the request (strict and lenient) and
  the response, each built from a bundle: the root schema plus every file it refers to
  as ``definitions``, refs rewritten to ``#/definitions/<Name>``. Same rules, no
  network; building one takes about a millisecond, checking a body microseconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from .naming import SUFFIX
from .resources import data_dir

if TYPE_CHECKING:
    from referencing import Registry

__all__ = [
    "FastValidator",
    "REQUEST_SCHEMA",
    "RESPONSE_SCHEMA",
    "SchemaSet",
    "bundle",
    "fast_validator",
    "without_unknown_check",
]

REQUEST_SCHEMA = "ChatCompletion"
RESPONSE_SCHEMA = "ChatResponse"

# A fast validator: ``is_valid(body)``, and ``validate(body)`` raising
# ``jsonschema_rs.ValidationError`` with the first problem.
FastValidator = jsonschema_rs.Validator


def fast_validator(schema: Mapping[str, Any]) -> FastValidator:
    """jsonschema-rs's validator of ``schema``, for the draft its ``$schema`` names (else
    2020-12). Formats are not checked, as the detailed ``jsonschema`` validators that
    explain an invalid body do not check them either."""
    return jsonschema_rs.validator_for(dict(schema), validate_formats=False)


def without_unknown_check(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that ignores unknown top-level properties (lenient mode)."""
    lenient = dict(schema)
    lenient.pop("additionalProperties", None)
    return lenient


def _file_refs(node: Any) -> Iterator[str]:
    """The schema names a schema refers to by file (``AiMessage.schema.json`` -> AiMessage)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.endswith(SUFFIX):
            yield ref[: -len(SUFFIX)]
        for value in node.values():
            yield from _file_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _file_refs(item)


def _rewrite_refs(node: Any, home: str) -> Any:
    """File refs -> ``#/definitions/<Name>``; a schema's own ``#/...`` refs -> under its home."""
    if isinstance(node, dict):
        out = {key: _rewrite_refs(value, home) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.endswith(SUFFIX):
            out["$ref"] = f"#/definitions/{ref[: -len(SUFFIX)]}"
        elif isinstance(ref, str) and ref.startswith("#") and home:
            out["$ref"] = f"#/definitions/{home}{ref[1:]}"
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, home) for item in node]
    return node


def bundle(root: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``root`` with every schema it reaches by file ref inlined as ``definitions``."""
    reached: list[str] = []
    pending = list(_file_refs(root))
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.append(name)
            pending.extend(_file_refs(schemas[name]))
    definitions = {}
    for name in sorted(reached):
        body = {k: v for k, v in schemas[name].items() if k not in {"$id", "$schema", "$comment"}}
        definitions[name] = _rewrite_refs(body, name)
    out: dict[str, Any] = _rewrite_refs(
        {k: v for k, v in root.items() if k not in {"$id", "$comment"}}, ""
    )
    out["definitions"] = definitions
    return out


class SchemaSet:
    """Every schema of a folder by name; the registry for jsonschema and the fast
    validators, each built on first use and then kept (module docstring). Thread-safe."""

    __slots__ = ("_built", "_lock", "folder", "schemas")

    def __init__(self, folder: Path, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self.folder = folder
        self.schemas = schemas
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None) -> SchemaSet:
        """Read ``folder`` (default: the shipped schemas)."""
        folder = folder or data_dir("schemas")
        schemas: dict[str, Mapping[str, Any]] = {}
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            schemas[path.name[: -len(SUFFIX)]] = json.loads(path.read_text(encoding="utf-8"))
        for needed in (REQUEST_SCHEMA, RESPONSE_SCHEMA):
            if needed not in schemas:
                raise FileNotFoundError(
                    f"{folder}: {needed}{SUFFIX} is missing (run `mockllm schemas`)"
                )
        return cls(folder, MappingProxyType(schemas))

    @property
    def registry(self) -> Registry:
        """Every schema by file name, for jsonschema to follow file refs."""
        registry: Registry = self._once("registry", self._registry)
        return registry

    @property
    def fast_request_strict(self) -> FastValidator:
        """The compiled validator of a request in strict mode."""
        return self._fast("strict", self.schemas[REQUEST_SCHEMA])

    @property
    def fast_request_lenient(self) -> FastValidator:
        """The compiled validator of a request in lenient mode (unknown fields pass)."""
        return self._fast("lenient", without_unknown_check(self.schemas[REQUEST_SCHEMA]))

    @property
    def fast_response(self) -> FastValidator:
        """The compiled validator of a ChatResponse."""
        return self._fast("response", self.schemas[RESPONSE_SCHEMA])

    def _fast(self, what: str, root: Mapping[str, Any]) -> FastValidator:
        validator: FastValidator = self._once(
            what, lambda: fast_validator(bundle(root, self.schemas))
        )
        return validator

    def _once(self, what: str, build: Callable[[], Any]) -> Any:
        found = self._built.get(what)
        if found is None:
            with self._lock:
                found = self._built.get(what)
                if found is None:
                    found = self._built[what] = build()
        return found

    def _registry(self) -> Registry:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        return Registry().with_resources(
            (f"{name}{SUFFIX}", Resource.from_contents(schema, default_specification=DRAFT7))
            for name, schema in self.schemas.items()
        )

    def schema(self, name: str) -> Mapping[str, Any]:
        """The schema ``name`` (``"AiMessage"`` or ``"AiMessage.schema.json"``)."""
        key = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
        try:
            return self.schemas[key]
        except KeyError:
            raise KeyError(f"no schema {key!r} in {self.folder}") from None

    def expand(self, schemas: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """``schemas`` plus every schema they pull in (file refs, allOf/anyOf/oneOf,
        then/else), each once, depth first: all the places a value's rules can come from."""
        out: list[Mapping[str, Any]] = []
        stack = list(schemas)[::-1]
        while stack:
            schema = stack.pop()
            if not isinstance(schema, Mapping) or any(schema is seen for seen in out):
                continue
            out.append(schema)
            ref = schema.get("$ref")
            if isinstance(ref, str) and ref.endswith(SUFFIX):
                stack.append(self.schema(ref))
            for key in ("allOf", "anyOf", "oneOf"):
                stack.extend(reversed(schema.get(key, [])))
            stack.extend(schema[key] for key in ("then", "else") if key in schema)
        return out

    def request_schema(self, *, lenient: bool) -> dict[str, Any]:
        """The ChatCompletion schema as strict or lenient validation uses it (a shallow copy)."""
        request = self.schema(REQUEST_SCHEMA)
        return without_unknown_check(request) if lenient else dict(request)
