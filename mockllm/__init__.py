"""mockllm: a validating mock and simulator of the chat completions API.

What users import, from one place::

    from mockllm import MockLLMServer, Settings, create_app, default_registry

Names are loaded on first use (PEP 562), so ``import mockllm`` and the pytest plugin
stay cheap for a test run that never starts a server.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ErrorDialect, Settings, ValidationMode
    from .errors import (
        APIError,
        BadRequestError,
        ConditionError,
        ConfigError,
        FieldError,
        MockLLMAssertionError,
        MockLLMError,
        NoScenarioMatchedError,
        NotFoundError,
        RateLimitExceededError,
        RequestValidationError,
        ScenarioLoadError,
        ScriptedError,
        StateUnavailableError,
        TemplateProblem,
    )
    from .http.app import AppParts, create_app
    from .journal import Exchange, JournalQuery
    from .scenario_engine.conditions import MatcherRegistry, RequestView, default_registry
    from .scenario_engine.loader import ScenarioLoader, load_scenario_data, load_scenarios
    from .server import MockLLMServer
    from .state import MemoryStore, StateStore
    from .testing import MockLLM

# The version of the distribution (mockllm-server); setup.cfg reads it from here.
__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = MappingProxyType(
    {
        "AppParts": "http.app",
        "BadRequestError": "errors",
        "ConditionError": "errors",
        "ConfigError": "errors",
        "ErrorDialect": "config",
        "Exchange": "journal",
        "FieldError": "errors",
        "JournalQuery": "journal",
        "MatcherRegistry": "scenario_engine.conditions",
        "MemoryStore": "state",
        "MockLLM": "testing",
        "MockLLMAssertionError": "errors",
        "APIError": "errors",
        "MockLLMError": "errors",
        "MockLLMServer": "server",
        "NoScenarioMatchedError": "errors",
        "NotFoundError": "errors",
        "RateLimitExceededError": "errors",
        "RequestValidationError": "errors",
        "RequestView": "scenario_engine.conditions",
        "ScenarioLoadError": "errors",
        "ScenarioLoader": "scenario_engine.loader",
        "ScriptedError": "errors",
        "Settings": "config",
        "StateStore": "state",
        "StateUnavailableError": "errors",
        "TemplateProblem": "errors",
        "ValidationMode": "config",
        "create_app": "http.app",
        "default_registry": "scenario_engine.conditions",
        "load_scenario_data": "scenario_engine.loader",
        "load_scenarios": "scenario_engine.loader",
    }
)

__all__ = [
    "APIError",
    "AppParts",
    "BadRequestError",
    "ConditionError",
    "ConfigError",
    "ErrorDialect",
    "Exchange",
    "FieldError",
    "JournalQuery",
    "MatcherRegistry",
    "MemoryStore",
    "MockLLM",
    "MockLLMAssertionError",
    "MockLLMError",
    "MockLLMServer",
    "NoScenarioMatchedError",
    "NotFoundError",
    "RateLimitExceededError",
    "RequestValidationError",
    "RequestView",
    "ScenarioLoadError",
    "ScenarioLoader",
    "ScriptedError",
    "Settings",
    "StateStore",
    "StateUnavailableError",
    "TemplateProblem",
    "ValidationMode",
    "create_app",
    "default_registry",
    "load_scenario_data",
    "load_scenarios",
]


def __getattr__(name: str) -> Any:
    if name == "MockLLMException":  # the root's name before 0.2 (errors.__getattr__ warns)
        return getattr(importlib.import_module(".errors", __name__), name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockllm' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
