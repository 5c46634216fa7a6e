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
    . Needs pytest-asyncio (pytest-aiohttp brings it).
``mockllm_settings``
    The session's ``Settings``; override it in a conftest.py to change anything else.
``mockllm_server``
    The session's ``MockLLMServer``.
``mockllm_registry``
    The scenario conditions of the session's apps (override it to add custom ones).

Configuration, most specific first: ``@pytest.mark.mockllm(scenarios=..., seed=...,
strict=..., fail_on_invalid=...)`` on a test, then the ini options ``mockllm_scenarios``
(files or folders; default: the built-in scenarios), ``mockllm_seed`` (default
``DEFAULT_SEED`` = 1234, so CI runs repeat byte for byte; ``none`` for fresh randomness),
``mockllm_strict`` (default false) and ``mockllm_fail_on_invalid`` (default true).
``MOCKLLM_HOST`` / ``MOCKLLM_PORT`` pin the session server's address (under
pytest-xdist, worker N adds N to a pinned port).

Record and replay (docs/recording.md): ``--mockllm-record=none|missing|all`` (ini
``mockllm_record``, default none) with ``mockllm_upstream`` (or
``--mockllm-upstream``; the key comes from ``MOCKLLM_UPSTREAM_KEY`` or the client's
own) records each test's exchanges into ``recordings/<module>/<test>.yaml`` next to
the test module (ini ``mockllm_recordings`` names another folder), and replays them:
a test with a recording, or any test while an upstream is configured, is strict, and a
request no recording matches fails it with the request and its near misses, without
reaching the upstream. ``mockllm_redact`` lists regexes scrubbed from the files.

At teardown a test fails, even if the code under test swallowed the HTTP error, when a
request failed validation (unless ``fail_on_invalid`` is off) or, in strict mode, when a
request matched no scenario (with the near misses). In strict mode without
``mockllm_scenarios`` the built-in scenarios are off (their catch-all default would
answer everything): only the scenarios the test adds answer.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .config import Settings, parse_value
from .errors import ConfigError
from .testing import DEFAULT_SEED, MockLLM, ScenarioSource, TestOptions, run_here

# The server side (aiohttp, schemas, Faker) is imported by the fixtures, not here:
# pytest loads this plugin in every run of every project that installed mockllm.
if TYPE_CHECKING:
    from .http.app import AppParts
    from .recording import Recording
    from .scenario_engine.conditions import MatcherRegistry
    from .server import MockLLMServer

