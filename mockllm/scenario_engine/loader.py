"""Scenario files -> frozen Scenario objects, with errors that name file, line and key.

Three steps, all at load time so a broken file never fails a request:

1. a safe YAML loader that remembers the line of every key and list item (and
   refuses duplicate keys, which YAML would silently overwrite);
2. each scenario checked against ``schemas/scenario.schema.json``;
3. conditions compiled through the matcher registry (unknown names and lookups,
   bad regexes) and reply templates compiled by the template engine.

A file holds one scenario, a list of them, or ``{scenarios: [...]}`` (beside which a
``models:`` section adds to the model catalog, read by :mod:`mockllm.catalog`). Folders
give their ``*.yaml``/``*.yml`` files in name order.

Building the YAML and compiling regexes are most of what a large file costs (about
0.1 s per 1,000 scenarios), and both give the same result for the same text, so the
user cache (:mod:`mockllm.diskcache`) keeps, per file text, the parsed YAML and the
group names of the regexes that compiled; a file loaded before skips both (its regexes
compile on first use). Every step after the parse runs on every load, and a load that
fails is done again from the YAML, so errors name the same line either way.

``ScenarioWatcher`` polls file times so a server can reload changed files (keeping
the last good set when a file breaks).
"""

from __future__ import annotations

import dataclasses
import json
import marshal
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

from ..diskcache import cache_name, read_cached, read_marshalled, write_cached
from ..errors import ConditionError, ScenarioLoadError, TemplateProblem, YamlProblem
from ..resources import data_dir
from ..schemaset import fast_validator
from ..state import RuntimeScenario
from .conditions import (
    INDEXABLE,
    Condition,
    KeyPath,
    MatcherRegistry,
    RegexBook,
    SubjectMatcher,
    default_registry,
    did_you_mean,
)

# A key path as errors name it (``scenarios[2].reply.content``), for the catalog's errors too.
from .conditions import format_key_path as format_path
from .sandbox import DEFAULT_MAX_REPLY_CHARS
from .scenarioset import After, Conversation, Scenario, ScenarioSet
from .templating import TEMPLATE_VARIABLES, CompiledReply, TemplateEngine

__all__ = [
    "ScenarioLoader",
    "ScenarioWatcher",
    "check_paths",
    "format_path",
    "line_of",
    "load_scenario_data",
    "load_scenarios",
    "locate",
    "parse_yaml",
    "scenario_files",
]

_SCHEMA_FILE = "scenario.schema.json"
_DEFAULT_REPLY = CompiledReply(None, True)


# ------------------------------------------------------------- YAML with lines


