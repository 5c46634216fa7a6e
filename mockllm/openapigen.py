"""A published OpenAPI document (+ an overlay) -> self-contained JSON Schemas, one per root.

Build time, like :mod:`mockllm.schemagen`, for the surfaces whose API is published as
OpenAPI 3.1 (Anthropic's Messages API: ``schemas/anthropic/``). The folder holds:

* ``openapi.json``: the pinned extract of the published document, the operations a
  surface serves and every component they reach, with where it came from in
  ``info.x-mockllm-source`` (``mockllm schemas --openapi FULL.json`` refreshes it from a
  newer copy of the whole document);
* ``overlay.yaml``: changes to components, each with its ``reason`` (what clients send
  that the document does not yet describe);
* the generated ``<Root>.schema.json`` files: each root component with every component
  it reaches inlined as draft-07 ``definitions`` (refs rewritten to
  ``#/definitions/<Name>``), prose (descriptions, examples, titles) and vendor keys
  dropped. ``discriminator`` is kept: the validator's error messages follow it.

The output is deterministic (sorted keys), so a test can say the files are up to date.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import OverlayError, SchemaSourceError
from .naming import SUFFIX
from .schemagen import SCHEMA_DRAFT, settle

__all__ = [
    "ANTHROPIC",
    "OpenApiSource",
    "generate_bundles",
    "prune",
    "reached",
    "run",
]

_COMPONENTS = "#/components/schemas/"
# Keys that carry prose or code-generator hints, not rules.
_DROPPED = frozenset({"description", "examples", "example", "title", "deprecated"})


@dataclass(frozen=True, slots=True)
class OpenApiSource:
    """One surface's pinned OpenAPI extract: the folder under ``schemas/``, the
    operations kept (``(path, method)``), and the components made into schema files."""

    folder: str
    operations: tuple[tuple[str, str], ...]
    roots: tuple[str, ...]


ANTHROPIC = OpenApiSource(
    folder="anthropic",
    operations=(
        ("/v1/messages", "post"),
        ("/v1/messages?beta=true", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/v1/messages/count_tokens?beta=true", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{model_id}", "get"),
    ),
    roots=(
        "BetaCountMessageTokensParams",
        "BetaCreateMessageParams",
        "CountMessageTokensParams",
        "CreateMessageParams",
        "ErrorResponse",
        "ListResponse_ModelInfo_",
        "Message",
        "MessageStreamEvent",
        "ModelInfo",
    ),
)


def _refs(node: Any) -> Iterator[str]:
    """The component names ``node`` refers to (``$ref`` and discriminator mappings)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_COMPONENTS):
                yield value[len(_COMPONENTS) :]
            elif key == "mapping" and isinstance(value, dict):
                yield from (
                    v[len(_COMPONENTS) :]
                    for v in value.values()
                    if isinstance(v, str) and v.startswith(_COMPONENTS)
                )
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def reached(components: Mapping[str, Any], start: Iterable[str]) -> list[str]:
    """``start`` and every component they reach, sorted; an unknown name raises."""
    seen: set[str] = set()
    pending = list(start)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in components:
            raise SchemaSourceError(f"the OpenAPI document has no component {name!r}")
        seen.add(name)
        pending.extend(_refs(components[name]))
    return sorted(seen)


def prune(
    document: Mapping[str, Any], source: OpenApiSource, origin: Mapping[str, Any]
) -> dict[str, Any]:
    """The extract of a whole published ``document`` that ``source`` keeps: its
    operations and the components they and the roots reach; ``origin`` says where the
    document came from (kept as ``info.x-mockllm-source``)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in source.operations:
        try:
            paths.setdefault(path, {})[method] = document["paths"][path][method]
        except KeyError:
            raise SchemaSourceError(
                f"the OpenAPI document has no {method.upper()} {path}"
            ) from None
    components = document.get("components", {}).get("schemas", {})
    names = reached(components, [*_refs(paths), *source.roots])
    return {
        "openapi": document.get("openapi"),
        "info": {**document.get("info", {}), "x-mockllm-source": dict(origin)},
        "paths": paths,
        "components": {"schemas": {name: components[name] for name in names}},
    }


def _clean(node: Any) -> Any:
    """``node`` without prose and vendor keys, its refs pointing into ``definitions``."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: _clean(sub) for name, sub in value.items()}
            elif key == "$ref" and isinstance(value, str):
                out[key] = "#/definitions/" + value.removeprefix(_COMPONENTS)
            elif key == "mapping" and isinstance(value, dict):
                out[key] = {
                    tag: "#/definitions/" + str(ref).removeprefix(_COMPONENTS)
                    for tag, ref in value.items()
                }
            else:
                out[key] = _clean(value)
        return out
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def _pointer(node: Any, path: Sequence[str], where: str) -> Any:
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise OverlayError(f"{where}: {'/'.join(path)} is not in the OpenAPI document")
    return node


