"""Conditions on a request: the request view, lookups, the matcher registry, near misses.

A scenario's ``when:`` is a mapping of condition names to values. Each value is
``name: value`` (equality) or ``name: {lookup: operand, ...}`` with the lookups of
``LOOKUPS``. ``MatcherRegistry`` maps a condition name to a ``Matcher`` that turns
the YAML value into a ``Condition``; users extend it from Python with
``registry.register(name, subject)``.

"Matches" is defined as "no condition failed": every ``Condition`` can both
``evaluate`` a request (the cheap hot path, giving regex groups) and ``explain`` why
it fails (the near-miss path), from the same lookups, so the two never disagree.

Subjects that are lists (offered tools, all message texts, modalities) hold a
lookup when it holds for at least one element; ``exists`` asks whether the list is
non-empty, ``eq`` with a list operand compares the whole list, and ``not`` negates
the whole test (``tools: {not: get_weather}`` = not offered).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, cast

from multidict import CIMultiDict, CIMultiDictProxy

from ..chatbody import last_user_text, message_text, role, system_text, tool_name
from ..errors import BadRequestError, ConditionError
from ..redaction import header_text

__all__ = [
    "Condition",
    "Groups",
    "INDEXABLE",
    "KeyPath",
    "LOOKUPS",
    "Lookup",
    "Matcher",
    "MatcherRegistry",
    "Overrides",
    "RegexBook",
    "RequestView",
    "SubjectCondition",
    "SubjectMatcher",
    "compile_json_path",
    "compile_lookups",
    "default_registry",
    "did_you_mean",
    "format_key_path",
    "merge_groups",
    "parse_overrides",
]

_T = TypeVar("_T")
# Regex groups of a passed condition; read-only so one empty instance can be shared.
Groups = Mapping[str, str]
_PASS: Groups = MappingProxyType({})


# A place in a condition's YAML value: mapping keys and list indexes.
KeyPath = tuple["str | int", ...]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'when'?)`` when a known name is close to ``name``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_key_path(path: Iterable[str | int]) -> str:
    """A key path as errors name it: ``sequence[1].tool_calls[0].arguments``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


# --------------------------------------------------------------------------- the view


class RequestView:
    """One request as the conditions see it: body, headers and path.

    Facts derived from the body (last user message, tool names...) are computed on
    first use and kept for the rest of this request, so a thousand scenarios that
    look at ``last_user_message`` extract it once.
    """

    __slots__ = ("_headers", "_memo", "_raw_headers", "body", "path", "surface")

    def __init__(
        self,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        path: str = "/v1/chat/completions",
        surface: str = "chat",
    ) -> None:
        # The neutral body (chat completions' spelling, whatever API it came through:
        # mockllm/surfaces/base.py), and the surface (API) it came through.
        self.body = body
        self.path = path
        self.surface = surface
        self._raw_headers: Mapping[str, str] = headers or {}
        self._headers: dict[str, str] | None = None
        # Keyed by the function that computes a fact (or a (function, key) pair): two
        # conditions share a slot only when they compute the same thing, whatever
        # they are called.
        self._memo: dict[Hashable, Any] = {}

    @property
    def headers(self) -> Mapping[str, str]:
        """Request headers with lower-case names (header names are case-insensitive),
        their values as text a reply can carry (``redaction.header_text``)."""
        if self._headers is None:
            self._headers = {str(k).lower(): header_text(v) for k, v in self._raw_headers.items()}
        return self._headers

    def memo(self, compute: Callable[[RequestView], _T], key: Hashable = None) -> _T:
        """``compute(self)``, computed once per request (under ``key``, else under the
        function itself)."""
        if key is None:
            key = compute
        memo = self._memo
        if key in memo:
            return cast(_T, memo[key])
        value = memo[key] = compute(self)
        return value

    @property
    def messages(self) -> list[Any]:
        """The request's messages (an empty list when missing or malformed)."""
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def turn(self) -> int:
        """The number of user messages: 1 for the first request of a conversation."""
        return self.memo(_turn)

    @property
    def first_user_message(self) -> str | None:
        """Text of the first user message (the conversation key ``first_user_message``)."""
        return self.memo(_first_user_message)


