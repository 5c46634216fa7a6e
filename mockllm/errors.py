"""Every error mockllm raises, and how each one looks on the wire.

The tree, with one root::

    MockLLMError                  every error mockllm raises
    ├── APIError                  an HTTP answer other than success
    │   ├── BadRequestError     400   BadRequest / invalid_request_error
    │   │   ├── InvalidBodyError 400  SerializationException (bad JSON, not an object, empty)
    │   │   └── RequestValidationError 400  one FieldError per problem found in the body
    │   ├── UnauthorizedError   401   Unauthorized
    │   ├── NotFoundError       404   NotFound (unknown path, unknown model)
    │   ├── MethodNotAllowedError 405 NotImplementedException
    │   ├── NotAcceptableError  406   NotAcceptable (an Accept or ?format mockllm cannot write)
    │   ├── PayloadTooLargeError 413  RequestEntityTooLarge
    │   ├── UnsupportedMediaTypeError 415  UnsupportedMediaType
    │   ├── NoScenarioMatchedError 404 NoScenarioMatched (strict mode; carries the near misses)
    │   ├── TemplateLimitError  422   TemplateLimitExceeded (a reply template grew past a limit)
    │   ├── TemplateRenderError 422   ScenarioTemplateError (a reply template raised; not retried)
    │   ├── RateLimitExceededError 429 TooManyRequests (a --rate-limit-* budget is spent)
    │   ├── StateUnavailableError 503 ServiceUnavailable (the state store cannot be reached)
    │   └── ScriptedError       any   a reply a scenario asked for (429, 500, ...)
    ├── ConfigError                   a problem found at load time, never at request time
    │   ├── ScenarioLoadError         names the file, line and key
    │   ├── ScenarioValueError        a value inside a scenario; ``path`` says where
    │   │   ├── ConditionError        a `when:` condition that cannot be compiled
    │   │   └── TemplateProblem       a reply template that cannot be compiled
    │   ├── YamlProblem               YAML that does not parse (line and key)
    │   └── SchemaSourceError         the API page or overlay the schemas are built from
    │       ├── PageStructureError    the page lacks the structure the generator reads
    │       └── OverlayError          an overlay entry that is malformed or does not apply
    └── MockLLMAssertionError         a pytest-plugin journal assertion that failed

Internal (caught inside mockllm, never seen by a user; not in ``__all__``)::

    MockLLMError
    ├── TemplateFailure               a reply template raised (inside rendering, finding its key)
    ├── UnsupportedPattern            a regex the instance generator cannot satisfy
    ├── KeyClash                      one field sent under two spellings (casing.py)
    ├── ClientError                   mockllm conform: no usable answer from the server
    └── Mismatch                      mockllm conform: an answer a check does not expect
        └── NotOffered                mockllm conform: an optional feature declined

Each HTTP error knows its status, its ServiceStack ``errorCode`` and its OpenAI
``type``/``code``; each surface's ``errors.error_body`` (``surfaces/chat/errors.py`` for
chat completions) turns one into the response body. Nothing here imports aiohttp, so the
errors can be raised and tested anywhere. ``MockLLMException``, the root's name before 0.2,
still imports with a DeprecationWarning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "APIError",
    "BadRequestError",
    "ConditionError",
    "ConfigError",
    "FieldError",
    "InvalidBodyError",
    "MethodNotAllowedError",
    "MockLLMAssertionError",
    "MockLLMError",
    "NoScenarioMatchedError",
    "NotAcceptableError",
    "NotFoundError",
    "OverlayError",
    "PageStructureError",
    "PayloadTooLargeError",
    "RateLimitExceededError",
    "RequestValidationError",
    "ScenarioLoadError",
    "ScenarioValueError",
    "SchemaSourceError",
    "ScriptedError",
    "StateUnavailableError",
    "TemplateLimitError",
    "TemplateProblem",
    "TemplateRenderError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "YamlProblem",
    "openai_type_for_status",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of a request body.

    ``field_name`` is the ServiceStack DTO path (``Messages[0].Role``), ``param`` the
    snake_case JSON path OpenAI clients expect (``messages[0].role``).
    ``error_code`` is the ServiceStack validator code (``InclusiveBetween``,
    ``NotNull``...) and ``code`` the OpenAI one (``invalid_value``...).
    """

    field_name: str
    param: str
    error_code: str
    code: str
    message: str


# status -> OpenAI error `type`, as observed on api.openai.com (wire-format.md 5.4).
_OPENAI_TYPES: Mapping[int, str] = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "invalid_request_error",
        405: "invalid_request_error",
        406: "invalid_request_error",
        409: "invalid_request_error",
        413: "invalid_request_error",
        415: "invalid_request_error",
        422: "invalid_request_error",
        429: "rate_limit_error",
    }
)