def _apply_overlay(components: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    """Each overlay entry: ``at`` (``Component/key/...``) and ``set`` (keys merged into
    the object there) or ``append`` (items added to the list there), with a ``reason``."""
    for number, entry in enumerate(overlay.get("entries") or [], start=1):
        where = f"overlay entry {number}"
        if not isinstance(entry, Mapping) or not str(entry.get("reason") or "").strip():
            raise OverlayError(f"{where} is not a mapping with a reason")
        ops = [op for op in ("set", "append") if op in entry]
        unknown = set(entry) - {"at", "reason", "set", "append"}
        if len(ops) != 1 or unknown or not isinstance(entry.get("at"), str):
            raise OverlayError(
                f"{where}: needs `at`, a `reason` and one of set, append; "
                f"unknown keys: {sorted(unknown)}"
            )
        target = _pointer(components, str(entry["at"]).split("/"), where)
        if ops[0] == "set" and isinstance(target, dict) and isinstance(entry["set"], Mapping):
            target.update(entry["set"])
        elif ops[0] == "append" and isinstance(target, list) and isinstance(entry["append"], list):
            target.extend(item for item in entry["append"] if item not in target)
        else:
            raise OverlayError(f"{where}: {ops[0]} does not fit what is at {entry['at']}")


def generate_bundles(
    extract: Mapping[str, Any], overlay: Mapping[str, Any], source: OpenApiSource
) -> dict[str, dict[str, Any]]:
    """One self-contained draft-07 schema per root of ``source``, keyed by file name."""
    components = json.loads(json.dumps(extract["components"]["schemas"]))  # a deep copy
    _apply_overlay(components, overlay)
    out = {}
    for root in source.roots:
        names = reached(components, [root])
        out[f"{root}{SUFFIX}"] = {
            "$schema": SCHEMA_DRAFT,
            "$comment": (
                f"Generated by mockllm.openapigen from schemas/{source.folder}/"
                "openapi.json and overlay.yaml: edit those and run `mockllm "
                "schemas`, not this file."
            ),
            "$ref": f"#/definitions/{root}",
            "definitions": {name: _clean(components[name]) for name in names},
        }
    return out


def _load(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    extract = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
    overlay = yaml.safe_load((folder / "overlay.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(overlay, dict):
        raise OverlayError(f"{folder / 'overlay.yaml'}: the overlay must be a mapping")
    return extract, overlay


def run(
    source_dir: Path,
    out_dir: Path | None = None,
    check: bool = False,
    *,
    refresh: Path | None = None,
    source: OpenApiSource = ANTHROPIC,
) -> int:
    """``mockllm schemas`` for one OpenAPI surface: read ``source_dir/<folder>`` (the
    extract and the overlay), regenerate (or ``check``) the files in ``out_dir/<folder>``
    (default: the same folder); ``refresh``: a whole published document to take a new
    pinned extract from first."""
    folder = source_dir / source.folder
    out = (out_dir or source_dir) / source.folder
    try:
        if refresh is not None:
            document = json.loads(refresh.read_text(encoding="utf-8"))
            old = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
            origin = {**old["info"].get("x-mockllm-source", {}), "file": refresh.name}
            text = (
                json.dumps(
                    prune(document, source, origin), indent=1, sort_keys=True, ensure_ascii=False
                )
                + "\n"
            )
            (folder / "openapi.json").write_text(text, encoding="utf-8")
            print(
                f"wrote {folder / 'openapi.json'} (say where it came from in its "
                "info.x-mockllm-source)"
            )
        extract, overlay = _load(folder)
        bundles = generate_bundles(extract, overlay, source)
    except (SchemaSourceError, OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        print(f"mockllm schemas: {folder}: {exc}", file=sys.stderr)
        return 2
    return settle(out, bundles, check, str(folder / "openapi.json"))
