"""Scenarios and the scenario set: which scenario answers a request, and with which reply.

A ``Scenario`` is a frozen, compiled object (``loader.py`` builds them from YAML).
``ScenarioSet.resolve(view)`` picks the answer in this order (docs/scenarios.md,
"Resolution order"):

1. A ``Prefer: scenario=NAME`` override names the scenario; its conditions and
   ``times`` are not checked.
2. Otherwise scenarios are tried by ``priority`` (higher first), ties in load order.
   Scenarios that cannot match the request's model or last user message are ruled
   out by an index before any condition runs.
3. The first scenario whose conditions all hold and whose ``times`` is not used up
   (in the request's conversation, when it has ``conversation:``) wins; its use
   count picks the reply of a ``sequence:``.
4. No winner: strict sets raise ``NoScenarioMatchedError`` listing the near misses;
   others answer with the default reply.

Use counts live in the state store, keyed by scenario name and conversation key,
and survive ``replace()`` for scenarios whose definition did not change.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, overload

from ..errors import BadRequestError, ConfigError, NoScenarioMatchedError, TemplateRenderError
from ..state import MemoryStore, RuntimeScenario, StateStore
from .conditions import INDEXABLE, Condition, Groups, RequestView, merge_groups
from .templating import CompiledReply

__all__ = [
    "After",
    "Conversation",
    "Resolution",
    "Scenario",
    "ScenarioSet",
]

# How many near misses an explanation lists (the nearest first).
NEAR_MISS_LIMIT = 10


class After(StrEnum):
    """What a ``sequence:`` answers once its replies are used up."""

    REPEAT_LAST = "repeat_last"
    CYCLE = "cycle"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Conversation:
    """How requests are grouped into conversations for use counts and sequences."""

    key: str  # "header" or "first_user_message"
    header: str = ""  # lower-case header name when key == "header"

    def key_of(self, view: RequestView) -> str:
        """This request's conversation key ("" when the header or user message is missing)."""
        if self.key == "header":
            return view.headers.get(self.header, "")
        return view.first_user_message or ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One compiled scenario: conditions, replies and how often to use them."""

    name: str
    conditions: tuple[Condition, ...] = ()
    # One reply, or the steps of a sequence. A reply whose tree is None is the default.
    replies: tuple[CompiledReply, ...] = (CompiledReply(None, True),)
    sequence: bool = False
    after: After = After.REPEAT_LAST
    times: int | None = None
    priority: int = 0
    conversation: Conversation | None = None
    description: str = ""
    # "file.yaml:12", for messages.
    source: str = ""
    # Canonical text of the definition: equal fingerprints keep state on reload.
    fingerprint: str = ""
    # Regex group names the conditions can bind (template variables, "" when unbound).
    group_names: frozenset[str] = frozenset()
    # (condition, values): the request's value must be one of these, so the set can
    # index the scenario under them. None: the scenario may match any request.
    index: tuple[str, frozenset[str]] | None = None

    # Whether answering needs the use count now: a ``times``, a ``sequence``,
    # per-conversation counts or a reply reading ``call`` (computed, not given).
    counted: bool = field(init=False, compare=False, default=True)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "counted",
            (
                self.times is not None
                or self.sequence
                or self.conversation is not None
                or any(r.reads_call for r in self.replies)
            ),
        )

    def match(self, view: RequestView) -> Groups | None:
        """The regex groups when every condition holds, else None."""
        conditions = self.conditions
        if len(conditions) == 1:  # the common case, without a generator
            return conditions[0].evaluate(view)
        return merge_groups(c.evaluate(view) for c in conditions)

    def failed_conditions(self, view: RequestView) -> list[dict[str, str]]:
        """One ``{condition, reason}`` per failing lookup; empty when the scenario matches."""
        return [
            {"condition": c.name, "reason": reason}
            for c in self.conditions
            for reason in c.explain(view)
        ]

    def reply_for(self, used: int) -> CompiledReply | None:
        """The reply of the ``used + 1``-th use; None when a failing sequence is over."""
        replies = self.replies
        if used < len(replies):
            return replies[used]
        if self.after is After.CYCLE:
            return replies[used % len(replies)]
        if self.after is After.FAIL:
            return None
        return replies[-1]


def _exhausted_reply(scenario: Scenario) -> dict[str, Any]:
    return {
        "error": {
            "status": 500,
            "message": f"scenario {scenario.name!r} has no more replies "
            f"(sequence of {len(scenario.replies)}, after: fail)",
            "errorCode": "ScenarioExhausted",
            "code": "scenario_exhausted",
        }
    }


class Resolution:
    """The outcome of ``ScenarioSet.resolve``: the scenario (or none) and why.

    ``near_misses`` explains, for a request no scenario matched, the nearest
    scenarios and their failed conditions, computed on first access. It ranks the
    scenarios the index left in play (no indexed condition, or the request's model
    or last user message), so an unmatched request stays cheap with thousands of
    scenarios; ``ScenarioSet.explain`` and the strict error rank all of them.
    For a matched request it lists the scenarios whose conditions held but whose
    ``times`` was used up.
    """

    __slots__ = ("_index", "_near", "call", "groups", "reply", "scenario", "view")

    def __init__(
        self,
        view: RequestView,
        scenario: Scenario | None,
        reply: CompiledReply | None,
        groups: Groups,
        call: int,
        *,
        exhausted: Sequence[tuple[Scenario, int]] = (),
        unmatched_in: _Index | None = None,
    ) -> None:
        self.view = view
        self.scenario = scenario
        self.reply = reply
        self.groups = groups
        self.call = call
        self._index = unmatched_in
        # No match: ranked lazily; exhausted scenarios are then among the nearest.
        self._near: list[dict[str, Any]] | None = (
            None
            if unmatched_in is not None
            else [_exhausted_miss(s, used) for s, used in exhausted]
        )

    @property
    def scenario_name(self) -> str | None:
        """The matched (or forced) scenario's name; None for the default reply."""
        return self.scenario.name if self.scenario is not None else None

    @property
    def near_misses(self) -> list[dict[str, Any]]:
        """``[{scenario, source, failed: [{condition, reason}]}]``, nearest first."""
        if self._near is None:
            index, view = self._index, self.view
            assert index is not None
            self._near = _rank_near_misses(view, [s for _, s in index.candidates(view)])
        return self._near

    def deferred_near_misses(self) -> Sequence[dict[str, Any]]:
        """``near_misses`` as a sequence ranked on first read, not now: the journal keeps
        it for every request, but only a failure message or a reader ever looks. A
        matched request's (the scenarios it found used up) are known already: no need
        to keep the whole resolution alive for them."""
        if self._near is not None:
            return tuple(self._near)
        return _DeferredMisses(self)

    def render(self, faker: Any) -> dict[str, Any] | None:
        """The reply spec for ``generate()``: a fresh dict, or None for the default reply."""
        scenario = self.scenario
        if scenario is None:
            return None
        if self.reply is None:
            return _exhausted_reply(scenario)
        # Typed locals: CompiledReply.render returns Any (a rendered YAML tree).
        rendered: dict[str, Any] | None
        if self.reply.static:
            rendered = self.reply.render({})
            return rendered
        view = self.view
        context: dict[str, Any] = dict.fromkeys(scenario.group_names, "")
        context.update(self.groups)
        context.update(
            faker=faker,
            request=view.body,
            headers=view.headers,
            turn=view.turn,
            scenario=scenario.name,
            call=self.call,
        )
        try:
            rendered = self.reply.render(context, scenario=scenario.name)
        except TemplateRenderError as exc:
            from .loader import locate  # only on this error path: the loader builds sets

            raise exc.located(locate(scenario.source, exc.key_path)) from exc.__cause__
        return rendered


