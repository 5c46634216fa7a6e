"""Settings: one frozen object built from defaults, the environment and the command line.

Every knob of a running mockllm lives here, so ``create_app(settings)`` is the only
way configuration reaches the server. ``OPTIONS`` is the one table of them: for each
setting its parser, range, ``MOCKLLM_*`` variable, ``serve`` flag and help. From it come
``Settings.from_env()``, the range checks, the command line's flags (``cli.py``) and the
documentation's table (``settings_markdown``, which a test compares with the docs), so a
setting is added in two places: its field on ``Settings`` and its row in ``OPTIONS``.
A bad value raises ``ConfigError`` naming the variable or flag and the values it takes,
never a failure at request time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .state import state_url_problem

__all__ = [
    "AutoTools",
    "ErrorDialect",
    "OPTIONS",
    "Option",
    "RecordMode",
    "Settings",
    "ValidationMode",
    "check_range",
    "parse_value",
    "parse_workers",
    "settings_markdown",
]


class ValidationMode(StrEnum):
    """How request bodies are checked against the ChatCompletion schema."""

    STRICT = "strict"  # every schema rule, unknown top-level fields rejected
    LENIENT = "lenient"  # every schema rule, unknown top-level fields ignored
    OFF = "off"  # no schema check (the body must still be a JSON object)


class ErrorDialect(StrEnum):
    """Which error envelope(s) an error body carries."""

    BOTH = "both"  # {"responseStatus": ..., "error": ...}: every client finds its own
    OPENAI = "openai"  # {"error": {message, type, param, code}}
    SERVICESTACK = "servicestack"  # {"responseStatus": {errorCode, message, errors}}


class RecordMode(StrEnum):
    """What a server does with an upstream (``--record``)."""

    NONE = "none"  # never forward: recorded scenarios answer, a miss is a miss
    MISSING = "missing"  # recorded scenarios answer; a request none matches is forwarded
    ALL = "all"  # forward every request and record it (the ``record`` command)


class AutoTools(StrEnum):
    """What the default reply does when tools are offered and ``tool_choice`` is
    ``auto`` (or absent) with a user message last (docs/models.md says why ``never`` is
    the default)."""

    NEVER = "never"  # answer in text, as before: a tool call only when a scenario says so
    ALWAYS = "always"  # call a tool: the one that fits the last message best, else the first
    FIT = "fit"  # call the tool whose name or description fits the last message, if one does


@dataclass(frozen=True, slots=True)
class Settings:
    """The configuration of one mockllm server."""

    host: str = "127.0.0.1"
    port: int = 8000
    seed: int | None = None
    validation: ValidationMode = ValidationMode.STRICT
    error_dialect: ErrorDialect = ErrorDialect.BOTH
    # A model catalog merged over the shipped one (docs/models.md); None: the shipped one.
    models_file: Path | None = None
    # Model errors as the API gives them (unknown model 404, refused parameter 400...);
    # off, a mock that accepts is the right default.
    strict_models: bool = False
    # tool_choice auto with offered tools: answer text (never), call one (always), or
    # call one that fits the last message (fit).
    auto_tools: AutoTools = AutoTools.NEVER
    max_body_bytes: int = 16 * 1024 * 1024
    # Characters the templates of one scenario reply may render (1 MiB; the sandbox's
    # DEFAULT_MAX_REPLY_CHARS): a runaway template ends in a 422, not a hang.
    max_reply_chars: int = 1024 * 1024
    # Scenario files or folders; empty means the built-in default scenarios.
    scenario_paths: tuple[Path, ...] = ()
    # Strict scenarios: a request no scenario matches is an error, not a default reply.
    strict: bool = False
    reload: bool = False
    journal_size: int = 1000
    # Token for the /__mockllm/ control API; required when listening beyond loopback.
    admin_token: str | None = None
    # API keys the API accepts (Authorization: Bearer); empty: any key, or none.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # Validate each generated reply against the ChatResponse schema (catches scenario drift).
    check_replies: bool = False
    # Budgets per minute (429 with OpenAI's x-ratelimit-* headers); None: unlimited.
    rate_limit_rpm: int | None = None
    rate_limit_tpm: int | None = None
    # One budget per API key (the Authorization: Bearer value) instead of one for the server.
    rate_limit_per_key: bool = True
    verbose: bool = False
    # No access-log line per request (``serve --quiet``); --verbose wins over it.
    quiet: bool = False
    # CORS headers and preflight answers, for browser apps on another origin.
    cors: bool = True
    # Where the shared state lives: None is this process's memory; redis://HOST:PORT/DB
    # a Redis that several workers (or servers, by prefix) share.
    state: str | None = None
    # What every key of a shared state store starts with.
    state_prefix: str = "mockllm:"
    # Start with a clean shared state: forget what an earlier run left in the store.
    state_reset: bool = False
    # Worker processes serving one port (above 1 needs a shared ``state``).
    workers: int = 1
    # Recording (docs/recording.md): the upstream to forward to, the key sent there
    # (never written anywhere, not even in this object's repr), where recordings go
    # (default: the first scenario folder) and regexes scrubbed from recorded bodies.
    record: RecordMode = RecordMode.NONE
    upstream: str | None = None
    upstream_key: str | None = field(default=None, repr=False)
    record_dir: Path | None = None
    # Also record the upstream's 401/403/404 (a bad key, a wrong --upstream): setup
    # mistakes, relayed but not recorded unless asked.
    record_setup_errors: bool = False
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for option in OPTIONS:
            option.check(getattr(self, option.name), option.name)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` values are left as they were."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MOCKLLM_<FIELD>`` variables (``MOCKLLM_PORT=9000``...)."""
        env = os.environ if environ is None else environ
        return cls(
            **{
                option.name: option.parse(env[option.variable], option.variable)
                for option in OPTIONS
                if option.variable in env
            }
        )


