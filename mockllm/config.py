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

__all__ = ["DEFAULT_MODELS", "ErrorDialect", "RecordMode", "Settings", "ValidationMode"]


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


DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "o3-mini",
    "gpt-4o-audio-preview",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """The configuration of one mockllm server."""

    host: str = "127.0.0.1"
    port: int = 8000
    seed: int | None = None
    validation: ValidationMode = ValidationMode.STRICT
    error_dialect: ErrorDialect = ErrorDialect.BOTH
    models: tuple[str, ...] = DEFAULT_MODELS
    # Accept any model name in a request; when False an unknown one gets a 404.
    any_model: bool = True
    max_body_bytes: int = 16 * 1024 * 1024
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
    # CORS headers and preflight answers, for browser apps on another origin.
    cors: bool = True
    # Recording (docs/recording.md): the upstream to forward to, the key sent there
    # (never written anywhere, not even in this object's repr), where recordings go
    # (default: the first scenario folder) and regexes scrubbed from recorded bodies.
    record: RecordMode = RecordMode.NONE
    upstream: str | None = None
    upstream_key: str | None = field(default=None, repr=False)
    record_dir: Path | None = None
    redact: tuple[str, ...] = ()

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
    "models": lambda raw, src: tuple(m.strip() for m in raw.split(",") if m.strip()),
    "any_model": _parse_bool,
    "max_body_bytes": _parse_int,
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
    "cors": _parse_bool,
    "record": lambda raw, src: _parse_enum(RecordMode, raw, src),
    "upstream": lambda raw, src: raw.strip() or None,
    "upstream_key": lambda raw, src: raw.strip() or None,
    "record_dir": lambda raw, src: Path(raw) if raw.strip() else None,
    "redact": lambda raw, src: tuple(p for p in raw.split("\n") if p.strip()),
})


def parse_value(name: str, raw: str, *, source: str | None = None) -> Any:
    """Turn the text of one setting (from env or CLI) into its typed value."""
    return _PARSERS[name](raw, source or name)
