"""The catalog's files -> a :class:`~mockllm.catalog.cards.Catalog`, checked at load.

Layers, each merged over the ones before, model by model and key by key:

1. ``models.yaml`` beside this module (what mockllm ships);
2. the ``models:`` section of each scenario file, in the order the files load;
3. ``--models FILE`` (``Settings.models_file``), which may also add ``families`` and
   set ``strict``.

Each layer is safe YAML checked against ``catalog.schema.json`` (jsonschema); a
problem is a :class:`~mockllm.errors.ScenarioLoadError` naming the file, the line and
the key, at startup, never a failure at request time. An entry with ``family`` starts
from that family's keys; one without starts from the model of that name known so far
(so an override may change one key of a shipped model), else from the defaults of
:class:`~mockllm.catalog.cards.ModelCard`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import ScenarioLoadError
from ..scenario_engine.loader import format_path, line_of, parse_yaml, scenario_files
from .cards import Catalog, ModelCard, Refusals

__all__ = ["CatalogBuilder", "load_catalog", "shipped_catalog_file"]

_HERE = Path(__file__).resolve().parent
_SCHEMA_FILE = _HERE / "catalog.schema.json"


def shipped_catalog_file() -> Path:
    """The catalog file mockllm ships (``mockllm/catalog/models.yaml``)."""
    return _HERE / "models.yaml"


def load_catalog(
    scenario_paths: Sequence[Path] = (), models_file: Path | None = None, *, strict: bool = False
) -> Catalog:
    """The shipped catalog with the ``models:`` sections of the scenario files in
    ``scenario_paths`` and then ``models_file`` merged over it (module docstring).
    ``strict`` (``--strict-models``) turns model errors on; a file's ``strict: true``
    does too."""
    builder = CatalogBuilder()
    builder.add_file(shipped_catalog_file())
    for file in scenario_files(scenario_paths, missing_ok=True) if scenario_paths else ():
        text = _read(file)
        if "models" not in text:  # most scenario files have no section: skip the parse
            continue
        root = parse_yaml(text, str(file))
        if isinstance(root, Mapping) and "models" in root:
            builder.add({"models": root["models"]}, str(file), root)
    if models_file is not None:
        builder.add_file(models_file)
    return builder.build(strict=strict)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioLoadError(f"cannot read: {exc.strerror}", path=str(file)) from None


class CatalogBuilder:
    """Catalog layers merged in turn (module docstring); :meth:`build` makes the cards."""

    def __init__(self) -> None:
        self._validator = Draft202012Validator(json.loads(_SCHEMA_FILE.read_text(encoding="utf-8")))
        self._families: dict[str, dict[str, Any]] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._strict = False

    def add_file(self, path: Path) -> None:
        """Merge the catalog file at ``path``."""
        self.add(parse_yaml(_read(path), str(path)) or {}, str(path))

    def add(self, data: Any, source: str, root: Any = None) -> None:
        """Merge one layer, ``data`` (``root``: the parsed file it comes from, whose lines
        errors name; by default ``data`` itself)."""
        root = data if root is None else root
        errors = sorted(
            self._validator.iter_errors(data),
            key=lambda e: (
                line_of(root, list(e.absolute_path)) or 0,
                list(map(str, e.absolute_path)),
            ),
        )
        if errors:
            error = errors[0]
            path = list(error.absolute_path)
            raise ScenarioLoadError(
                f"model catalog: {_message(error)}",
                path=source,
                line=line_of(root, path),
                key=format_path(path),
            )
        for name, entry in (data.get("families") or {}).items():
            self._families[name] = {**self._families.get(name, {}), **entry}
        for name, entry in (data.get("models") or {}).items():
            family = entry.get("family")
            if family is not None:
                if family not in self._families:
                    known = ", ".join(sorted(self._families)) or "none"
                    path = ["models", name, "family"]
                    raise ScenarioLoadError(
                        f"model catalog: unknown family {family!r} (known: {known})",
                        path=source,
                        line=line_of(root, path),
                        key=format_path(path),
                    )
                start = self._families[family]
            else:
                start = self._models.get(name, {})
            self._models[name] = {**start, **{k: v for k, v in entry.items() if k != "family"}}
        if "strict" in data:
            self._strict = bool(data["strict"])

    def build(self, *, strict: bool = False) -> Catalog:
        """The catalog: every model, and each alias's snapshot right after it."""
        cards: dict[str, ModelCard] = {}
        for name, entry in self._models.items():
            card = _card(name, entry)
            cards.setdefault(name, card)
            if card.snapshot != name and card.snapshot not in self._models:
                cards.setdefault(
                    card.snapshot, _card(card.snapshot, {**entry, "snapshot": card.snapshot})
                )
        return Catalog(cards, strict=strict or self._strict)


def _card(name: str, entry: Mapping[str, Any]) -> ModelCard:
    values = dict(entry)
    refuses = values.pop("refuses", None) or {}
    for key in ("input", "output"):
        if key in values:
            values[key] = tuple(values[key])
    return ModelCard(
        id=name,
        snapshot=str(values.pop("snapshot", name)),
        refuses=Refusals(
            parameters=frozenset(refuses.get("parameters") or ()),
            values={str(k): tuple(v) for k, v in (refuses.get("values") or {}).items()},
            roles=frozenset(refuses.get("roles") or ()),
        ),
        **values,
    )


def _message(error: Any) -> str:
    """jsonschema's message, shortened where it quotes a whole mapping."""
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties") or {})
        extra = (
            sorted(set(error.instance) - set(allowed))
            if isinstance(error.instance, Mapping)
            else []
        )
        if extra:
            return f"unknown key {extra[0]!r} (known: {', '.join(allowed)})"
    return str(error.message)