def _turn(view: RequestView) -> int:
    return sum(1 for m in view.messages if role(m) == "user")


def _first_user_message(view: RequestView) -> str | None:
    for m in view.messages:
        if role(m) == "user":
            return message_text(m)
    return None


def _last_user_message(view: RequestView) -> str | None:
    return last_user_text(view.messages)


def _any_message(view: RequestView) -> list[str]:
    return [t for t in map(message_text, view.messages) if t is not None]


def _system_message(view: RequestView) -> str | None:
    return system_text(view.messages)


def _last_role(view: RequestView) -> Any:
    messages = view.messages
    return role(messages[-1]) if messages else None


def _tools(view: RequestView) -> list[str] | None:
    tools = view.body.get("tools")
    if not isinstance(tools, list):
        return None
    return [n for n in map(tool_name, tools) if n is not None]


def _tool_choice(view: RequestView) -> Any:
    choice = view.body.get("tool_choice")
    if isinstance(choice, Mapping):
        return tool_name(choice)
    return choice


def _tool_results(view: RequestView) -> list[tuple[str | None, str]]:
    """(tool name, text) of every tool message; the name comes from the tool call id."""
    names: dict[Any, str | None] = {}
    results: list[tuple[str | None, str]] = []
    for m in view.messages:
        kind = role(m)
        if kind == "assistant" and isinstance(m.get("tool_calls"), list):
            for call in m["tool_calls"]:
                if isinstance(call, Mapping):
                    names[call.get("id")] = tool_name(call)
        elif kind == "tool":
            name = names.get(m.get("tool_call_id")) or m.get("name")
            results.append((name if isinstance(name, str) else None, message_text(m) or ""))
    return results


def _stream(view: RequestView) -> bool:
    return view.body.get("stream") is True


def _response_format(view: RequestView) -> Any:
    fmt = view.body.get("response_format")
    if isinstance(fmt, Mapping):
        # The ServiceStack DTO page spells the type as `response_format` (wire-format 2.1).
        return fmt.get("type", fmt.get("response_format"))
    return fmt


def _modalities(view: RequestView) -> Any:
    return view.body.get("modalities")


def _model(view: RequestView) -> Any:
    return view.body.get("model")


def _path(view: RequestView) -> str:
    return view.path


def _surface(view: RequestView) -> str:
    return view.surface


# ------------------------------------------------------------------------- lookups