try:  # async fixtures need pytest-asyncio's decorator to run in every asyncio mode
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest-aiohttp depends on pytest-asyncio
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = [
    "DEFAULT_SEED",
    "MockLLM",
    "PluginOptions",
    "mockllm",
    "mockllm_aio",
    "mockllm_registry",
    "mockllm_server",
    "mockllm_settings",
    "pytest_addoption",
    "pytest_configure",
    "recording_file",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini options (``[pytest]`` / ``[tool:pytest]`` / ``[tool.pytest.ini_options]``)
    and the record/replay command-line options."""
    group = parser.getgroup("mockllm")
    group.addoption(
        "--mockllm-record",
        choices=("none", "missing", "all"),
        default=None,
        help="mockllm recordings: none replays only (default), missing records "
        "requests no recording matches, all re-records every test",
    )
    group.addoption(
        "--mockllm-upstream",
        default=None,
        metavar="BASE_URL",
        help="the upstream to record from (overrides mockllm_upstream)",
    )
    parser.addini(
        "mockllm_record",
        default="none",
        help="mockllm record mode: none, missing or all (--mockllm-record wins)",
    )
    parser.addini(
        "mockllm_upstream", default="", help="OpenAI-compatible base URL mockllm records from"
    )
    parser.addini(
        "mockllm_recordings",
        default="",
        help="folder of per-test recordings, <module>/<test>.yaml inside "
        "(default: recordings/ next to each test module)",
    )
    parser.addini(
        "mockllm_redact", type="linelist", default=[], help="regexes scrubbed from recorded files"
    )
    parser.addini(
        "mockllm_scenarios",
        type="paths",
        default=[],
        help="mockllm scenario files or folders for the session server "
        "(default: the built-in scenarios)",
    )
    # MOCKLLM_SEED / MOCKLLM_STRICT give the defaults when the ini file does not.
    parser.addini(
        "mockllm_seed",
        default=os.environ.get("MOCKLLM_SEED", str(DEFAULT_SEED)),
        help=f"mockllm server seed (default $MOCKLLM_SEED, else {DEFAULT_SEED}; "
        "'none' for fresh randomness on every run)",
    )
    parser.addini(
        "mockllm_strict",
        type="bool",
        default=_env_setting("strict", "false"),
        help="a request no mockllm scenario matches fails the test "
        "(default $MOCKLLM_STRICT, else false)",
    )
    parser.addini(
        "mockllm_fail_on_invalid",
        type="bool",
        default=True,
        help="a request that fails mockllm's validation fails the test",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        "mockllm(scenarios=None, seed=..., strict=..., fail_on_invalid=...): configure the "
        "mockllm fixtures for this test (scenarios: paths, dicts or YAML text, added for "
        "this test only).",
    )


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


class PluginOptions:
    """Reads a test's ``TestOptions``: ini defaults overridden by its ``mockllm`` marker."""

    @staticmethod
    def from_ini(config: pytest.Config) -> TestOptions:
        """The session defaults from the ini options."""
        return TestOptions(
            seed=_parse_seed(config.getini("mockllm_seed")),
            strict=bool(config.getini("mockllm_strict")),
            fail_on_invalid=bool(config.getini("mockllm_fail_on_invalid")),
        )

    @staticmethod
    def for_item(item: pytest.Item) -> TestOptions:
        """The options of one test: its markers (closest first) over the ini defaults."""
        options = PluginOptions.from_ini(item.config)
        marks = list(item.iter_markers("mockllm"))
        changes: dict[str, Any] = {"base_dir": Path(str(item.path)).parent}
        scenarios: list[ScenarioSource] = []
        # Farthest (module/class) first so the test's own marker has the last word.
        for mark in reversed(marks):
            if mark.args:
                raise pytest.UsageError(
                    "@pytest.mark.mockllm takes keyword arguments only "
                    "(scenarios=, seed=, strict=, fail_on_invalid=)"
                )
            unknown = set(mark.kwargs) - {"scenarios", "seed", "strict", "fail_on_invalid"}
            if unknown:
                raise pytest.UsageError(
                    f"@pytest.mark.mockllm: unknown option(s) {', '.join(sorted(unknown))}"
                )
            if "scenarios" in mark.kwargs:
                scenarios.extend(_as_sources(mark.kwargs["scenarios"]))
            if "seed" in mark.kwargs:
                changes["seed"] = _parse_seed(mark.kwargs["seed"])
            for flag in ("strict", "fail_on_invalid"):
                if flag in mark.kwargs:
                    changes[flag] = bool(mark.kwargs[flag])
        changes["recording"] = _recording_for(item)
        return dataclasses.replace(options, scenarios=tuple(scenarios), **changes)


def recording_file(item: pytest.Item) -> Path:
    """Where a test's recording lives: ``<folder>/<module>/<test>.yaml``."""
    configured = str(item.config.getini("mockllm_recordings") or "")
    module = Path(str(item.path))
    folder = (
        Path(str(item.config.rootpath)) / configured if configured else module.parent / "recordings"
    )
    test = ".".join(item.nodeid.split("::")[1:]) or item.name
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "_", test).strip("_") or "test"
    return folder / module.stem / f"{safe}.yaml"


