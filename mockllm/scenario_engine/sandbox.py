"""The sandbox reply templates run in: what is refused at load, and what is bounded at render.

Jinja2's ``ImmutableSandboxedEnvironment`` already stops a template that reaches
``''.__class__`` or calls ``request.clear()``, but only when it renders: the request
gets an error, while ``mockllm check`` said the file was fine. ``unsafe_construct``
finds the same things in the parsed template, so the loader refuses them with the
file, line and key, as it does unknown variable names:

* attributes the sandbox refuses (``__class__``, ``__mro__``, ``__globals__``, any
  ``_private`` name, ``mro``, a generator's ``gi_frame``...), reached with ``.``, ``[...]``,
  the ``attr`` filter, an ``attribute=`` argument or a ``'{0.__class__}'.format``;
* calls of methods that change their object (``clear``, ``update``, ``append``,
  ``pop``...) or reseed the shared faker.

``ReplySandbox`` bounds what one reply may cost: ``*``, ``+`` and ``**`` refuse to
build a string or list longer than the reply limit (or a number of more than
``MAX_POWER_BITS`` bits) before building it, ``range`` refuses more than
``MAX_RANGE`` numbers, and ``Budget`` stops a template whose output grows past the
limit while it renders (a loop), so a runaway template ends in a clear
``TemplateLimitError`` in milliseconds instead of a hang. With literal operands
(``{{ 'a' * 10000000 }}``) the loader refuses it outright.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import (
    MAX_RANGE,
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    ImmutableSandboxedEnvironment,
)

from ..errors import TemplateLimitError

__all__ = [
    "Budget",
    "DEFAULT_MAX_REPLY_CHARS",
    "MAX_POWER_BITS",
    "MAX_RANGE",
    "ReplySandbox",
    "unsafe_construct",
]

# The characters one reply's templates may render, unless settings say otherwise (1 MiB).
DEFAULT_MAX_REPLY_CHARS = 1024 * 1024
# ``a ** b`` of integers is refused when the result would need more bits than this: a
# number that size takes milliseconds to build, and is already past what str() will print.
MAX_POWER_BITS = 65_536

_UNSAFE_NAMES = frozenset({"mro"}).union(
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
)
# Methods that change the object they are called on (dict, list, set, deque), and
# those that reseed the faker every request shares.
_CHANGING_METHODS = frozenset(
    {
        "add",
        "append",
        "appendleft",
        "clear",
        "difference_update",
        "discard",
        "extend",
        "extendleft",
        "insert",
        "intersection_update",
        "pop",
        "popitem",
        "popleft",
        "remove",
        "reverse",
        "rotate",
        "setdefault",
        "sort",
        "symmetric_difference_update",
        "update",
        "seed",
        "seed_instance",
        "seed_locale",
    }
)
# Filters that look attributes up by a name given as an argument.
_ATTRIBUTE_FILTERS = frozenset(
    {
        "attr",
        "groupby",
        "map",
        "max",
        "min",
        "rejectattr",
        "selectattr",
        "sort",
        "sum",
        "unique",
    }
)


def _unsafe_attribute(name: str) -> bool:
    return name.startswith("_") or name in _UNSAFE_NAMES


def _unsafe_path(text: str) -> str | None:
    """The first unsafe part of a dotted attribute path (``a.__class__``), if any."""
    return next((part for part in text.split(".") if _unsafe_attribute(part)), None)


def _format_fields(text: str) -> Iterator[str]:
    """The attribute and index names a ``str.format`` string reaches (``0.__class__``)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return
    for _, field, _, _ in parsed:
        if field:
            yield from field.replace("[", ".").replace("]", "").split(".")[1:]


