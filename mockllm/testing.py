"""The handle tests use on a mockllm server: its address, scenarios and journal.

``MockLLM`` is what the pytest plugin's fixtures hand to a test, and what any other
test runner can build around a ``MockLLMServer``: it adds scenarios for one test,
reads the journal and asserts on it. Nothing here imports pytest.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .errors import MockLLMAssertionError
from .journal import Exchange, JournalQuery, describe_near_miss, select, similar
from .state import run_now

if TYPE_CHECKING:
    from .http.context import ServerState
    from .recording import Recording
    from .scenario_engine.scenarioset import Scenario

__all__ = ["DEFAULT_SEED", "MockLLM", "ScenarioSource", "TestOptions", "run_here"]

# The server seed when nothing names one: fixed, so CI runs are reproducible.
DEFAULT_SEED = 1234
# How many near-by requests a failed assertion shows.
_SIMILAR = 5

ScenarioSource = Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class TestOptions:
    """What one test asked for: scenarios to add, seed, strictness, failure rules."""

    __test__ = False  # not a test class, whatever pytest's collector thinks of the name

    scenarios: tuple[ScenarioSource, ...] = ()
    seed: int | None = DEFAULT_SEED
    strict: bool = False
    fail_on_invalid: bool = True
    # The test file's folder: relative scenario paths start there.
    base_dir: Path | None = None
    # Record/replay for this test (its recording file, mode and upstream); replaying
    # is strict: a request no recording matches fails the test.
    recording: Recording | None = None


class MockLLM:
    """A test's handle on a mockllm server: its address, scenarios, and journal.

    Changes to the scenarios run on the server's loop (``call``), so the server never
    sees a half-made change.
    """

    def __init__(
        self,
        url: str,
        state: ServerState,
        call: Callable[[Callable[[], Any]], Any],
        base_dir: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._state = state
        # Runs a function on the server's loop and returns its (awaited) result.
        self._call = call
        self._base_dir = base_dir

    # ------------------------------------------------------------------ address

    @property
    def base_url(self) -> str:
        """What to give ``OpenAI(base_url=...)``: the server URL plus ``/v1``."""
        return f"{self.url}/v1"

    @property
    def settings(self) -> Settings:
        """The server's current settings (with this test's seed and strictness)."""
        return self._state.settings

    @property
    def state(self) -> ServerState:
        """The app's state, for anything the handle does not cover."""
        return self._state

    # ---------------------------------------------------------------- scenarios

    def add(self, scenarios: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[str]:
        """Add one scenario (a dict), several (a list) or a ``{scenarios: [...]}`` document
        for this test only; returns their names."""
        return self._add(self._state.loader.load_data(scenarios, "mockllm.add()"))

    def add_yaml(self, text: str) -> list[str]:
        """Add the scenarios of a YAML document (the scenario file format)."""
        return self._add(self._state.loader.load_data(text, "mockllm.add_yaml()"))

    def add_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Add the scenarios of a file or folder (relative paths: from the test's folder)."""
        return self._add(self._state.loader.load_paths([self._resolve(path)]))

    def add_source(self, source: ScenarioSource) -> list[str]:
        """Add from a path, YAML text (anything with a newline), a dict or a list of dicts."""
        if isinstance(source, str) and "\n" in source:
            return self.add_yaml(source)
        if isinstance(source, (str, os.PathLike)):
            return self.add_file(source)
        return self.add(source)

    def remove(self, name: str) -> bool:
        """Remove a scenario by name; False when there is none."""
        return bool(self._call(lambda: self._state.scenarios.remove(name)))

    def reset(self) -> None:
        """Forget the journal, every use count and rate budget; drop scenarios added by
        the test."""

        async def run() -> None:
            await self._state.scenarios.reset()
            await self._state.reset()

        self._call(run)

    def _add(self, loaded: Iterable[Scenario]) -> list[str]:
        scenarios = list(loaded)
        self._call(lambda: self._state.scenarios.add(scenarios))
        return [s.name for s in scenarios]

    def _resolve(self, path: str | os.PathLike[str]) -> Path:
        candidate = Path(path)
        if not candidate.is_absolute() and self._base_dir is not None:
            near = self._base_dir / candidate
            if near.exists():
                return near
        return candidate

    # ------------------------------------------------------------------ journal

    @property
    def requests(self) -> list[Exchange]:
        """Every request of this test, oldest first (the server's journal, which is
        reset before each test)."""
        entries: list[Exchange] = self._call(self._state.store.exchanges)
        return entries

    @property
    def last_request(self) -> Exchange:
        """The newest request; AssertionError when there is none."""
        __tracebackhide__ = True  # pytest shows the test's line and this message first
        entries = self.requests
        if not entries:
            raise MockLLMAssertionError("mockllm received no request")
        return entries[-1]

    def requests_where(
        self,
        predicate: Callable[[Exchange], bool] | None = None,
        *,
        scenario: str | None = None,
        model: str | None = None,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
        surface: str | None = None,
    ) -> list[Exchange]:
        """The requests matching every given criterion, oldest first (``surface``: the
        API they came through, ``chat`` or ``responses``...)."""
        query = JournalQuery(
            scenario=scenario,
            model=model,
            path=path,
            status=status,
            method=method,
            surface=surface,
            predicate=predicate,
        )
        return select(self.requests, query)

    def assert_called(
        self,
        scenario: str | None = None,
        times: int | None = None,
        *,
        model: str | None = None,
        path: str | None = None,
        status: int | None = None,
        surface: str | None = None,
        predicate: Callable[[Exchange], bool] | None = None,
    ) -> list[Exchange]:
        """Assert that requests matching the criteria came ``times`` times (default: at
        least once); returns them. The failure lists the similar requests made."""
        __tracebackhide__ = True  # pytest shows the test's line and this message first
        query = JournalQuery(
            scenario=scenario,
            model=model,
            path=path,
            status=status,
            surface=surface,
            predicate=predicate,
        )
        entries = self.requests
        found = select(entries, query)
        if (len(found) == times) if times is not None else bool(found):
            return found
        wanted = f"exactly {times}" if times is not None else "at least 1"
        raise MockLLMAssertionError(self._explain(entries, query, found, wanted))

    def assert_not_called(
        self,
        scenario: str | None = None,
        *,
        model: str | None = None,
        path: str | None = None,
        status: int | None = None,
        surface: str | None = None,
        predicate: Callable[[Exchange], bool] | None = None,
    ) -> None:
        """Assert that no request matched the criteria."""
        __tracebackhide__ = True
        self.assert_called(
            scenario, 0, model=model, path=path, status=status, surface=surface, predicate=predicate
        )

    @staticmethod
    def _explain(
        entries: list[Exchange], query: JournalQuery, found: list[Exchange], wanted: str
    ) -> str:
        lines = [
            f"mockllm: expected {wanted} request(s) with {query}, got {len(found)} "
            f"(of {len(entries)} received)"
        ]
        if found:
            lines.append("matching requests:")
            lines.extend(f"  {e.describe()}" for e in found[-_SIMILAR:])
        near = similar(entries, query, _SIMILAR)
        if near:
            lines.append("similar requests:")
            for exchange, misses in near:
                lines.append(f"  {exchange.describe()}")
                lines.append(f"      differs: {'; '.join(misses)}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- lifecycle

    def begin(self, options: TestOptions) -> Callable[[], None]:
        """Prepare the server for a test; returns what undoes it (seed, strictness)."""
        state = self._state
        before = (state.settings, state.scenarios.strict, state.scenarios.loaded, state.recording)
        recording = options.recording
        strict = options.strict or recording is not None

        async def run() -> None:
            state.settings = dataclasses.replace(state.settings, seed=options.seed, strict=strict)
            state.scenarios.strict = strict
            state.recording = recording
            if strict and not state.settings.scenario_paths:
                # The built-in scenarios answer everything (a catch-all default), which
                # would make strict mode a no-op: only the test's own scenarios count,
                # also after a mockllm.reset() inside the test.
                await state.scenarios.replace(())
            await state.scenarios.reset()  # back to the loaded scenarios
            await state.reset()  # journal, counters, rate budgets

        self._call(run)
        if recording is not None and recording.replays and Path(recording.source).is_file():
            self.add_file(recording.source)
        for source in options.scenarios:
            self.add_source(source)

        def undo() -> None:
            async def restore() -> None:
                state.settings, state.scenarios.strict, loaded, state.recording = before
                await state.scenarios.replace(loaded)
                await state.scenarios.reset()

            self._call(restore)

        return undo

    def problems(self, options: TestOptions) -> list[str]:
        """Why the test should fail at teardown: invalid requests, unmatched strict ones."""
        entries = self.requests
        found: list[str] = []
        invalid = [e for e in entries if not e.valid] if options.fail_on_invalid else []
        if invalid:
            found.append(
                f"mockllm: {len(invalid)} request(s) failed validation "
                "(even if the code under test swallowed the 400):"
            )
            for exchange in invalid:
                found.append(f"  #{exchange.seq} {exchange.method} {exchange.path}")
                found.extend(
                    f"    {f.param or f.field_name}: {f.message}" for f in exchange.field_errors
                )
                if exchange.raw_body is not None:
                    found.append(f"    body is not a JSON object: {exchange.error}")
            found.append(
                "  (tests that send bad requests on purpose: "
                "@pytest.mark.mockllm(fail_on_invalid=False))"
            )
        recording = options.recording
        strict = options.strict or recording is not None
        unmatched = [e for e in entries if e.unmatched] if strict else []
        if unmatched and recording is not None:
            found.append(recording.miss_message(len(unmatched)))
        elif unmatched:
            found.append(f"mockllm (strict): {len(unmatched)} request(s) matched no scenario:")
        if unmatched:
            for exchange in unmatched:
                found.append(f"  {exchange.describe()}")
                found.extend(
                    f"    near miss {describe_near_miss(n)}"
                    for n in exchange.near_misses[:_SIMILAR]
                )
        return found


def run_here(func: Callable[[], Any]) -> Any:
    """``call`` for an app served in the caller's own loop: run ``func`` now, and drive
    a coroutine it returns to its end (every in-memory state operation completes
    without waiting; a store that waits needs the background-thread server)."""
    result = func()
    return run_now(result) if inspect.iscoroutine(result) else result