def _recording_for(item: pytest.Item) -> Recording | None:
    """The test's recording: on when recording, when an upstream is configured, or when
    the test has a recording file; None otherwise (the plugin as without recordings)."""
    from .config import RecordMode
    from .recording import Recording

    config = item.config
    raw = config.getoption("--mockllm-record") or config.getini("mockllm_record") or "none"
    try:
        mode = RecordMode(str(raw).strip().lower())
    except ValueError:
        raise pytest.UsageError(
            f"mockllm_record: {raw!r} is not one of none, missing, all"
        ) from None
    upstream = config.getoption("--mockllm-upstream") or config.getini("mockllm_upstream")
    file = recording_file(item)
    if mode is RecordMode.NONE and not upstream and not file.is_file():
        return None
    if mode is not RecordMode.NONE and not upstream:
        raise pytest.UsageError(
            f"--mockllm-record={mode.value} needs an upstream: the ini "
            "option mockllm_upstream or --mockllm-upstream"
        )
    return Recording.for_test(
        file,
        mode,
        str(upstream) or None,
        Settings.from_env().upstream_key,
        config.getini("mockllm_redact"),
    )


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
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "")
    # Each xdist worker resets the state before every test: on a shared store each
    # needs keys of its own.
    prefix = f"{settings.state_prefix}{worker}:" if settings.state and worker else None
    return dataclasses.replace(
        settings,
        port=port,
        seed=options.seed,
        strict=options.strict,
        scenario_paths=paths or settings.scenario_paths,
        state_prefix=prefix or settings.state_prefix,
    )


@pytest.fixture(scope="session")
def mockllm_parts() -> AppParts:
    """The compiled schemas, tokenizer and text pool, built once for every app of the
    session (the session server and each ``mockllm_aio`` app)."""
    from .http.app import AppParts

    return AppParts.build()


@pytest.fixture(scope="session")
def mockllm_registry() -> MatcherRegistry:
    """The scenario conditions of the session's apps: override this fixture in a
    conftest.py to register custom conditions (they then work in files, markers and
    ``mockllm.add``)."""
    from .scenario_engine.conditions import default_registry

    return default_registry()


@pytest.fixture(scope="session")
def mockllm_server(
    mockllm_settings: Settings, mockllm_parts: AppParts, mockllm_registry: MatcherRegistry
) -> Iterator[MockLLMServer]:
    """One mockllm server per session (per xdist worker), on a background thread."""
    from .server import MockLLMServer

    with MockLLMServer(mockllm_settings, parts=mockllm_parts, registry=mockllm_registry) as server:
        yield server


@pytest.fixture()
def mockllm(request: pytest.FixtureRequest, mockllm_server: MockLLMServer) -> Iterator[MockLLM]:
    """The session server, reset for this test and configured by its marker."""
    options = PluginOptions.for_item(request.node)
    handle = MockLLM(
        mockllm_server.url, mockllm_server.state, mockllm_server.call, options.base_dir
    )
    undo = handle.begin(options)
    try:
        yield handle
        problems = handle.problems(options)  # before undo(), which clears the journal
    finally:
        undo()
    _fail_on(problems)


@_async_fixture
async def mockllm_aio(
    request: pytest.FixtureRequest,
    mockllm_settings: Settings,
    mockllm_parts: AppParts,
    mockllm_registry: MatcherRegistry,
) -> AsyncIterator[MockLLM]:
    """A fresh mockllm app served in the test's event loop, configured like ``mockllm``."""
    from .http.app import create_app
    from .http.context import STATE
    from .http.serving import start_site

    options = PluginOptions.for_item(request.node)
    app = create_app(
        dataclasses.replace(mockllm_settings, host="127.0.0.1", port=0),
        parts=mockllm_parts,
        registry=mockllm_registry,
    )
    site = await start_site(app, "127.0.0.1", 0)
    try:
        handle = MockLLM(f"http://127.0.0.1:{site.port}", app[STATE], run_here, options.base_dir)
        handle.begin(options)
        yield handle
        problems = handle.problems(options)
    finally:
        await site.close()
    _fail_on(problems)
