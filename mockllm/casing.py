"""The spellings ServiceStack binds: camelCase and PascalCase keys of the request DTOs.

ServiceStack binds request DTO properties case-insensitively, and the DTOs its "Add
ServiceStack Reference" generates for clients may send ``topLogprobs``,
``ResponseFormat`` or ``toolCallId`` where the documented JSON name is snake_case.
``KeyBinder`` renames such keys, in place, to the names the schemas use, at the top
level and in every nested DTO (messages, their content parts and tool calls, tools,
response_format...), so validation, scenario conditions, generation and the journal
all see the one canonical body. A key no DTO property answers to is left as sent, for
validation to refuse (or, in lenient mode, ignore).

A key is taken as the property whose name it spells apart from case and underscores
(``max_completion_tokens``, ``maxCompletionTokens``, ``MaxCompletionTokens``). Open
objects (``metadata``, a tool's ``parameters``, a JSON schema) are never renamed.

The walk is built once from the schemas. A snake_case body costs a subset test per
object and nothing else: renaming happens only when a key is not already a property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import KeyClash
from .schemaset import REQUEST_SCHEMA, SchemaSet

__all__ = ["KeyBinder", "KeyClash"]


@dataclass(frozen=True, slots=True, eq=False)
class _Node:
    """How the value at one place of the DTO tree is spelt.

    For an object: its property names, the other spellings of each, and the nodes of
    the properties that hold DTOs themselves. For an array: the node of its items.
    """

    known: frozenset[str]
    aliases: Mapping[str, str]  # lower-case spelling -> property name
    children: Mapping[str, _Node]
    items: _Node | None


def _spellings(name: str) -> tuple[str, str]:
    """The lower-case forms a key of this property may take, apart from case."""
    return name.lower(), name.replace("_", "").lower()


class _Builder:
    """Builds the node tree from the schemas, one node per distinct set of schemas."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas
        self._built: dict[tuple[int, ...], _Node | None] = {}

    def node(self, schemas: Sequence[Mapping[str, Any]]) -> _Node | None:
        expanded = self._schemas.expand(schemas)
        key = tuple(sorted(id(s) for s in expanded))
        if key in self._built:  # done, or being built (a recursive DTO): stop there
            return self._built[key]
        self._built[key] = None
        properties: dict[str, list[Mapping[str, Any]]] = {}
        items: list[Mapping[str, Any]] = []
        for schema in expanded:
            for name, sub in (schema.get("properties") or {}).items():
                properties.setdefault(name, []).append(sub)
            if isinstance(schema.get("items"), Mapping):
                items.append(schema["items"])
        item_node = self.node(items) if items else None
        if not properties and item_node is None:
            return None  # a scalar or an open object: nothing to rename under it
        children = {}
        for name, subs in properties.items():
            child = self.node(subs)
            if child is not None:
                children[name] = child
        node = _Node(frozenset(properties), _aliases(properties), children, item_node)
        self._built[key] = node
        return node


def _aliases(properties: Mapping[str, Any]) -> dict[str, str]:
    """Each spelling of a property; one that two properties share binds to neither."""
    owners: dict[str, set[str]] = {}
    for name in properties:
        for spelling in _spellings(name):
            owners.setdefault(spelling, set()).add(name)
    return {spelling: next(iter(names)) for spelling, names in owners.items() if len(names) == 1}


def _rename(node: _Node, obj: dict[str, Any]) -> bool:
    """Rename the keys of ``obj`` that spell a property otherwise; keeps the key order;
    whether any was."""
    renamed: dict[str, Any] = {}
    changed = False
    for key, value in obj.items():
        if key not in node.known:
            canonical = node.aliases.get(key.lower())
            if canonical is not None:
                if canonical in obj or canonical in renamed:
                    raise KeyClash(key, canonical)
                key, changed = canonical, True
        renamed[key] = value
    if changed:
        obj.clear()
        obj.update(renamed)
    return changed


def _bind(node: _Node, obj: dict[str, Any]) -> bool:
    """Rename the keys of ``obj`` and of the DTOs inside it (objects, arrays of objects);
    whether any key was renamed."""
    changed = False
    if not obj.keys() <= node.known:
        changed = _rename(node, obj)
    children = node.children
    for key, value in obj.items():
        child = children.get(key)
        if child is None:
            continue
        kind = type(value)
        try:
            if kind is dict:
                changed = _bind(child, value) or changed
            elif kind is list and child.items is not None:
                items = child.items
                for item in value:
                    if type(item) is dict:
                        changed = _bind(items, item) or changed
        except KeyClash as clash:
            if kind is list:  # which item: found only now, off the fast path
                clash.path.insert(0, next(i for i, x in enumerate(value) if x is item))
            clash.path.insert(0, key)
            raise
    return changed


class KeyBinder:
    """Renames the keys of request bodies to the DTOs' JSON names; build once."""

    __slots__ = ("_root",)

    def __init__(self, schemas: SchemaSet, dto: str = REQUEST_SCHEMA) -> None:
        self._root = _Builder(schemas).node([schemas.schema(dto)])

    def bind(self, body: Any) -> bool:
        """Rename, in place, every key of ``body`` that spells a DTO property otherwise;
        whether any was.

        Raises ``KeyClash`` when an object sends one property under two spellings.
        """
        if self._root is not None and type(body) is dict:
            return _bind(self._root, body)
        return False