class _DeferredMisses(Sequence[dict[str, Any]]):
    """A resolution's near misses, ranked when first read."""

    __slots__ = ("_resolution",)

    def __init__(self, resolution: Resolution) -> None:
        self._resolution = resolution

    def __len__(self) -> int:
        return len(self._resolution.near_misses)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self._resolution.near_misses[index]

    def __repr__(self) -> str:
        return repr(self._resolution.near_misses)


def _exhausted_miss(scenario: Scenario, used: int) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "source": scenario.source,
        "failed": [{"condition": "times", "reason": f"times: used {used} of {scenario.times}"}],
    }


def _rank_near_misses(view: RequestView, pool: Sequence[Scenario]) -> list[dict[str, Any]]:
    """The nearest scenarios of ``pool`` (in resolution order) to ``view``, explained.

    Nearest is the largest share of a scenario's conditions that held (2 of 3 before 0
    of 1), then the fewest failed conditions, then resolution order. A scenario whose
    conditions all held was skipped for its ``times``: it ranks first. Failures are
    counted cheaply for every scenario; only the nearest few are explained.
    """

    def closeness(entry: tuple[int, Scenario]) -> tuple[float, int, int]:
        order, scenario = entry
        total = len(scenario.conditions)
        failed = sum(1 for c in scenario.conditions if c.evaluate(view) is None)
        held = (total - failed) / total if total else 1.0
        return -held, failed, order

    scored = heapq.nsmallest(NEAR_MISS_LIMIT, map(closeness, enumerate(pool)))
    misses = []
    for _, count, order in scored:
        scenario = pool[order]
        failed = scenario.failed_conditions(view)
        if count == 0:  # conditions hold: it was skipped for its `times`
            failed = [{"condition": "times", "reason": "times: used up"}]
        misses.append({"scenario": scenario.name, "source": scenario.source, "failed": failed})
    return misses


