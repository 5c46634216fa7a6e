"""The pytest plugin: a mockllm server for your tests, a marker, and journal assertions.

Registered through the ``pytest11`` entry point (as ``mockllm``), so installing the
distribution ``mockllm-server`` is enough.

Fixtures:

``mockllm``
    A per-test handle on a session-scoped server that runs on a background thread on a
    free port (so sync code, threads and subprocesses under test reach it over HTTP).
    Before each test the journal, the use counts and the scenarios added by earlier
    tests are reset. ``mockllm.base_url`` goes to ``OpenAI(base_url=...)``.
``mockllm_aio``
    The same handle, for async tests: a fresh app served in the test's own event loop
    (aiohttp's ``TestServer``). Needs pytest-asyncio (pytest-aiohttp brings it).
``mockllm_settings``
    The session's ``Settings``; override it in a conftest.py to change anything else.
``mockllm_server``
    The session's ``MockLLMServer``.

Configuration, most specific first: ``@pytest.mark.mockllm(scenarios=..., seed=...,
strict=..., fail_on_invalid=...)`` on a test, then the ini options ``mockllm_scenarios``
(files or folders; default: the built-in scenarios), ``mockllm_seed`` (default
``DEFAULT_SEED`` = 1234, so CI runs repeat byte for byte; ``none`` for fresh randomness),
``mockllm_strict`` (default false) and ``mockllm_fail_on_invalid`` (default true).
``MOCKLLM_HOST`` / ``MOCKLLM_PORT`` pin the session server's address (under
pytest-xdist, worker N adds N to a pinned port).

At teardown a test fails, even if the code under test swallowed the HTTP error, when a
request failed validation (unless ``fail_on_invalid`` is off) or, in strict mode, when a
request matched no scenario (with the near misses). In strict mode without
``mockllm_scenarios`` the built-in scenarios are off (their catch-all default would
answer everything): only the scenarios the test adds answer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from .config import Settings, parse_value
from .errors import ConfigError
from .journal import Exchange, Journal, JournalQuery, describe_near_miss

# The server side (aiohttp, schemas, Faker) is imported by the fixtures, not here:
# pytest loads this plugin in every run of every project that installed mockllm.
if TYPE_CHECKING:
    from .http.app import AppParts, ServerState
    from .scenario_engine.scenarioset import Scenario
    from .server import MockLLMServer

try:  # async fixtures need pytest-asyncio's decorator to run in every asyncio mode
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest-aiohttp depends on pytest-asyncio
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = [
    "DEFAULT_SEED",
    "MockLLM",
    "MockLLMAssertionError",
    "PluginOptions",
    "mockllm",
    "mockllm_aio",
    "mockllm_server",
    "mockllm_settings",
    "pytest_addoption",
    "pytest_configure",
]

# The server seed when the ini file names none: fixed, so CI runs are reproducible.
DEFAULT_SEED = 1234
# How many near-by requests a failed assertion shows.
_SIMILAR = 5

T = TypeVar("T")
ScenarioSource = Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | os.PathLike[str]


class MockLLMAssertionError(AssertionError):
    """A journal assertion that failed; the message lists the near-by requests."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini options (``[pytest]`` / ``[tool:pytest]`` / ``[tool.pytest.ini_options]``)."""
    parser.addini("mockllm_scenarios", type="paths", default=[],
                  help="mockllm scenario files or folders for the session server "
                       "(default: the built-in scenarios)")
    # MOCKLLM_SEED / MOCKLLM_STRICT give the defaults when the ini file does not.
    parser.addini("mockllm_seed", default=os.environ.get("MOCKLLM_SEED", str(DEFAULT_SEED)),
                  help=f"mockllm server seed (default $MOCKLLM_SEED, else {DEFAULT_SEED}; "
                       "'none' for fresh randomness on every run)")
    parser.addini("mockllm_strict", type="bool",
                  default=_env_setting("strict", "false"),
                  help="a request no mockllm scenario matches fails the test "
                       "(default $MOCKLLM_STRICT, else false)")
    parser.addini("mockllm_fail_on_invalid", type="bool", default=True,
                  help="a request that fails mockllm's validation fails the test")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "mockllm(scenarios=None, seed=..., strict=..., fail_on_invalid=...): configure the "
        "mockllm fixtures for this test (scenarios: paths, dicts or YAML text, added for "
        "this test only).")