_Test = Callable[[Any], "Groups | None"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """One compiled lookup: ``test(subject)`` gives regex groups on success, else None."""

    name: str
    operand: Any
    test: _Test
    # "equals", "contains"...: how a passing test reads, for explanations.
    verb: str
    groups: frozenset[str] = frozenset()

    def explain(self, label: str, subject: Any) -> str | None:
        """Why ``subject`` fails this lookup, or None when it passes."""
        if self.test(subject) is not None:
            return None
        if self.name == "not":
            return f"{label}: {_show(subject)} {self.verb}, which `not` excludes"
        if self.name == "exists":
            state = "is absent" if self.operand else f"is present ({_show(subject)})"
            return f"{label}: {state}"
        if isinstance(subject, list) and not (self.name == "eq" and isinstance(self.operand, list)):
            return f"{label}: none of {_show(subject)} {self.verb} {_show(self.operand)}"
        if subject is None:
            return f"{label}: absent, so it does not satisfy `{self.name}: {_show(self.operand)}`"
        return f"{label}: {_show(subject)} does not {_BASE_VERB[self.verb]} {_show(self.operand)}"


_BASE_VERB = MappingProxyType(
    {
        "equals": "equal",
        "contains": "contain",
        "matches regex": "match regex",
        "starts with": "start with",
        "ends with": "end with",
        "is in": "appear in",
        "is greater than": "exceed",
        "is less than": "fall below",
        "is at least": "reach",
        "is at most": "stay within",
    }
)


def _show(value: Any, limit: int = 80) -> str:
    text = "(absent)" if value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _any_element(pred: Callable[[Any], Groups | None]) -> _Test:
    """Lift an element test to subjects that may be lists (any element may pass)."""

    def test(subject: Any) -> Groups | None:
        if type(subject) is list:
            for item in subject:
                found = pred(item)
                if found is not None:
                    return found
            return None
        return pred(subject)

    return test


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need(cond: bool, lookup: str, what: str, operand: Any) -> None:
    if not cond:
        raise ConditionError(f"lookup `{lookup}` needs {what}, got {_show(operand)}")


def _eq(operand: Any) -> Lookup:
    _need(not isinstance(operand, Mapping), "eq", "a value or a list", operand)
    if isinstance(operand, list):
        return Lookup("eq", operand, lambda s: _PASS if s == operand else None, "equals")
    operand_is_bool = type(operand) is bool

    def pred(s: Any) -> Groups | None:
        # bool is an int in Python; keep `stream: true` from equalling 1.
        return _PASS if s == operand and (type(s) is bool) == operand_is_bool else None

    return Lookup("eq", operand, _any_element(pred), "equals")


def _string_lookup(
    name: str, verb: str, check: Callable[[str, str], bool]
) -> Callable[[Any], Lookup]:
    def build(operand: Any) -> Lookup:
        _need(isinstance(operand, str), name, "a string", operand)
        return Lookup(
            name,
            operand,
            _any_element(lambda s: _PASS if isinstance(s, str) and check(s, operand) else None),
            verb,
        )

    return build


def _contains(operand: Any) -> Lookup:
    _need(
        isinstance(operand, (str, int, float)) and not isinstance(operand, bool),
        "contains",
        "a string",
        operand,
    )
    text = str(operand)

    def pred(s: Any) -> Groups | None:
        if isinstance(s, str):
            return _PASS if text in s else None
        if isinstance(s, Mapping):  # json_path to an object: "has this key"
            return _PASS if operand in s else None
        return _PASS if s == operand else None

    return Lookup("contains", operand, _any_element(pred), "contains")


def _regex(operand: Any) -> Lookup:
    _need(isinstance(operand, str), "regex", "a string", operand)
    book = _REGEX_BOOK.get()
    names = book.known.get(operand) if book is not None else None
    if names is not None:
        pattern: re.Pattern[str] | _LaterPattern = _LaterPattern(operand)
    else:
        try:
            compiled = re.compile(operand)
        except re.error as exc:
            raise ConditionError(f"bad regex {operand!r}: {exc}") from None
        pattern = compiled
        names = tuple(compiled.groupindex)
        if book is not None:
            book.compiled[operand] = names

    def pred(s: Any) -> Groups | None:
        if not isinstance(s, str):
            return None
        found = pattern.search(s)
        if found is None:
            return None
        return found.groupdict(default="") if names else _PASS

    return Lookup("regex", operand, _any_element(pred), "matches regex", frozenset(names))


class _LaterPattern:
    """A regex known to compile (:class:`RegexBook`), compiled when first searched."""

    __slots__ = ("_compiled", "_source")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def search(self, text: str) -> re.Match[str] | None:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source)
        return compiled.search(text)


