"""Settings: one frozen object built from defaults, the environment and the command line.

Every knob of a running mockllm lives here, so ``create_app(settings)`` is the only
way configuration reaches the server. ``Settings.from_env()`` reads ``MOCKLLM_*``
variables; a bad value raises ``ConfigError`` naming the variable and the values
it takes, never a failure at request time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .state import state_url_problem

__all__ = ["ErrorDialect", "RecordMode", "Settings", "ValidationMode",
           "check_range", "parse_value", "parse_workers"]


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
    # Worker processes serving one port (above 1 needs a shared ``state``).
    workers: int = 1
    # Recording (docs/recording.md): the upstream to forward to, the key sent there
    # (never written anywhere, not even in this object's repr), where recordings go
    # (default: the first scenario folder) and regexes scrubbed from recorded bodies.
    record: RecordMode = RecordMode.NONE
    upstream: str | None = None
    upstream_key: str | None = field(default=None, repr=False)
    record_dir: Path | None = None
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in _RANGES:
            check_range(name, getattr(self, name), source=name)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` values are left as they were."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MOCKLLM_<FIELD>`` variables (``MOCKLLM_PORT=9000``...)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"MOCKLLM_{f.name.upper()}"
            if name in env:
                values[f.name] = parse_value(f.name, env[name], source=name)
                check_range(f.name, values[f.name], source=name)
        return cls(**values)


def _parse_bool(raw: str, source: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{source}: {raw!r} is not a boolean (use true or false)")


def _parse_enum(enum: type[Enum], raw: str, source: str) -> Enum:
    try:
        return enum(raw.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in enum)
        raise ConfigError(f"{source}: {raw!r} is not one of {valid}") from None


def _parse_int(raw: str, source: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{source}: {raw!r} is not an integer") from None


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


_PARSERS: Mapping[str, Any] = MappingProxyType({
    "host": lambda raw, src: raw,
    "port": _parse_int,
    "seed": _parse_seed,
    "validation": lambda raw, src: _parse_enum(ValidationMode, raw, src),
    "error_dialect": lambda raw, src: _parse_enum(ErrorDialect, raw, src),
    "models_file": lambda raw, src: Path(raw) if raw.strip() else None,
    "strict_models": _parse_bool,
    "max_body_bytes": _parse_int,
    "max_reply_chars": _parse_int,
    "scenario_paths": lambda raw, src: tuple(Path(p) for p in raw.split(os.pathsep) if p),
    "strict": _parse_bool,
    "reload": _parse_bool,
    "journal_size": _parse_int,
    "admin_token": lambda raw, src: raw or None,
    "check_replies": _parse_bool,
    "rate_limit_rpm": lambda raw, src: _parse_int(raw, src) if raw.strip() else None,
    "rate_limit_tpm": lambda raw, src: _parse_int(raw, src) if raw.strip() else None,
    "rate_limit_per_key": _parse_bool,
    "verbose": _parse_bool,
    "quiet": _parse_bool,
    "cors": _parse_bool,
    "state": _parse_state,
    "state_prefix": lambda raw, src: raw,
    "workers": parse_workers,
    "record": lambda raw, src: _parse_enum(RecordMode, raw, src),
    "upstream": lambda raw, src: raw.strip() or None,
    "upstream_key": lambda raw, src: raw.strip() or None,
    "record_dir": lambda raw, src: Path(raw) if raw.strip() else None,
    "redact": lambda raw, src: tuple(p for p in raw.split("\n") if p.strip()),
})


# The values each numeric setting takes: (lowest, highest or None for no upper bound).
# A value outside is refused at startup: MOCKLLM_MAX_BODY_BYTES=-1 would otherwise
# start a server that refuses every request.
_RANGES: Mapping[str, tuple[int, int | None]] = MappingProxyType({
    "port": (0, 65535),
    "max_body_bytes": (1, None),
    "max_reply_chars": (1, None),
    "journal_size": (0, None),
    "rate_limit_rpm": (1, None),
    "rate_limit_tpm": (1, None),
})


def check_range(name: str, value: Any, *, source: str | None = None) -> None:
    """Raise ConfigError, naming ``source`` (a variable or flag), when the numeric
    setting ``name`` is outside the values it takes (None, "not set", always passes)."""
    bounds = _RANGES.get(name)
    if bounds is None or value is None:
        return
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source or name}: {value!r} is not a whole number")
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{source or name}: {value} is out of range (use a whole number "
                          f"{allowed})")


def parse_value(name: str, raw: str, *, source: str | None = None) -> Any:
    """Turn the text of one setting (from env or CLI) into its typed value."""
    return _PARSERS[name](raw, source or name)