Parser = Callable[[str, str], Any]


def _parse_bool(raw: str, source: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{source}: {raw!r} is not a boolean (use true or false)")


def _enum(enum: type[StrEnum]) -> Parser:
    def parse(raw: str, source: str) -> StrEnum:
        try:
            return enum(raw.strip().lower())
        except ValueError:
            valid = ", ".join(m.value for m in enum)
            raise ConfigError(f"{source}: {raw!r} is not one of {valid}") from None

    return parse


def _parse_int(raw: str, source: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{source}: {raw!r} is not an integer") from None


def _parse_optional_int(raw: str, source: str) -> int | None:
    return _parse_int(raw, source) if raw.strip() else None


def parse_workers(raw: str, source: str) -> int:
    """A number of worker processes, or ``auto`` for one per core."""
    text = raw.strip().lower()
    if text == "auto":
        return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"{source}: {raw!r} is not a number of workers (1, 2, ... or auto)")
    return count


def _parse_state(raw: str, source: str) -> str | None:
    if not raw.strip() or raw.strip().lower() == "memory":
        return None
    problem = state_url_problem(raw.strip())
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")
    return raw.strip()


def _parse_seed(raw: str, source: str) -> int | None:
    """An integer seed, or none ('none', 'off' or empty) for fresh randomness."""
    if raw.strip().lower() in {"", "none", "off"}:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{source}: {raw!r} is not an integer or 'none'") from None


def _text(raw: str, source: str) -> str:
    return raw


def _text_or_none(raw: str, source: str) -> str | None:
    return raw.strip() or None


def _keys(raw: str, source: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _paths(raw: str, source: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in raw.split(os.pathsep) if p)


def _path_or_none(raw: str, source: str) -> Path | None:
    return Path(raw) if raw.strip() else None


def _lines(raw: str, source: str) -> tuple[str, ...]:
    return tuple(p for p in raw.split("\n") if p.strip())


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: how its text is read, the values it takes, its variable and flags, its help.

    ``switch`` marks a flag that takes no value and sets the setting to that value
    (``--no-cors`` sets ``cors`` to False). ``many`` marks a flag given several values,
    after it (``"+"``) or by repeating it (``"append"``); they are joined with
    ``separator``, the way the variable writes several, and read by the same parser.
    """

    name: str
    parser: Parser
    help: str
    default: str
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    switch: bool | None = None
    many: str | None = None
    separator: str = ""
    low: int | None = None
    high: int | None = None
    serve_only: bool = False

    @property
    def variable(self) -> str:
        """The environment variable: ``MOCKLLM_`` and the setting's name."""
        return "MOCKLLM_" + self.name.upper()

    @property
    def variable_hint(self) -> str:
        """The variable as help and docs name it (``MOCKLLM_CORS=false`` for ``--no-cors``)."""
        return self.variable + ("=false" if self.switch is False else "")

    def parse(self, raw: str, source: str) -> Any:
        """The typed value of ``raw`` (from ``source``, a variable or flag), range checked."""
        value = self.parser(raw, source)
        self.check(value, source)
        return value

    def check(self, value: Any, source: str) -> None:
        """Raise ConfigError, naming ``source``, when a numeric value is out of range
        (None, "not set", always passes)."""
        if self.low is None or value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {value!r} is not a whole number")
        if value < self.low or (self.high is not None and value > self.high):
            allowed = (
                f"from {self.low} to {self.high}"
                if self.high is not None
                else f"of at least {self.low}"
            )
            raise ConfigError(f"{source}: {value} is out of range (use a whole number {allowed})")


# The settings, in the order --help and the docs list them. A numeric setting's range
# (low, high) is refused outside at startup: MOCKLLM_MAX_BODY_BYTES=-1 would otherwise
# start a server that refuses every request.
OPTIONS: tuple[Option, ...] = (
    Option("host", _text, "address to bind", "`127.0.0.1`", ("--host",), metavar="ADDRESS"),
    Option(
        "port",
        _parse_int,
        "port (`0` picks a free one; the URL is printed)",
        "`8000`",
        ("--port",),
        metavar="PORT",
        low=0,
        high=65535,
    ),
    Option(
        "seed",
        _parse_seed,
        "server seed: every reply becomes reproducible",
        "none",
        ("--seed",),
        metavar="N",
    ),
    Option(
        "validation",
        _enum(ValidationMode),
        "`strict`: unknown fields rejected; `lenient`: unknown fields ignored; `off`",
        "`strict`",
        ("--validation",),
        metavar="MODE",
    ),
    Option(
        "error_dialect",
        _enum(ErrorDialect),
        "error envelope: `both`, `openai` (`error`), `servicestack` (`responseStatus`)",
        "`both`",
        ("--error-dialect",),
        metavar="DIALECT",
    ),
    Option(
        "models_file",
        _path_or_none,
        "a model catalog merged over the shipped one ([docs/models.md](docs/models.md))",
        "the shipped catalog",
        ("--models",),
        metavar="FILE",
    ),
    Option(
        "strict_models",
        _parse_bool,
        "the API's model errors: 404 `model_not_found`, 400 `unsupported_parameter`, "
        "`unsupported_value`, `context_length_exceeded`",
        "off",
        ("--strict-models", "--known-models-only"),
        switch=True,
    ),
    Option(
        "auto_tools",
        _enum(AutoTools),
        "`tool_choice: auto` with tools offered: `never` answers text; `always` calls the "
        "best-fitting tool; `fit` calls a tool whose name or description fits the last "
        "user message",
        "`never`",
        ("--auto-tools",),
        metavar="MODE",
    ),
    Option(
        "scenario_paths",
        _paths,
        "scenario files or folders",
        "built-in",
        ("--scenarios",),
        metavar="PATH",
        many="+",
        separator=os.pathsep,
    ),
    Option(
        "strict",
        _parse_bool,
        "a request no scenario matches is an error (404 with near misses)",
        "off",
        ("--strict",),
        switch=True,
    ),
    Option(
        "reload",
        _parse_bool,
        "reload changed scenario files; a broken change keeps the last good set",
        "off",
        ("--reload",),
        switch=True,
    ),
    Option(
        "check_replies",
        _parse_bool,
        "validate every reply against `ChatResponse` (catches scenario drift)",
        "off",
        ("--check-replies",),
        switch=True,
    ),
    Option(
        "max_reply_chars",
        _parse_int,
        "characters the templates of one scenario reply may render; a runaway template "
        "gets a 422 `TemplateLimitExceeded`",
        "1048576 (1 MiB)",
        ("--max-reply-chars",),
        metavar="N",
        low=1,
    ),
    Option(
        "rate_limit_rpm",
        _parse_optional_int,
        "answer 429 beyond N requests a minute, with real `x-ratelimit-*` counts and `Retry-After`",
        "off",
        ("--rate-limit-rpm",),
        metavar="N",
        low=1,
    ),
    Option(
        "rate_limit_tpm",
        _parse_optional_int,
        "answer 429 beyond N prompt tokens a minute, with real `x-ratelimit-*` counts and "
        "`Retry-After`",
        "off",
        ("--rate-limit-tpm",),
        metavar="N",
        low=1,
    ),
    Option(
        "rate_limit_per_key",
        _parse_bool,
        "one rate-limit budget for the server, not one per API key",
        "per key",
        ("--rate-limit-global",),
        switch=False,
    ),
    Option(
        "admin_token",
        _text_or_none,
        "token for the `/__mockllm/` control API",
        "none",
        ("--admin-token",),
        metavar="TOKEN",
    ),
    Option(
        "api_keys",
        _keys,
        "API keys the API accepts: another key is 401 `invalid_api_key` (comma-separated)",
        "any key",
        ("--api-keys",),
        metavar="KEYS",
    ),
    Option(
        "verbose",
        _parse_bool,
        "log validation details and near misses with each request line",
        "off",
        ("--verbose", "-v"),
        switch=True,
    ),
    Option(
        "quiet",
        _parse_bool,
        "no access-log line per request (warnings and errors still print); for load tests",
        "off",
        ("--quiet", "-q"),
        switch=True,
    ),
    Option(
        "cors",
        _parse_bool,
        "no CORS headers or preflight answers (they are on, for browser apps on another origin)",
        "CORS on",
        ("--no-cors",),
        switch=False,
    ),
    Option(
        "workers",
        parse_workers,
        "worker processes on the one port (`auto`: one per core); above 1 needs `--state`",
        "1",
        ("--workers",),
        metavar="N",
    ),
    Option(
        "state",
        _parse_state,
        "shared state store, `redis://HOST:PORT/DB` (`rediss://` for TLS): use counts, "
        "budgets, journal, added scenarios",
        "memory",
        ("--state",),
        metavar="URL",
    ),
    Option(
        "state_prefix",
        _text,
        "what every key in the state store starts with, so several servers can share one Redis",
        "`mockllm:`",
        ("--state-prefix",),
        metavar="PREFIX",
    ),
    Option(
        "state_reset",
        _parse_bool,
        "start clean: forget the use counts, budgets, journal and added scenarios an "
        "earlier run left in the `--state` store (kept across restarts otherwise)",
        "off",
        ("--state-reset",),
        switch=True,
    ),
    Option(
        "record",
        _enum(RecordMode),
        "`none`: never forward; `missing`: forward and record requests no scenario "
        "matches; `all`: every request (`mockllm record`)",
        "`none`",
        ("--record",),
        metavar="MODE",
        serve_only=True,
    ),
    Option(
        "upstream",
        _text_or_none,
        "the OpenAI-compatible base URL to forward to (e.g. https://api.openai.com/v1)",
        "none",
        ("--upstream",),
        metavar="URL",
    ),
    Option(
        "upstream_key",
        _text_or_none,
        "API key sent upstream instead of the client's; never written to a file",
        "the client's",
        ("--upstream-key",),
        metavar="KEY",
    ),
    Option(
        "record_dir",
        _path_or_none,
        "where recordings go (`mockllm record --out DIR`)",
        "first `--scenarios` folder",
        ("--record-dir",),
        metavar="DIR",
        serve_only=True,
    ),
    Option(
        "record_setup_errors",
        _parse_bool,
        "also record the upstream's 401, 403 and 404 answers (a bad key, an `--upstream` "
        "without `/v1`): relayed, but not recorded otherwise",
        "off",
        ("--record-setup-errors",),
        switch=True,
    ),
    Option(
        "redact",
        _lines,
        "more patterns scrubbed from recordings (repeatable; one per line in the variable)",
        "keys, bearer tokens",
        ("--redact",),
        metavar="REGEX",
        many="append",
        separator="\n",
    ),
    Option("max_body_bytes", _parse_int, "larger request bodies get 413", "16 MiB", low=1),
    Option("journal_size", _parse_int, "exchanges kept in the journal", "1000", low=0),
)
_BY_NAME: Mapping[str, Option] = MappingProxyType({o.name: o for o in OPTIONS})


def check_range(name: str, value: Any, *, source: str | None = None) -> None:
    """Raise ConfigError, naming ``source`` (a variable or flag), when the numeric
    setting ``name`` is outside the values it takes (None, "not set", always passes)."""
    _BY_NAME[name].check(value, source or name)


def parse_value(name: str, raw: str, *, source: str | None = None) -> Any:
    """Turn the text of one setting (from env or CLI) into its typed value."""
    return _BY_NAME[name].parser(raw, source or name)


def settings_markdown() -> str:
    """The documentation's table of settings: flag, variable, default, meaning."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        flags = ", ".join(
            f"`{flag}{' ' + option.metavar if option.metavar and not i else ''}"
            f"{'…' if option.many == '+' and not i else ''}`"
            for i, flag in enumerate(option.flags)
        )
        rows.append(f"| {flags} | `{option.variable_hint}` | {option.default} | {option.help} |")
    return "\n".join(rows) + "\n"
