"""mockllm: a validating mock and simulator of the chat completions API."""

from __future__ import annotations

from .config import ErrorDialect, Settings, ValidationMode
from .errors import ConfigError, FieldError, MockLLMError

__all__ = [
    "ConfigError",
    "ErrorDialect",
    "FieldError",
    "MockLLMError",
    "Settings",
    "ValidationMode",
]