def _member_name(node: nodes.Node) -> str | None:
    """The name ``x.name`` or ``x['name']`` looks up, when it is written in the template."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None


def _refused(node: nodes.Node) -> str | None:
    """Why the sandbox would refuse this node at render time, or None."""
    name = _member_name(node)
    if name is not None and _unsafe_attribute(name):
        return f"reaches {name!r}, an internal attribute templates may not use"
    if isinstance(node, nodes.Call):
        called = _member_name(node.node)
        if called in _CHANGING_METHODS:
            return (
                f"calls {called}(), which would change data every request shares "
                "(templates may read the request, never change it)"
            )
        if called in {"format", "format_map"} and isinstance(
            getattr(node.node, "node", None), nodes.Const
        ):
            text = node.node.node.value  # type: ignore[attr-defined]
            bad = next((f for f in _format_fields(str(text)) if _unsafe_attribute(f)), None)
            if bad is not None:
                return f"formats {bad!r}, an internal attribute templates may not use"
    if isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_FILTERS:
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                bad = _unsafe_path(arg.value)
                if bad is not None:
                    return f"reaches {bad!r}, an internal attribute templates may not use"
    return None


def unsafe_construct(node: nodes.Node, sandbox: ReplySandbox) -> tuple[str, int] | None:
    """(why, template line) of the first construct in ``node`` (a parsed template) that
    the sandbox would refuse, else None.

    Besides unsafe attributes and changing calls, this finds operations on literals
    that break the reply limits (``'a' * 10000000``, ``range(1000000)``).
    """
    # Children first: in ``''.__class__.__mro__`` the first problem read is ``__class__``.
    for child in node.iter_child_nodes():
        found = unsafe_construct(child, sandbox)
        if found is not None:
            return found
    problem = _refused(node) or _literal_over_limit(node, sandbox)
    return None if problem is None else (problem, node.lineno)


def _literal_over_limit(node: nodes.Node, sandbox: ReplySandbox) -> str | None:
    operator = _OPERATORS.get(type(node))
    try:
        if operator is not None:
            left, right = node.left, node.right  # type: ignore[attr-defined]
            if isinstance(left, nodes.Const) and isinstance(right, nodes.Const):
                sandbox.check_binop(operator, left.value, right.value)
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "range"
            and node.args
            and all(isinstance(a, nodes.Const) for a in node.args)
        ):
            _check_range(*(a.value for a in node.args))  # type: ignore[attr-defined]
    except TemplateLimitError as exc:
        return exc.message
    except (TypeError, ValueError):  # not the operands these checks are about
        return None
    return None


_OPERATORS: Mapping[type[nodes.Node], str] = MappingProxyType(
    {nodes.Mul: "*", nodes.Add: "+", nodes.Pow: "**"}
)


def _check_range(*args: Any) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitError(
            f"calls range() for {len(numbers)} numbers; a template may loop over at most "
            f"{MAX_RANGE}"
        )
    return numbers


def _sized(value: Any) -> bool:
    return isinstance(value, (str, list, tuple))


class ReplySandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the operators and ``range`` bounded by ``max_chars``."""

    intercepted_binops = frozenset({"*", "+", "**"})

    def __init__(self, max_chars: int = DEFAULT_MAX_REPLY_CHARS, **options: Any) -> None:
        super().__init__(**options)
        self.max_chars = max_chars
        self.globals["range"] = _check_range

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        """Raise TemplateLimitError when ``left <operator> right`` would be too big."""
        if operator == "*":
            sequence, count = (left, right) if _sized(left) else (right, left)
            if _sized(sequence) and isinstance(count, int):
                self._check_size(operator, len(sequence) * count)
        elif operator == "+":
            if _sized(left) and _sized(right):
                self._check_size(operator, len(left) + len(right))
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * (abs(left) - 1).bit_length() > MAX_POWER_BITS
        ):
            raise TemplateLimitError(
                f"computes {left} ** {right}, a number of more than {MAX_POWER_BITS} bits"
            )

    def _check_size(self, operator: str, size: int) -> None:
        if size > self.max_chars:
            raise TemplateLimitError(
                f"uses '{operator}' to build a value of {size} characters or items; a reply "
                f"may render at most {self.max_chars} (the max_reply_chars setting)"
            )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """``left <operator> right``, refused beforehand when the result would be too big."""
        self.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


class Budget:
    """What is left of one reply's character limit while its templates render."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def charge(self, size: int) -> None:
        """Spend ``size`` characters; raise TemplateLimitError once over the limit."""
        self.left -= size
        if self.left < 0:
            raise self._over()

    def _over(self) -> TemplateLimitError:
        return TemplateLimitError(
            f"renders more than {self.limit} characters for one reply (the max_reply_chars setting)"
        )

    def join(self, chunks: Iterable[str]) -> str:
        """The chunks of a rendering template joined, stopped as soon as they are too long."""
        parts = []
        left = self.left
        for chunk in chunks:
            left -= len(chunk)
            if left < 0:
                raise self._over()
            parts.append(chunk)
        self.left = left
        return "".join(parts)