def openai_type_for_status(status: int) -> str:
    """The OpenAI error ``type`` that goes with an HTTP status."""
    if status >= 500:
        return "server_error"
    return _OPENAI_TYPES.get(status, "invalid_request_error")


class MockLLMError(Exception):
    """The root of every error mockllm raises."""


class APIError(MockLLMError):
    """An error answered over HTTP: status, codes for both envelopes, message, extras."""

    status: int = 500
    error_code: str = "Exception"
    openai_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        field_errors: Sequence[FieldError] = (),
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        openai_code: str | None = None,
        openai_type: str | None = None,
        error_code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors: tuple[FieldError, ...] = tuple(field_errors)
        self.param = (
            param
            if param is not None
            else (self.field_errors[0].param if self.field_errors else None)
        )
        self.headers: dict[str, str] = dict(headers or {})
        if status is not None:
            self.status = status
        if error_code is not None:
            self.error_code = error_code
        if openai_code is not None:
            self.openai_code = openai_code
        self.openai_type = openai_type or openai_type_for_status(self.status)
        # Extra, machine-readable facts (near misses, allowed methods...) that the
        # journal and the error body's `meta` may show.
        self.details: dict[str, Any] = dict(details or {})


class BadRequestError(APIError):
    """The request cannot be answered as sent."""

    status = 400
    error_code = "BadRequest"
    openai_code = "invalid_request"


class InvalidBodyError(BadRequestError):
    """The body is not a JSON object: malformed, empty, or another JSON type."""

    error_code = "SerializationException"
    openai_code = "invalid_json"


class RequestValidationError(BadRequestError):
    """The body is JSON but breaks the ChatCompletion schema; one FieldError per problem.

    As in ServiceStack's ``ValidationErrorResult``, the top-level code and message
    are those of the first field error.
    """

    def __init__(self, field_errors: Sequence[FieldError], **kwargs: Any) -> None:
        if not field_errors:
            raise ValueError("RequestValidationError needs at least one FieldError")
        first = field_errors[0]
        more = len(field_errors) - 1
        message = first.message if not more else f"{first.message} (and {more} more)"
        super().__init__(
            message,
            field_errors=field_errors,
            error_code=first.error_code,
            openai_code=first.code,
            **kwargs,
        )


class UnauthorizedError(APIError):
    """A missing or wrong API key or control-API token."""

    status = 401
    error_code = "Unauthorized"
    openai_code = "invalid_api_key"


class NotFoundError(APIError):
    """An unknown path, or a model the server does not know."""

    status = 404
    error_code = "NotFound"
    openai_code = "not_found"


class MethodNotAllowedError(APIError):
    """A verb the path does not take."""

    status = 405
    error_code = "NotImplementedException"
    openai_code = "method_not_allowed"


class NotAcceptableError(APIError):
    """An ``Accept`` header, ``?format=`` or suffix asking for a format mockllm cannot write."""

    status = 406
    error_code = "NotAcceptable"
    openai_code = "unsupported_format"


class PayloadTooLargeError(APIError):
    """A body over the configured size limit."""

    status = 413
    error_code = "RequestEntityTooLarge"
    openai_code = "request_too_large"


class UnsupportedMediaTypeError(APIError):
    """A body whose Content-Type is not JSON."""

    status = 415
    error_code = "UnsupportedMediaType"
    openai_code = "unsupported_media_type"


class NoScenarioMatchedError(APIError):
    """Strict mode: no scenario matched; ``details['near_misses']`` says why each failed."""

    status = 404
    error_code = "NoScenarioMatched"
    openai_code = "no_scenario_matched"


class ScriptedError(APIError):
    """An error reply that a scenario scripted, with its own status, codes and headers."""


class TemplateLimitError(APIError):
    """A reply template that would render too much (``max_reply_chars``), or loop or
    compute too long. A 4xx, as the same request fails the same way again: clients
    should not retry it."""

    status = 422
    error_code = "TemplateLimitExceeded"
    openai_code = "template_limit_exceeded"


class TemplateRenderError(APIError):
    """A reply template that raised while rendering (a faker call with bad arguments, a
    missing key of the request): the scenario's mistake, which the same request meets
    again. A 422 with ``x-should-retry: false`` (read by the OpenAI and Anthropic SDKs),
    naming the scenario, the template's file and line, and the template's own message.

    ``key_path`` is where the failing template sits in the scenario (``reply.content``).
    """

    status = 422
    error_code = "ScenarioTemplateError"
    openai_code = "scenario_template_error"

    def __init__(
        self,
        scenario: str,
        where: str,
        problem: str,
        *,
        key_path: Sequence[str | int] = (),
        location: str = "",
    ) -> None:
        place = f"{location}, {where}" if location else where
        super().__init__(
            f"scenario {scenario!r} ({place}): the reply template failed: {problem}",
            headers={"x-should-retry": "false"},
        )
        self.scenario, self.where, self.problem = scenario, where, problem
        self.key_path: tuple[str | int, ...] = tuple(key_path)

    def located(self, location: str) -> TemplateRenderError:
        """The same error naming the template's ``file:line``."""
        return TemplateRenderError(
            self.scenario, self.where, self.problem, key_path=self.key_path, location=location
        )