def _env_setting(name: str, fallback: str) -> Any:
    """The ``MOCKLLM_<NAME>`` variable parsed as mockllm itself parses it."""
    variable = f"MOCKLLM_{name.upper()}"
    try:
        return parse_value(name, os.environ.get(variable, fallback), source=variable)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _parse_seed(raw: Any) -> int | None:
    if raw is None or isinstance(raw, int):
        return raw
    try:
        seed: int | None = parse_value("seed", str(raw), source="mockllm seed")
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return seed


@dataclass(frozen=True, slots=True)
class PluginOptions:
    """What one test asked for: ini defaults overridden by its ``mockllm`` marker."""

    scenarios: tuple[ScenarioSource, ...] = ()
    seed: int | None = DEFAULT_SEED
    strict: bool = False
    fail_on_invalid: bool = True
    # The test file's folder: relative scenario paths in the marker start there.
    base_dir: Path | None = None

    @classmethod
    def from_ini(cls, config: pytest.Config) -> PluginOptions:
        """The session defaults from the ini options."""
        return cls(seed=_parse_seed(config.getini("mockllm_seed")),
                   strict=bool(config.getini("mockllm_strict")),
                   fail_on_invalid=bool(config.getini("mockllm_fail_on_invalid")))

    @classmethod
    def for_item(cls, item: pytest.Item) -> PluginOptions:
        """The options of one test: its markers (closest first) over the ini defaults."""
        options = cls.from_ini(item.config)
        marks = list(item.iter_markers("mockllm"))
        changes: dict[str, Any] = {"base_dir": Path(str(item.path)).parent}
        scenarios: list[ScenarioSource] = []
        # Farthest (module/class) first so the test's own marker has the last word.
        for mark in reversed(marks):
            if mark.args:
                raise pytest.UsageError("@pytest.mark.mockllm takes keyword arguments only "
                                        "(scenarios=, seed=, strict=, fail_on_invalid=)")
            unknown = set(mark.kwargs) - {"scenarios", "seed", "strict", "fail_on_invalid"}
            if unknown:
                raise pytest.UsageError(f"@pytest.mark.mockllm: unknown option(s) "
                                        f"{', '.join(sorted(unknown))}")
            if "scenarios" in mark.kwargs:
                scenarios.extend(_as_sources(mark.kwargs["scenarios"]))
            if "seed" in mark.kwargs:
                changes["seed"] = _parse_seed(mark.kwargs["seed"])
            for flag in ("strict", "fail_on_invalid"):
                if flag in mark.kwargs:
                    changes[flag] = bool(mark.kwargs[flag])
        return dataclasses.replace(options, scenarios=tuple(scenarios), **changes)