class RegexBook:
    """The group names of regexes that compiled before, so a load may skip compiling them.

    Compiling a regex is what a scenario's load mostly costs (about 70 µs each, so
    0.7 s for 10,000 scenarios). A regex that compiled once compiles again with the same
    Python, so the loader keeps, per scenario file, the group names of the regexes the
    file's last load compiled (``known``), and gives them to :meth:`use` while it
    compiles that file again: those regexes compile on their first search instead; any
    other is compiled at once (a bad one is still a load error) and noted in
    ``compiled``.
    """

    __slots__ = ("compiled", "known")

    def __init__(self, known: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.known: Mapping[str, tuple[str, ...]] = known or {}
        self.compiled: dict[str, tuple[str, ...]] = {}

    @contextmanager
    def use(self) -> Iterator[RegexBook]:
        """Regex lookups compiled inside the ``with`` block consult this book."""
        token = _REGEX_BOOK.set(self)
        try:
            yield self
        finally:
            _REGEX_BOOK.reset(token)


# The book of the load running in this context (RegexBook.use), if any.
_REGEX_BOOK: ContextVar[RegexBook | None] = ContextVar("mockllm_regex_book", default=None)


def _in(operand: Any) -> Lookup:
    _need(isinstance(operand, list), "in", "a list", operand)
    members = list(operand)
    return Lookup("in", operand, _any_element(lambda s: _PASS if s in members else None), "is in")


def _exists(operand: Any) -> Lookup:
    _need(isinstance(operand, bool), "exists", "true or false", operand)
    return Lookup(
        "exists",
        operand,
        lambda s: _PASS if (s is not None and s != []) is operand else None,
        "exists",
    )


def _compare(
    name: str, verb: str, check: Callable[[float, float], bool]
) -> Callable[[Any], Lookup]:
    def build(operand: Any) -> Lookup:
        _need(_is_number(operand), name, "a number", operand)
        return Lookup(
            name,
            operand,
            _any_element(lambda s: _PASS if _is_number(s) and check(s, operand) else None),
            verb,
        )

    return build


def _not(operand: Any) -> Lookup:
    inner = compile_lookups(operand)

    def test(s: Any) -> Groups | None:
        for lookup in inner:
            if lookup.test(s) is None:
                return _PASS
        return None

    described = " and ".join(f"{lk.verb} {_show(lk.operand)}" for lk in inner)
    return Lookup("not", operand, test, described)


LOOKUPS: Mapping[str, Callable[[Any], Lookup]] = MappingProxyType(
    {
        "eq": _eq,
        "contains": _contains,
        "regex": _regex,
        "startswith": _string_lookup("startswith", "starts with", str.startswith),
        "endswith": _string_lookup("endswith", "ends with", str.endswith),
        "in": _in,
        "exists": _exists,
        "not": _not,
        "gt": _compare("gt", "is greater than", lambda a, b: a > b),
        "lt": _compare("lt", "is less than", lambda a, b: a < b),
        "ge": _compare("ge", "is at least", lambda a, b: a >= b),
        "le": _compare("le", "is at most", lambda a, b: a <= b),
    }
)


def compile_lookups(spec: Any, *, reserved: Iterable[str] = ()) -> tuple[Lookup, ...]:
    """Compile ``value`` (equality) or ``{lookup: operand, ...}`` (all must hold).

    ``reserved`` keys of the mapping are left to the caller (``path`` of json_path).
    A bare list is refused: it could mean "one of" or "exactly", so ask for ``in``/``eq``.
    """
    if isinstance(spec, list):
        raise ConditionError(
            "a bare list is ambiguous: write {in: [...]} for one of them "
            "or {eq: [...]} for exactly this list"
        )
    if not isinstance(spec, Mapping):
        return (_eq(spec),)
    skip = set(reserved)
    lookups = []
    for name, operand in spec.items():
        if name in skip:
            continue
        build = LOOKUPS.get(name)
        if build is None:
            raise ConditionError(
                f"unknown lookup {name!r}{did_you_mean(name, LOOKUPS)} "
                f"(known: {', '.join(LOOKUPS)})",
                (name,),
            )
        try:
            lookups.append(build(operand))
        except ConditionError as exc:
            raise exc.under(name) from None
    if not lookups:
        raise ConditionError(f"no lookup given (known: {', '.join(LOOKUPS)})")
    return tuple(lookups)


# ---------------------------------------------------------------------- conditions


def merge_groups(results: Iterable[Groups | None]) -> Groups | None:
    """All groups of ``results`` merged, or None at the first failure (lazy: the
    rest of a generator is not evaluated)."""
    merged: dict[str, str] | None = None
    for found in results:
        if found is None:
            return None
        if found:
            merged = {**(merged or {}), **found}
    return merged if merged is not None else _PASS


class Condition(Protocol):
    """A compiled condition of a scenario."""

    name: str
    # Regex group names this condition can bind (template variables).
    groups: frozenset[str]

    def evaluate(self, view: RequestView) -> Groups | None:
        """Regex groups (maybe empty) when the condition holds, None when it fails."""

    def explain(self, view: RequestView) -> list[str]:
        """Why the condition fails for ``view``; empty when it holds."""


class SubjectCondition:
    """Lookups applied to one subject extracted from the request."""

    __slots__ = ("groups", "label", "lookups", "memo_key", "name", "subject")

    def __init__(
        self,
        name: str,
        subject: Callable[[RequestView], Any],
        lookups: tuple[Lookup, ...],
        *,
        label: str | None = None,
        memo_key: Hashable = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.subject = subject
        self.lookups = lookups
        # The request view caches the subject under this key: the subject function,
        # or (reader, key) for a keyed condition, so scenarios share the work.
        self.memo_key: Hashable = subject if memo_key is None else memo_key
        self.groups = frozenset().union(*(lk.groups for lk in lookups))

    def evaluate(self, view: RequestView) -> Groups | None:
        """Groups when every lookup holds for the subject, else None."""
        subject = view.memo(self.subject, self.memo_key)
        lookups = self.lookups
        if len(lookups) == 1:
            return lookups[0].test(subject)
        return merge_groups(lookup.test(subject) for lookup in lookups)

    def explain(self, view: RequestView) -> list[str]:
        """One reason per failing lookup."""
        subject = view.memo(self.subject, self.memo_key)
        return [r for lk in self.lookups if (r := lk.explain(self.label, subject)) is not None]


class AllOf:
    """Several sub-conditions under one name (``metadata``, ``headers``, ``json_path``)."""

    __slots__ = ("groups", "name", "parts")

    def __init__(self, name: str, parts: tuple[SubjectCondition, ...]) -> None:
        self.name = name
        self.parts = parts
        self.groups = frozenset().union(*(p.groups for p in parts))

    def evaluate(self, view: RequestView) -> Groups | None:
        """Merged groups when every part holds."""
        return merge_groups(part.evaluate(view) for part in self.parts)

    def explain(self, view: RequestView) -> list[str]:
        """Reasons of every failing part."""
        return [r for p in self.parts for r in p.explain(view)]


class Matcher(Protocol):
    """Turns a condition's YAML value into a ``Condition``; raises ConditionError."""

    @property
    def description(self) -> str:
        """What the condition looks at, for listings."""

    def compile(self, name: str, value: Any) -> Condition:
        """The condition ``name: value``."""


@dataclass(frozen=True, slots=True)
class SubjectMatcher:
    """A matcher whose value is lookups on one subject ``subject(view)``."""

    subject: Callable[[RequestView], Any]
    description: str = ""

    def compile(self, name: str, value: Any) -> Condition:
        """``name: value`` or ``name: {lookup: operand}``."""
        return SubjectCondition(name, self.subject, compile_lookups(value))


@dataclass(frozen=True, slots=True)
class KeyedMatcher:
    """Lookups per key of a mapping in the request (``metadata``, ``headers``).

    ``name: key`` or ``name: [k1, k2]`` ask that the keys exist; ``name: {key: spec}``
    applies ``spec`` (a value or lookups) to each key's value.
    """

    value_of: Callable[[RequestView, str], Any]
    description: str = ""
    fold_case: bool = False

    def compile(self, name: str, value: Any) -> Condition:
        """One SubjectCondition per key, all of which must hold."""
        if isinstance(value, str):
            value = {value: {"exists": True}}
        elif isinstance(value, list) and all(isinstance(k, str) for k in value):
            value = {k: {"exists": True} for k in value}
        if not isinstance(value, Mapping) or not value:
            raise ConditionError(f"{name} takes a key, a list of keys or a mapping of key: value")
        parts = []
        for key, spec in value.items():
            wanted = str(key).lower() if self.fold_case else str(key)
            try:
                lookups = compile_lookups(spec)
            except ConditionError as exc:
                raise exc.under(key) from None
            parts.append(
                SubjectCondition(
                    name,
                    _value_at(self.value_of, wanted),
                    lookups,
                    label=f"{name}.{key}",
                    memo_key=(self.value_of, wanted),
                )
            )
        return AllOf(name, tuple(parts))


def _value_at(
    value_of: Callable[[RequestView, str], Any], key: str
) -> Callable[[RequestView], Any]:
    return lambda view: value_of(view, key)


def _metadata_value(view: RequestView, key: str) -> Any:
    metadata = view.body.get("metadata")
    return metadata.get(key) if isinstance(metadata, Mapping) else None


def _header_value(view: RequestView, key: str) -> Any:
    return view.headers.get(key)


_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][\w-]*)|\[(-?\d+|\*)\]|\[(['\"])(.*?)\3\]")


def compile_json_path(path: str) -> tuple[str | int | None, ...]:
    """``$.a.b[0]['c d'][*]`` -> ("a", "b", 0, "c d", None); None stands for ``[*]``."""
    text = path[1:] if path.startswith("$") else path
    steps: list[str | int | None] = []
    pos = 0
    while pos < len(text):
        found = _PATH_TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise ConditionError(f"bad path {path!r} at {text[pos:]!r}")
        name, index, _, quoted = found.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(None if index == "*" else int(index))
        else:
            steps.append(quoted)
        pos = found.end()
    if not steps:
        raise ConditionError(f"empty path {path!r}")
    return tuple(steps)


def _walk(value: Any, steps: tuple[str | int | None, ...]) -> Any:
    for i, step in enumerate(steps):
        if step is None:
            if not isinstance(value, list):
                return None
            rest = steps[i + 1 :]
            found = [_walk(item, rest) for item in value]
            return [f for f in found if f is not None]
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def _walker(steps: tuple[str | int | None, ...]) -> Callable[[RequestView], Any]:
    return lambda view: _walk(view.body, steps)


@dataclass(frozen=True, slots=True)
class JsonPathMatcher:
    """``json_path: {path: "temperature", gt: 1}`` (or a list of those): any body field."""

    description: str = ""

    def compile(self, name: str, value: Any) -> Condition:
        """One SubjectCondition per path; a path alone asks that it exists."""
        specs = value if isinstance(value, list) else [value]
        parts = []
        for i, spec in enumerate(specs):
            prefix: KeyPath = (i,) if isinstance(value, list) else ()
            if isinstance(spec, str):
                spec = {"path": spec}
            try:
                if not isinstance(spec, Mapping) or not isinstance(spec.get("path"), str):
                    raise ConditionError("json_path takes {path: ..., <lookup>: ...}")
                try:
                    steps = compile_json_path(spec["path"])
                except ConditionError as exc:
                    raise exc.under("path") from None
                if len(spec) == 1:
                    spec = {**spec, "exists": True}
                lookups = compile_lookups(spec, reserved=("path",))
            except ConditionError as exc:
                raise exc.under(*prefix) from None
            parts.append(
                SubjectCondition(name, _walker(steps), lookups, label=f"{name}({spec['path']})")
            )
        return AllOf(name, tuple(parts))


@dataclass(frozen=True, slots=True)
class ToolResultMatcher:
    """``tool_result: get_weather`` (a result for that tool is present) or
    ``tool_result: {name: get_weather, contains: "sunny"}`` (lookups on the result texts)."""

    description: str = ""

    def compile(self, name: str, value: Any) -> Condition:
        """Lookups on the texts of the (named tool's) results; default: some exist."""
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise ConditionError("tool_result takes a tool name or {name: ..., <lookup>: ...}")
        tool = value.get("name")
        if tool is not None and not isinstance(tool, str):
            raise ConditionError(f"name must be a string, got {_show(tool)}", ("name",))
        spec = value if len(value) > (tool is not None) else {**value, "exists": True}
        lookups = compile_lookups(spec, reserved=("name",))

        def texts(view: RequestView) -> list[str]:
            return [t for n, t in view.memo(_tool_results) if tool is None or n == tool]

        return SubjectCondition(name, texts, lookups, label=f"{name}({tool})" if tool else name)


# Conditions whose plain string value can index scenarios (see scenario._Index): the
# subject functions are shared so the index and the condition memoize one value.
INDEXABLE: Mapping[str, Callable[[RequestView], Any]] = MappingProxyType(
    {
        "model": _model,
        "last_user_message": _last_user_message,
    }
)


class MatcherRegistry:
    """Condition name -> Matcher. Build one with ``default_registry()`` and extend it."""

    __slots__ = ("_matchers",)

    def __init__(self, matchers: Mapping[str, Matcher] | None = None) -> None:
        self._matchers: dict[str, Matcher] = dict(matchers or {})

    def register(
        self, name: str, subject: Callable[[RequestView], Any], description: str = ""
    ) -> None:
        """Add a condition ``name`` whose lookups apply to ``subject(view)``."""
        self.register_matcher(name, SubjectMatcher(subject, description))

    def register_matcher(self, name: str, matcher: Matcher) -> None:
        """Add (or replace) a condition with its own way of reading the YAML value."""
        self._matchers[name] = matcher

    def matcher(self, name: str) -> Matcher | None:
        """The matcher of condition ``name``, if registered."""
        return self._matchers.get(name)

    def names(self) -> list[str]:
        """Known condition names, sorted."""
        return sorted(self._matchers)

    def __contains__(self, name: object) -> bool:
        return name in self._matchers

    def compile(self, name: str, value: Any) -> Condition:
        """The condition ``name: value``; an unknown name lists the known ones."""
        matcher = self._matchers.get(name)
        if matcher is None:
            raise ConditionError(
                f"unknown condition {name!r}{did_you_mean(name, self.names())} "
                f"(known: {', '.join(self.names())})"
            )
        return matcher.compile(name, value)


def default_registry() -> MatcherRegistry:
    """A fresh registry of the built-in conditions (docs/scenarios.md lists them)."""
    s = SubjectMatcher
    return MatcherRegistry(
        {
            "model": s(INDEXABLE["model"], "the request's model"),
            "last_user_message": s(INDEXABLE["last_user_message"], "text of the last user message"),
            "any_message": s(_any_message, "the text of any message"),
            "system_message": s(_system_message, "text of the system and developer messages"),
            "last_role": s(_last_role, "role of the last message"),
            "tools": s(_tools, "names of the offered tools"),
            "tool_choice": s(_tool_choice, "none, auto, required, or the forced function's name"),
            "tool_result": ToolResultMatcher("tool results, by tool name or text"),
            "stream": s(_stream, "whether the reply streams"),
            "response_format": s(_response_format, "response_format type"),
            "modalities": s(_modalities, "requested output modalities"),
            "metadata": KeyedMatcher(_metadata_value, "request metadata keys and values"),
            "headers": KeyedMatcher(_header_value, "request headers", fold_case=True),
            "turn": s(lambda v: v.turn, "number of user messages"),
            "path": s(_path, "the request path"),
            "surface": s(_surface, "the API the request came through: chat, responses..."),
            "json_path": JsonPathMatcher("any field of the body by path"),
        }
    )


# ------------------------------------------------------------------- overrides


@dataclass(frozen=True, slots=True)
class Overrides:
    """Per-request choices from ``Prefer: scenario=NAME, seed=N`` (or ``?__scenario=``)."""

    scenario: str | None = None
    seed: int | None = None


_NO_OVERRIDES = Overrides()


def _preferences(header: str) -> Iterator[tuple[str, str]]:
    """``token=value`` pairs of a Prefer header (RFC 7240), parameters after ``;`` ignored."""
    for item in header.split(","):
        token, _, value = item.split(";", 1)[0].partition("=")
        yield token.strip().lower(), value.strip().strip('"')


_CASE_INSENSITIVE = (CIMultiDict, CIMultiDictProxy)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None or isinstance(headers, _CASE_INSENSITIVE):
        return value  # a server's header mapping already ignores case: no scan needed
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def parse_overrides(headers: Mapping[str, str], query: Mapping[str, str]) -> Overrides:
    """Read the ``Prefer`` header, then ``__scenario``/``__seed`` query parameters.

    The header wins over the query. A seed that is not an integer, or an empty
    scenario name, is a BadRequestError naming where it came from.
    """
    prefer = _header(headers, "Prefer")
    if not prefer and not query:
        return _NO_OVERRIDES  # what nearly every request sends: nothing to read
    found: dict[str, tuple[str, str]] = {}
    if prefer:
        for token, value in _preferences(prefer):
            if token in ("scenario", "seed"):
                found.setdefault(token, (value, f"Prefer: {token}={value}"))
    for token in ("scenario", "seed"):
        raw = query.get(f"__{token}")
        if raw is not None and token not in found:
            found[token] = (raw, f"?__{token}={raw}")
    scenario = seed = None
    if "scenario" in found:
        scenario, where = found["scenario"]
        if not scenario:
            raise BadRequestError(f"{where}: the scenario name is empty", param="Prefer")
    if "seed" in found:
        raw, where = found["seed"]
        try:
            seed = int(raw)
        except ValueError:
            raise BadRequestError(f"{where}: the seed must be an integer", param="Prefer") from None
    return Overrides(scenario=scenario, seed=seed)