def _no_match_message(misses: list[dict[str, Any]]) -> str:
    if not misses:
        return "No scenario matched the request, and no scenario is loaded"
    lines = ["No scenario matched the request. Nearest scenarios:"]
    for miss in misses[:5]:
        where = f" ({miss['source']})" if miss["source"] else ""
        lines.append(f"- {miss['scenario']}{where}:")
        lines.extend(f"    {f['reason']}" for f in miss["failed"])
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Index:
    """An immutable snapshot of the scenarios, swapped whole on every change."""

    ordered: tuple[Scenario, ...]
    by_name: Mapping[str, Scenario]
    # condition -> request value -> [(rank, scenario)] in rank order.
    buckets: Mapping[str, Mapping[str, tuple[tuple[int, Scenario], ...]]]
    anywhere: tuple[tuple[int, Scenario], ...]

    @classmethod
    def build(cls, ranked: Iterable[tuple[int, Scenario]]) -> _Index:
        """Order by priority (higher first), then by entry order."""
        ordered = tuple(s for _, s in sorted(ranked, key=lambda t: (-t[1].priority, t[0])))
        buckets: dict[str, dict[str, list[tuple[int, Scenario]]]] = {}
        anywhere: list[tuple[int, Scenario]] = []
        for rank, scenario in enumerate(ordered):
            if scenario.index is None or scenario.index[0] not in INDEXABLE:
                anywhere.append((rank, scenario))
                continue
            table = buckets.setdefault(scenario.index[0], {})
            for value in scenario.index[1]:
                table.setdefault(value, []).append((rank, scenario))
        return cls(
            ordered,
            {s.name: s for s in ordered},
            {c: {v: tuple(b) for v, b in t.items()} for c, t in buckets.items()},
            tuple(anywhere),
        )

    def candidates(self, view: RequestView) -> Iterable[tuple[int, Scenario]]:
        """The scenarios that may match ``view``, in rank order."""
        lists = [self.anywhere] if self.anywhere else []
        for condition, table in self.buckets.items():
            value = view.memo(INDEXABLE[condition])
            if isinstance(value, str):
                bucket = table.get(value)
                if bucket:
                    lists.append(bucket)
        if len(lists) == 1:
            return lists[0]
        return heapq.merge(*lists)