class _LineDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that knows the line of each of its keys."""

    __slots__ = ("key_lines", "line")
    line: int
    key_lines: dict[Any, int]


class _LineList(list):  # type: ignore[type-arg]
    """A YAML sequence that knows the line of each of its items."""

    __slots__ = ("item_lines", "line")
    line: int
    item_lines: list[int]


def _line_loader() -> Any:
    """PyYAML's safe loader (no Python objects), building line-aware containers; made
    when a file is parsed (a file parsed before comes from the cache without PyYAML)."""
    import yaml

    base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("_LineLoader", (base,), {})
    loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
    return loader


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)  # merge keys (<<)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in data
        except TypeError:
            raise YamlProblem(f"a mapping key must be a scalar, got {key!r}", line) from None
        if duplicate:
            raise YamlProblem(
                f"duplicate key {key!r} (first at line {data.key_lines[key]})", line, key
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = line
    return data


def _construct_sequence(loader: Any, node: yaml.SequenceNode) -> _LineList:
    data = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    return data


def parse_yaml(text: str, source: str) -> Any:
    """``text`` as safe YAML whose mappings and lists know their lines (for
    :func:`line_of`); bad YAML or a duplicate key is a ``ScenarioLoadError`` naming
    ``source`` and the line."""
    import yaml

    try:
        return yaml.load(text, Loader=_line_loader())  # noqa: S506 - a SafeLoader subclass
    except YamlProblem as exc:
        raise ScenarioLoadError(exc.message, path=source, line=exc.line, key=str(exc.key)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"bad YAML: {problem}" + (f" ({context})" if context else "")
        line = mark.line + 1 if mark is not None else None
        tabbed = _tab_indented(text, line)
        if tabbed is not None:
            line, message = (
                tabbed,
                (
                    "a tab indents this line: YAML indents with spaces only "
                    f"(replace the tab with spaces) [{message}]"
                ),
            )
        raise ScenarioLoadError(message, path=source, line=line) from None


def _tab_indented(text: str, near: int | None) -> int | None:
    """The line (1-based) of a tab in the indentation at or before line ``near``, the
    first one in the file without ``near``; None when no line is indented with a tab."""
    lines = text.splitlines()
    last = len(lines) if near is None else min(near, len(lines))
    tabbed = [
        n
        for n, line in enumerate(lines[:last], 1)
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))]
    ]
    if not tabbed:
        return None
    return tabbed[-1] if near is not None else tabbed[0]


def _parse_file(text: str, source: str, *, parsed_before: bool) -> Any:
    """The YAML of a scenario file. Constructing it is most of what loading a large file
    costs, so the parse is kept in the user cache (named by a hash of the text): with
    ``parsed_before``, a file parsed on an earlier run comes back from there, with the
    lines of the file and of its scenarios but not of the keys inside them."""
    name = cache_name("yaml", f"{_PARSE_FORMAT}\n{sys.version}\n{text}".encode(), ".marshal")
    if parsed_before:
        found = read_marshalled(name)
        if isinstance(found, tuple) and len(found) == 2:
            return _with_lines(*found)
    root = parse_yaml(text, source)
    try:
        kept = marshal.dumps((_plain(root), _lines(root)))
    except ValueError:
        pass  # a value marshal cannot keep (a YAML timestamp): parse it every time
    else:
        write_cached(name, kept)
    return root


# Changes whenever what _parse_file keeps changes.
_PARSE_FORMAT = 1


def _plain(node: Any) -> Any:
    """``node`` with plain dicts and lists for the line-aware ones (what marshal keeps)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


def _lines(root: Any) -> Any:
    """The lines of ``root`` and of the list of its scenarios: (line, key or item lines,
    lines of the ``scenarios`` list or None)."""
    if isinstance(root, _LineList):
        return (root.line, root.item_lines, None)
    if isinstance(root, _LineDict):
        items = root.get("scenarios")
        inner = (items.line, items.item_lines, None) if isinstance(items, _LineList) else None
        return (root.line, root.key_lines, inner)
    return None


def _with_lines(data: Any, lines: Any) -> Any:
    """``data`` with the lines ``_lines`` kept (the inverse, as deep as it went)."""
    if not (isinstance(lines, tuple) and len(lines) == 3):
        return data
    line, where, inner = lines
    if isinstance(data, list) and isinstance(where, list):
        out: Any = _LineList(data)
        out.item_lines = where
    elif isinstance(data, dict) and isinstance(where, dict):
        out = _LineDict(data)
        out.key_lines = where
        if inner is not None and "scenarios" in out:
            out["scenarios"] = _with_lines(out["scenarios"], inner)
    else:
        return data
    out.line = line
    return out