def _as_sources(value: Any) -> list[ScenarioSource]:
    """One marker ``scenarios=`` value as a list of sources (a list of dicts stays one)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike, Mapping)):
        return [value]
    items = list(value)
    if items and all(isinstance(v, Mapping) for v in items):
        return [items]
    return items


class MockLLM:
    """A test's handle on a mockllm server: its address, scenarios, and journal.

    Changes to the scenarios run on the server's loop (``call``), so the server never
    sees a half-made change.
    """

    def __init__(self, url: str, state: ServerState,
                 call: Callable[[Callable[[], Any]], Any], base_dir: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self._state = state
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
        from .scenario_engine.loader import load_scenario_data

        return self._add(load_scenario_data(scenarios, "mockllm.add()",
                                            max_reply_chars=self.settings.max_reply_chars))

    def add_yaml(self, text: str) -> list[str]:
        """Add the scenarios of a YAML document (the scenario file format)."""
        from .scenario_engine.loader import load_scenario_data

        return self._add(load_scenario_data(text, "mockllm.add_yaml()",
                                            max_reply_chars=self.settings.max_reply_chars))

    def add_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Add the scenarios of a file or folder (relative paths: from the test's folder)."""
        from .scenario_engine.loader import load_scenarios

        return self._add(load_scenarios([self._resolve(path)],
                                        max_reply_chars=self.settings.max_reply_chars))

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
        def run() -> None:
            self._state.scenarios.reset()
            self._state.reset()

        self._call(run)

    def _add(self, loaded: Iterable[Scenario]) -> list[str]:
        scenarios = list(loaded)

        def run() -> None:
            for scenario in scenarios:
                self._state.scenarios.add(scenario)

        self._call(run)
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
    def journal(self) -> Journal:
        """The server's journal (shared by the session; reset before each test)."""
        return self._state.journal

    @property
    def requests(self) -> list[Exchange]:
        """Every request of this test, oldest first."""
        return self.journal.snapshot()

    @property
    def last_request(self) -> Exchange:
        """The newest request; AssertionError when there is none."""
        entries = self.journal.snapshot()
        if not entries:
            raise MockLLMAssertionError("mockllm received no request")
        return entries[-1]

    def requests_where(self, predicate: Callable[[Exchange], bool] | None = None, *,
                       scenario: str | None = None, model: str | None = None,
                       path: str | None = None, status: int | None = None,
                       method: str | None = None) -> list[Exchange]:
        """The requests matching every given criterion, oldest first."""
        query = JournalQuery(scenario=scenario, model=model, path=path, status=status,
                             method=method, predicate=predicate)
        return self.journal.query(query)

    def assert_called(self, scenario: str | None = None, times: int | None = None, *,
                      model: str | None = None, path: str | None = None,
                      status: int | None = None,
                      predicate: Callable[[Exchange], bool] | None = None) -> list[Exchange]:
        """Assert that requests matching the criteria came ``times`` times (default: at
        least once); returns them. The failure lists the similar requests made."""
        query = JournalQuery(scenario=scenario, model=model, path=path, status=status,
                             predicate=predicate)
        found = self.journal.query(query)
        if (len(found) == times) if times is not None else bool(found):
            return found
        wanted = f"exactly {times}" if times is not None else "at least 1"
        raise MockLLMAssertionError(self._explain(query, found, wanted))

    def assert_not_called(self, scenario: str | None = None, *, model: str | None = None,
                          path: str | None = None, status: int | None = None,
                          predicate: Callable[[Exchange], bool] | None = None) -> None:
        """Assert that no request matched the criteria."""
        self.assert_called(scenario, 0, model=model, path=path, status=status,
                           predicate=predicate)

    def _explain(self, query: JournalQuery, found: list[Exchange], wanted: str) -> str:
        lines = [f"mockllm: expected {wanted} request(s) with {query}, got {len(found)} "
                 f"(of {len(self.journal)} received)"]
        if found:
            lines.append("matching requests:")
            lines.extend(f"  {e.describe()}" for e in found[-_SIMILAR:])
        similar = self.journal.similar(query, _SIMILAR)
        if similar:
            lines.append("similar requests:")
            for exchange, misses in similar:
                lines.append(f"  {exchange.describe()}")
                lines.append(f"      differs: {'; '.join(misses)}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- lifecycle

    def begin(self, options: PluginOptions) -> Callable[[], None]:
        """Prepare the server for a test; returns what undoes it (seed, strictness)."""
        state = self._state
        before = (state.settings, state.scenarios.strict, state.scenarios.loaded)

        def run() -> None:
            state.settings = dataclasses.replace(state.settings, seed=options.seed,
                                                 strict=options.strict)
            state.scenarios.strict = options.strict
            if options.strict and not state.settings.scenario_paths:
                # The built-in scenarios answer everything (a catch-all default), which
                # would make strict mode a no-op: only the test's own scenarios count,
                # also after a mockllm.reset() inside the test.
                state.scenarios.replace(())
            state.scenarios.reset()  # back to the loaded scenarios
            state.reset()  # journal, counters, rate budgets

        self._call(run)
        for source in options.scenarios:
            self.add_source(source)

        def undo() -> None:
            def restore() -> None:
                state.settings, state.scenarios.strict, loaded = before
                state.scenarios.replace(loaded)
                state.scenarios.reset()

            self._call(restore)

        return undo

    def problems(self, options: PluginOptions) -> list[str]:
        """Why the test should fail at teardown: invalid requests, unmatched strict ones."""
        entries = self.journal.snapshot()
        found: list[str] = []
        invalid = [e for e in entries if not e.valid] if options.fail_on_invalid else []
        if invalid:
            found.append(f"mockllm: {len(invalid)} request(s) failed validation "
                         "(even if the code under test swallowed the 400):")
            for exchange in invalid:
                found.append(f"  #{exchange.seq} {exchange.method} {exchange.path}")
                found.extend(f"    {f.param or f.field_name}: {f.message}"
                             for f in exchange.field_errors)
                if exchange.raw_body is not None:
                    found.append(f"    body is not a JSON object: {exchange.error}")
            found.append("  (tests that send bad requests on purpose: "
                         "@pytest.mark.mockllm(fail_on_invalid=False))")
        unmatched = [e for e in entries if e.unmatched] if options.strict else []
        if unmatched:
            found.append(f"mockllm (strict): {len(unmatched)} request(s) matched no scenario:")
            for exchange in unmatched:
                found.append(f"  {exchange.describe()}")
                found.extend(f"    near miss {describe_near_miss(n)}"
                             for n in exchange.near_misses[:_SIMILAR])
        return found


def _run_here(func: Callable[[], T]) -> T:
    """``call`` for an app served in the test's own loop: already on the right thread."""
    return func()


def _fail_on(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _worker_offset(config: pytest.Config) -> int:
    """N for pytest-xdist's worker ``gwN``, 0 outside xdist."""
    worker = getattr(config, "workerinput", {}).get("workerid", "")
    digits = worker.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


@pytest.fixture(scope="session")
def mockllm_settings(pytestconfig: pytest.Config) -> Settings:
    """The session server's settings: ``MOCKLLM_*`` variables, then the ini options."""
    settings = Settings.from_env()
    port = settings.port + _worker_offset(pytestconfig) if "MOCKLLM_PORT" in os.environ else 0
    options = PluginOptions.from_ini(pytestconfig)
    paths = tuple(Path(p) for p in pytestconfig.getini("mockllm_scenarios"))
    return dataclasses.replace(settings, port=port, seed=options.seed, strict=options.strict,
                               scenario_paths=paths or settings.scenario_paths)


@pytest.fixture(scope="session")
def mockllm_parts() -> AppParts:
    """The compiled schemas, tokenizer and text pool, built once for every app of the
    session (the session server and each ``mockllm_aio`` app)."""
    from .http.app import AppParts

    return AppParts.build()


@pytest.fixture(scope="session")
def mockllm_server(mockllm_settings: Settings,
                   mockllm_parts: AppParts) -> Iterator[MockLLMServer]:
    """One mockllm server per session (per xdist worker), on a background thread."""
    from .server import MockLLMServer

    with MockLLMServer(mockllm_settings, parts=mockllm_parts) as server:
        yield server


@pytest.fixture()
def mockllm(request: pytest.FixtureRequest, mockllm_server: MockLLMServer) -> Iterator[MockLLM]:
    """The session server, reset for this test and configured by its marker."""
    options = PluginOptions.for_item(request.node)
    handle = MockLLM(mockllm_server.url, mockllm_server.state, mockllm_server.call,
                     options.base_dir)
    undo = handle.begin(options)
    try:
        yield handle
        problems = handle.problems(options)  # before undo(), which clears the journal
    finally:
        undo()
    _fail_on(problems)


@_async_fixture
async def mockllm_aio(request: pytest.FixtureRequest, mockllm_settings: Settings,
                      mockllm_parts: AppParts) -> AsyncIterator[MockLLM]:
    """A fresh mockllm app served in the test's event loop, configured like ``mockllm``."""
    from aiohttp.test_utils import TestServer

    from .http.app import STATE, create_app

    options = PluginOptions.for_item(request.node)
    app = create_app(dataclasses.replace(mockllm_settings, host="127.0.0.1", port=0),
                     parts=mockllm_parts)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        handle = MockLLM(str(server.make_url("")), app[STATE], _run_here, options.base_dir)
        handle.begin(options)
        yield handle
        problems = handle.problems(options)
    finally:
        await server.close()
    _fail_on(problems)