class ScenarioSet:
    """The scenarios of a server and their order; their use counts and the scenarios
    added at run time live in the state store.

    ``loaded`` are the scenarios of the files (or the built-in ones): every process
    of a server loads the same. Scenarios added at run time are kept in the store as
    definitions; each process compiles them with its loader (so custom conditions of
    the app's registry apply) and rebuilds its index when the store says another
    process changed them (:meth:`refresh`).
    """

    def __init__(
        self,
        scenarios: Iterable[Scenario],
        strict: bool = False,
        *,
        store: StateStore | None = None,
        compile: Callable[[RuntimeScenario], Scenario] | None = None,
    ) -> None:
        self.strict = strict
        self._store: StateStore = store if store is not None else MemoryStore()
        self._compile = compile
        self._base: tuple[Scenario, ...] = ()
        # Added at run time, in the store's order: name -> compiled scenario, or None
        # for a loaded scenario removed at run time (until reset()).
        self._added: dict[str, Scenario | None] = {}
        self._index = _Index.build(())
        self._set_base(scenarios)

    # ----------------------------------------------------------------- contents

    @property
    def store(self) -> StateStore:
        """Where the use counts and the added scenarios live."""
        return self._store

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        """The scenarios in resolution order."""
        return self._index.ordered

    @property
    def loaded(self) -> tuple[Scenario, ...]:
        """The scenarios ``reset()`` returns to (the last ``replace()``-d set)."""
        return self._base

    def get(self, name: str) -> Scenario | None:
        """The scenario called ``name``, if any."""
        return self._index.by_name.get(name)

    async def uses(self) -> Mapping[str, int]:
        """How often each scenario was used, summed over conversations."""
        return await self._store.uses()

    def _set_base(self, scenarios: Iterable[Scenario]) -> None:
        new = list(scenarios)
        dupes = sorted(name for name, seen in Counter(s.name for s in new).items() if seen > 1)
        if dupes:
            raise ConfigError(f"duplicate scenario names: {', '.join(dupes)}")
        self._base = tuple(new)
        self._reindex()

    async def replace(self, scenarios: Iterable[Scenario]) -> None:
        """Take a new set of loaded scenarios (a reload); scenarios added at run time
        stay, and unchanged scenarios keep their use counts."""
        old = {s.name: s for s in self._base}
        self._set_base(scenarios)
        kept = {
            s.name for s in self._base if s.name in old and old[s.name].fingerprint == s.fingerprint
        }
        # (A scenario added at run time under a loaded name keeps its own counts.)
        gone = [name for name in old if name not in kept and name not in self._added]
        if gone:
            await self._store.forget_uses(gone)

    async def add(self, scenarios: Sequence[Scenario]) -> None:
        """Add scenarios after the others of their priority; one of the same name is
        replaced (its use counts survive only if the definition is unchanged)."""
        changed = [
            s.name
            for s in scenarios
            if (old := self.get(s.name)) is not None and old.fingerprint != s.fingerprint
        ]
        await self._store.add_scenarios(
            [RuntimeScenario(s.name, s.fingerprint, s.source) for s in scenarios]
        )
        if changed:
            await self._store.forget_uses(changed)
        for scenario in scenarios:
            self._added.pop(scenario.name, None)
            self._added[scenario.name] = scenario
        self._reindex()

    async def remove(self, name: str) -> bool:
        """Remove the scenario ``name``; False when there is none. A loaded scenario
        stays hidden until ``reset()``."""
        if name not in self._index.by_name:
            return False
        if any(s.name == name for s in self._base):
            # A tombstone: an empty definition hides the loaded scenario in every process.
            await self._store.add_scenarios([RuntimeScenario(name, "", "")])
            self._added.pop(name, None)
            self._added[name] = None
        else:
            await self._store.remove_scenario(name)
            self._added.pop(name, None)
        await self._store.forget_uses([name])
        self._reindex()
        return True

    async def reset(self) -> None:
        """Back to the loaded scenarios (drops added ones) with every count at zero."""
        names = [s.name for s in self.scenarios]
        await self._store.clear_scenarios()
        self._added = {}
        self._reindex()
        await self._store.forget_uses(names)

    async def refresh(self) -> None:
        """Take the added scenarios from the store (another process changed them)."""
        if self._compile is None:
            return
        added: dict[str, Scenario | None] = {}
        for runtime in await self._store.runtime_scenarios():
            known = self._added.get(runtime.name)
            if not runtime.definition:
                added[runtime.name] = None
            elif known is not None and known.fingerprint == runtime.definition:
                added[runtime.name] = known
            else:
                added[runtime.name] = self._compile(runtime)
        self._added = added
        self._reindex()

    def _reindex(self) -> None:
        ranked = [s for s in self._base if s.name not in self._added]
        ranked.extend(s for s in self._added.values() if s is not None)
        self._index = _Index.build(enumerate(ranked))

    # --------------------------------------------------------------- resolution

    async def resolve(self, view: RequestView, force: str | None = None) -> Resolution:
        """The scenario and reply for ``view`` (see the module docstring for the order).

        Raises BadRequestError for an unknown forced name and, in strict sets,
        NoScenarioMatchedError when nothing matches.
        """
        index = self._index
        if force is not None:
            return await self._forced(index, view, force)
        exhausted: list[tuple[Scenario, int]] = []
        for _, scenario in index.candidates(view):
            groups = scenario.match(view)
            if groups is None:
                continue
            if not scenario.counted:
                # Its count only feeds the statistics: no waiting on the store.
                self._store.count(scenario.name)
                return Resolution(
                    view, scenario, scenario.replies[0], groups, 0, exhausted=exhausted
                )
            used = await self._take(scenario, view)
            if used is None:
                exhausted.append((scenario, scenario.times or 0))
                continue
            return Resolution(
                view, scenario, scenario.reply_for(used), groups, used + 1, exhausted=exhausted
            )
        if self.strict:
            misses = self.explain(view)
            raise NoScenarioMatchedError(_no_match_message(misses), details={"near_misses": misses})
        return Resolution(view, None, None, {}, 0, unmatched_in=index)

    def explain(self, view: RequestView) -> list[dict[str, Any]]:
        """The nearest scenarios to ``view`` among all of them (the largest share of
        conditions held first, then fewer failures, then resolution order), each with
        its failed conditions."""
        return _rank_near_misses(view, self._index.ordered)

    async def _take(
        self, scenario: Scenario, view: RequestView, *, force: bool = False
    ) -> int | None:
        """Count one use; the previous count, or None when ``times`` is used up."""
        conversation = scenario.conversation
        return await self._store.take(
            scenario.name,
            conversation.key_of(view) if conversation else None,
            None if force else scenario.times,
        )

    async def _forced(self, index: _Index, view: RequestView, name: str) -> Resolution:
        scenario = index.by_name.get(name)
        if scenario is None:
            known = ", ".join(sorted(index.by_name)[:20])
            raise BadRequestError(
                f"Prefer: scenario={name}: no scenario of that name (known: {known})",
                param="Prefer",
            )
        groups: dict[str, str] = {}
        for condition in scenario.conditions:
            groups.update(condition.evaluate(view) or {})
        used = await self._take(scenario, view, force=True) or 0
        return Resolution(view, scenario, scenario.reply_for(used), groups, used + 1)