def line_of(root: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest part of ``path`` that the YAML recorded."""
    node, line = root, getattr(root, "line", None)
    for step in path:
        if isinstance(node, _LineDict) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, _LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        elif isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            break
    return line


def locate(source: str, key_path: Sequence[str | int]) -> str:
    """``file:line`` of ``key_path`` inside the scenario at ``source`` (its ``file:line``),
    read again from the file: a file loaded from the cache knows only its scenarios'
    lines. ``source`` itself when the file is gone, changed or not a file."""
    file, _, line = source.rpartition(":")
    if not line.isdigit() or not Path(file).is_file():
        return source
    try:
        root = parse_yaml(Path(file).read_text(encoding="utf-8"), file)
        items = ScenarioLoader._split(root, file)  # noqa: SLF001 - the same walk as loading
    except (OSError, ScenarioLoadError):
        return source
    for item in items:
        if line_of(root, item.path) == int(line):
            return f"{file}:{line_of(root, (*item.path, *key_path)) or line}"
    return source


# --------------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class _Located:
    """One scenario's raw mapping, its file and its path from the file's root."""

    data: Any
    source: str
    root: Any
    path: KeyPath


def _fingerprint(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def _index_of(
    when: Mapping[str, Any], registry: MatcherRegistry
) -> tuple[str, frozenset[str]] | None:
    """An exact string value (or ``in`` list) of an indexable condition, if any."""
    for name in ("last_user_message", "model"):  # the more selective first
        spec = when.get(name)
        matcher = registry.matcher(name)
        if not (isinstance(matcher, SubjectMatcher) and matcher.subject is INDEXABLE[name]):
            continue
        if isinstance(spec, str):
            return name, frozenset((spec,))
        if isinstance(spec, Mapping) and len(spec) == 1:
            ((lookup, operand),) = spec.items()
            if lookup == "eq" and isinstance(operand, str):
                return name, frozenset((operand,))
            if (
                lookup == "in"
                and isinstance(operand, list)
                and operand
                and all(isinstance(v, str) for v in operand)
            ):
                return name, frozenset(operand)
    return None


@dataclass(slots=True)
class ScenarioLoader:
    """Loads scenarios with one registry, one template engine and one schema validator.

    Build it once (at app start) and reuse it for reloads and the control API, so
    compiled templates and the validator are shared.
    """

    registry: MatcherRegistry = field(default_factory=default_registry)
    engine: TemplateEngine = field(default_factory=TemplateEngine)
    _schema: dict[str, Any] = field(init=False, repr=False)
    _validator: Any = field(init=False, default=None, repr=False)
    _fast: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        schema = json.loads((data_dir("schemas") / _SCHEMA_FILE).read_text(encoding="utf-8"))
        self._schema = {"$defs": schema["$defs"], "$ref": "#/$defs/scenario"}

    def _fast_check(self) -> Any:
        """jsonschema-rs's check, far faster than jsonschema per scenario (which
        words the errors of an invalid one)."""
        if self._fast is None:
            self._fast = fast_validator(self._schema)
        return self._fast

    def load_paths(self, paths: Sequence[Path] | None) -> list[Scenario]:
        """Every scenario of ``paths`` (files or folders); None/empty: the built-in ones."""
        files = scenario_files(paths or [data_dir("scenarios")])
        texts: list[tuple[Path, str]] = []
        for file in files:
            try:
                texts.append((file, file.read_text(encoding="utf-8")))
            except OSError as exc:
                raise ScenarioLoadError(f"cannot read: {exc.strerror}", path=str(file)) from None
        try:
            return self._load_texts(texts, parsed_before=True)
        except ScenarioLoadError:
            # A file parsed on an earlier run carries the lines of its scenarios only:
            # parse them all again, so the error names the exact line.
            return self._load_texts(texts, parsed_before=False)

    def _load_texts(
        self, texts: Sequence[tuple[Path, str]], *, parsed_before: bool
    ) -> list[Scenario]:
        located: list[_Located] = []
        books: dict[str, tuple[str, RegexBook]] = {}
        for file, text in texts:
            root = _parse_file(text, str(file), parsed_before=parsed_before)
            located.extend(self._split(root, str(file)))
            books[str(file)] = _regex_book(text)
        scenarios = self._build(located, {source: book for source, (_, book) in books.items()})
        for name, book in books.values():
            if book.compiled:
                write_cached(name, json.dumps({**book.known, **book.compiled}).encode())
        return scenarios

    def load_data(self, data: Any, source: str = "<data>") -> list[Scenario]:
        """Scenarios from a YAML string or already-parsed data (a dict or a list)."""
        if isinstance(data, str):
            data = parse_yaml(data, source)
        return self._build(self._split(data, source))

    def load_runtime(self, runtime: RuntimeScenario) -> Scenario:
        """Compile a scenario another process added at run time (its stored definition)."""
        [scenario] = self.load_data(json.loads(runtime.definition), "<added>")
        return dataclasses.replace(scenario, source=runtime.source)

    @classmethod
    def _split(cls, root: Any, source: str) -> list[_Located]:
        if root is None:
            return []
        if isinstance(root, list):
            return [_Located(item, source, root, (i,)) for i, item in enumerate(root)]
        if isinstance(root, Mapping) and ("scenarios" in root or set(root) == {"models"}):
            # `models:` is the file's part of the model catalog (mockllm/catalog reads it).
            extra = sorted(set(root) - {"scenarios", "models"})
            if extra:
                raise cls._error(
                    "unexpected top-level key next to `scenarios`", source, root, (extra[0],)
                )
            items = root.get("scenarios", [])
            if not isinstance(items, list):
                raise cls._error("`scenarios` must be a list", source, root, ("scenarios",))
            return [_Located(item, source, root, ("scenarios", i)) for i, item in enumerate(items)]
        if isinstance(root, Mapping):
            return [_Located(root, source, root, ())]
        raise cls._error(
            "a scenario file holds a scenario, a list of scenarios or {scenarios: [...]}",
            source,
            root,
            (),
        )

    @staticmethod
    def _error(
        message: str, source: str, root: Any, path: Sequence[str | int]
    ) -> ScenarioLoadError:
        return ScenarioLoadError(
            message, path=source, line=line_of(root, path), key=format_path(path)
        )

    def _build(
        self, located: Sequence[_Located], books: Mapping[str, RegexBook] | None = None
    ) -> list[Scenario]:
        scenarios: list[Scenario] = []
        seen: dict[str, str] = {}
        fast = self._fast_check() if located else None
        books = books or {}
        for item in located:
            book = books.get(item.source)
            if book is None:
                scenario = self._scenario(item, fast)
            else:
                with book.use():
                    scenario = self._scenario(item, fast)
            if scenario.name in seen:
                raise self._error(
                    f"duplicate scenario name {scenario.name!r} (also at {seen[scenario.name]})",
                    item.source,
                    item.root,
                    (*item.path, "name"),
                )
            seen[scenario.name] = scenario.source
            scenarios.append(scenario)
        return scenarios

    def _scenario(
        self, item: _Located, fast: Any, problems: list[ScenarioLoadError] | None = None
    ) -> Scenario:
        """The scenario of ``item``; its first problem raised, or with ``problems``, each
        condition and reply that does not compile appended there."""
        data, path = item.data, item.path

        def fail(message: str, *where: str | int) -> ScenarioLoadError:
            return self._error(message, item.source, item.root, (*path, *where))

        if fast is None or not fast.is_valid(data):
            self._check_schema(item)  # the detailed (slower) check words the error
        when = data.get("when") or {}
        conditions: list[Condition] = []
        for name, value in when.items():
            try:
                conditions.append(self.registry.compile(str(name), value))
            except ConditionError as exc:
                if problems is None:
                    raise fail(exc.reason, "when", name, *exc.path) from None
                problems.append(fail(exc.reason, "when", name, *exc.path))
        groups = frozenset().union(*(c.groups for c in conditions))
        clash = sorted(groups & set(TEMPLATE_VARIABLES))
        if clash:
            raise fail(
                f"regex group name {clash[0]!r} is reserved for templates "
                f"({', '.join(TEMPLATE_VARIABLES)})",
                "when",
            )
        if "reply" in data and "sequence" in data:
            raise fail("give either `reply` or `sequence`, not both", "sequence")
        if "after" in data and "sequence" not in data:
            raise fail("`after` only applies to a `sequence`", "after")
        steps: list[tuple[Any, KeyPath]] = (
            [(step, ("sequence", i)) for i, step in enumerate(data["sequence"])]
            if "sequence" in data
            else [(data.get("reply"), ("reply",))]
        )
        replies = []
        for spec, where in steps:
            if not spec:  # null or {}: the default reply
                replies.append(_DEFAULT_REPLY)
                continue
            try:
                replies.append(self.engine.compile_reply(spec, where, groups))
            except TemplateProblem as exc:
                if problems is None:
                    raise fail(exc.reason, *exc.path) from None
                problems.append(fail(exc.reason, *exc.path))
        conversation = None
        if "conversation" in data:
            conv = data["conversation"]
            if conv["key"] == "header" and not conv.get("header"):
                raise fail("conversation key `header` needs `header: <name>`", "conversation")
            conversation = Conversation(conv["key"], str(conv.get("header", "")).lower())
        return Scenario(
            name=data["name"],
            conditions=tuple(conditions),
            replies=tuple(replies),
            sequence="sequence" in data,
            after=After(data.get("after", After.REPEAT_LAST.value)),
            times=data.get("times"),
            priority=data.get("priority", 0),
            conversation=conversation,
            description=data.get("description", ""),
            source=f"{item.source}:{line_of(item.root, path) or 1}",
            fingerprint=_fingerprint(data),
            group_names=groups,
            index=_index_of(when, self.registry),
        )

    def _validator_of(self) -> Any:
        import jsonschema  # only to word errors: for a scenario the fast check refused

        if self._validator is None:
            self._validator = jsonschema.Draft202012Validator(self._schema)
        return self._validator

    def _check_schema(self, item: _Located) -> None:
        import jsonschema

        error = jsonschema.exceptions.best_match(self._validator_of().iter_errors(item.data))
        if error is not None:
            raise self._schema_errors(item, error)[0]

    def _schema_problems(self, item: _Located) -> list[ScenarioLoadError]:
        """Every way ``item`` breaks the scenario schema, one error each, in file order."""
        import jsonschema

        found: list[ScenarioLoadError] = []
        for error in self._validator_of().iter_errors(item.data):
            found.extend(self._schema_errors(item, jsonschema.exceptions.best_match([error])))
        found.sort(key=lambda e: e.line or 0)
        return found

    def _schema_errors(self, item: _Located, error: Any) -> list[ScenarioLoadError]:
        """A schema error as load errors: one per unknown key (with the known name it is
        close to), else one."""
        where = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set(error.schema.get("properties", {}))
            extra = sorted(str(k) for k in error.instance if k not in allowed)
            if extra:
                return [
                    self._error(
                        f"unknown key {key!r}{did_you_mean(key, allowed)} "
                        f"(known: {', '.join(sorted(allowed))})",
                        item.source,
                        item.root,
                        (*item.path, *where, key),
                    )
                    for key in extra
                ]
        message = error.message
        if error.validator == "required":
            message = error.message.replace("is a required property", "is required")
        return [self._error(message, item.source, item.root, (*item.path, *where))]

    def check_file(self, file: Path) -> tuple[list[Scenario], list[ScenarioLoadError]]:
        """``mockllm check`` of one file: its scenarios, and every problem found in it
        (each scenario's every schema problem, else each condition and reply that does
        not compile), where loading stops at the first."""
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            return [], [ScenarioLoadError(f"cannot read: {exc.strerror}", path=str(file))]
        try:
            root = _parse_file(text, str(file), parsed_before=False)
            items = self._split(root, str(file))
        except ScenarioLoadError as exc:
            return [], [exc]
        scenarios: list[Scenario] = []
        problems: list[ScenarioLoadError] = []
        fast = self._fast_check() if items else None
        for item in items:  # regexes compiled, not taken from an earlier run's book
            found = self._schema_problems(item)
            if not found:
                try:
                    scenario = self._scenario(item, fast, found)
                except ScenarioLoadError as exc:
                    found.append(exc)
                else:
                    if not found:
                        scenarios.append(scenario)
            problems.extend(found)
        return scenarios, problems


def _regex_book(text: str) -> tuple[str, RegexBook]:
    """The cache file of the regexes a scenario file's last load compiled (named by a
    hash of the file and of this Python), and a book of what it holds."""
    name = cache_name("regexes", f"{sys.version}\n{text}".encode(), ".json")
    known: dict[str, tuple[str, ...]] = {}
    data = read_cached(name)
    if data is not None:
        try:
            found = json.loads(data)
        except ValueError:
            found = None
        if isinstance(found, dict):
            known = {
                pattern: tuple(names)
                for pattern, names in found.items()
                if isinstance(names, list) and all(isinstance(n, str) for n in names)
            }
    return name, RegexBook(known)


def scenario_files(paths: Iterable[Path], *, missing_ok: bool = False) -> list[Path]:
    """The files to load: each file as given, each folder's YAML files in name order.

    A path that does not exist is an error, or skipped with ``missing_ok`` (the
    watcher's view: a file may vanish while an editor saves it).
    """
    files: list[Path] = []
    for path in map(Path, paths):
        try:
            if path.is_dir():
                files.extend(
                    sorted(
                        p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
                    )
                )
                continue
            if path.exists():
                files.append(path)
                continue
        except OSError:  # a folder that vanished between the check and the listing
            pass
        if not missing_ok:
            raise ScenarioLoadError("no such file or folder", path=str(path))
    return files


def load_scenarios(
    paths: Sequence[Path] | None = None,
    *,
    registry: MatcherRegistry | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> list[Scenario]:
    """Load scenario files or folders; None or empty: the built-in default scenarios.

    ``max_reply_chars`` bounds what the templates of one reply may render.
    """
    return _loader(registry, max_reply_chars).load_paths(paths)


def load_scenario_data(
    data: Any,
    source: str = "<data>",
    *,
    registry: MatcherRegistry | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> list[Scenario]:
    """Scenarios from a dict, a list, or a YAML string (the control API, Python tests)."""
    return _loader(registry, max_reply_chars).load_data(data, source)


def _loader(
    registry: MatcherRegistry | None, max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS
) -> ScenarioLoader:
    return ScenarioLoader(registry or default_registry(), TemplateEngine(max_reply_chars))


def check_paths(
    paths: Sequence[Path],
    *,
    registry: MatcherRegistry | None = None,
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
) -> list[str]:
    """``mockllm check``: every problem of every file, each naming file, line and key (a
    did-you-mean when a known name is close); an empty list means all load."""
    loader = _loader(registry, max_reply_chars)
    problems: list[str] = []
    names: dict[str, str] = {}
    for path in paths:
        try:
            files = scenario_files([path])
        except ScenarioLoadError as exc:
            problems.append(str(exc))
            continue
        for file in files:
            scenarios, found = loader.check_file(file)
            problems.extend(str(exc) for exc in found)
            for scenario in scenarios:  # names must be unique within and across files
                if scenario.name in names:
                    problems.append(
                        f"{scenario.source}: duplicate scenario name "
                        f"{scenario.name!r} (also at {names[scenario.name]})"
                    )
                names.setdefault(scenario.name, scenario.source)
    return problems


class ScenarioWatcher:
    """Polls the modification times of scenario files, for reloading.

    ``changed_files()`` is cheap (a stat per file) and needs no event loop; the app
    calls it from a background task and then ``reload()``.
    """

    __slots__ = ("_loader", "_seen", "paths")

    def __init__(
        self,
        paths: Sequence[Path],
        loader: ScenarioLoader | None = None,
        *,
        max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS,
    ) -> None:
        self.paths = tuple(map(Path, paths))
        self._loader = loader or _loader(None, max_reply_chars)
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[Path, tuple[int, int]]:
        seen: dict[Path, tuple[int, int]] = {}
        for file in scenario_files(self.paths, missing_ok=True):
            try:
                stat = file.stat()
            except OSError:
                continue
            seen[file] = (stat.st_mtime_ns, stat.st_size)
        return seen

    def changed_files(self) -> list[Path]:
        """Files added, removed or modified since the last call (or construction)."""
        now = self._snapshot()
        changed = sorted(
            p for p in now.keys() | self._seen.keys() if now.get(p) != self._seen.get(p)
        )
        self._seen = now
        return changed

    async def reload(self, scenario_set: ScenarioSet) -> ScenarioLoadError | None:
        """Re-read every file into ``scenario_set``; on a broken file keep the old set
        and return the error for the caller to report."""
        try:
            scenarios = self._loader.load_paths(self.paths)
        except ScenarioLoadError as exc:
            return exc
        await scenario_set.replace(scenarios)
        return None