class RateLimitExceededError(APIError):
    """A request over a configured budget: 429 with OpenAI's ``rate_limit_exceeded``."""

    status = 429
    error_code = "TooManyRequests"
    openai_code = "rate_limit_exceeded"


class StateUnavailableError(APIError):
    """The shared state store cannot be reached: 503, naming the store."""

    status = 503
    error_code = "ServiceUnavailable"
    openai_code = "state_store_unavailable"


class ConfigError(MockLLMError):
    """A problem in settings or files, reported when they are loaded."""


class ScenarioLoadError(ConfigError):
    """A scenario file that cannot be used; the message names file, line and key."""

    def __init__(
        self, message: str, *, path: str = "", line: int | None = None, key: str = ""
    ) -> None:
        where = path
        if line is not None:
            where = f"{where}:{line}"
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.key = key
        self.reason = message


class ScenarioValueError(ConfigError, ValueError):
    """A value inside a scenario that cannot be used; ``path`` is where, below the key
    that holds it (the loader adds file, line and the rest of the key path)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.reason = message
        self.path = path


class ConditionError(ScenarioValueError):
    """A condition value that cannot be used; ``path`` is where, below the condition."""

    def under(self, *prefix: str | int) -> ConditionError:
        """The same error, one level further from the condition's value."""
        return ConditionError(self.reason, (*prefix, *self.path))


class TemplateProblem(ScenarioValueError):
    """A reply template that cannot be compiled; ``path`` is where it sits in the file."""


class YamlProblem(ConfigError):
    """YAML text that does not parse, with the line and key where it breaks."""

    def __init__(self, message: str, line: int | None, key: Any = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.key = key


class SchemaSourceError(ConfigError, ValueError):
    """The API page or the overlay that the schemas are generated from is unusable."""


class PageStructureError(SchemaSourceError):
    """The page does not have the structure the generator expects; the message says where."""


class OverlayError(SchemaSourceError):
    """An overlay entry that is malformed or does not apply to the generated schemas."""


class TemplateFailure(MockLLMError):
    """A reply template that raised while rendering, on its way out of the reply's tree:
    each mapping or list it passes notes the key that held it (``path``), so rendering
    that succeeds pays nothing for knowing where a failure was. The template engine
    turns it into a :class:`TemplateRenderError`."""

    def __init__(self, node: Any, cause: Exception) -> None:
        super().__init__(str(cause))
        self.node = node
        self.cause = cause
        self.path: list[str | int] = []

    def found_in(self, container: Any) -> None:
        """Note which key (or index) of ``container`` held the node that failed."""
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in items:
            if value is self.node:
                self.path.insert(0, key)
                break
        self.node = container


class UnsupportedPattern(MockLLMError):
    """A regex construct the instance generator does not handle."""


class MockLLMAssertionError(MockLLMError, AssertionError):
    """A journal assertion of the pytest plugin that failed; the message lists the
    near-by requests."""


class KeyClash(MockLLMError, ValueError):
    """Two keys of one object name the same property (``top_logprobs`` and ``topLogprobs``).

    ``path`` is the JSON path of the property (``["messages", 0, "tool_call_id"]``),
    ``sent`` the spelling that clashed with the canonical one.
    """

    def __init__(self, sent: str, canonical: str) -> None:
        super().__init__(f"{sent!r} and {canonical!r} name the same field")
        self.sent = sent
        self.path: list[str | int] = [canonical]


class ClientError(MockLLMError):
    """mockllm conform: no usable answer: refused, reset, timed out, or not HTTP."""


class Mismatch(MockLLMError):
    """mockllm conform, raised inside a check: the answer is not what the check expects
    (``fail``)."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"expected {expected}; got {got}")
        self.expected = expected
        self.got = got


class NotOffered(Mismatch):
    """mockllm conform, raised inside a check: the server declines an optional feature
    (``unsupported``)."""


def __getattr__(name: str) -> Any:
    """``MockLLMException``, the root's name before 0.2, still importable with a warning.

    The tree was renamed so that the root is ``MockLLMError`` (as users expect of a root)
    and the base of HTTP answers is ``APIError``; code that catches ``MockLLMError`` still
    catches every HTTP error, as before.
    """
    if name == "MockLLMException":
        warnings.warn(
            "mockllm.errors.MockLLMException is now MockLLMError, the root of mockllm's "
            "errors; HTTP answers derive from APIError",
            DeprecationWarning,
            stacklevel=2,
        )
        return MockLLMError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
