"""Model errors as the API gives them, for ``--strict-models`` (or ``strict: true`` in a
catalog file): off by default, since a mock that accepts is the right default.

:func:`model_error` returns the first problem of a chat request for its model, in the
order the API checks: an unknown model (404 ``model_not_found``), a parameter the model
does not take (400 ``unsupported_parameter``), a value or message role it refuses (400
``unsupported_value``), a prompt over its context window (400
``context_length_exceeded``). Messages and params are the API's own wording.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..errors import APIError, BadRequestError, NotFoundError
from .cards import Catalog

__all__ = ["model_error", "unknown_model"]

# What the API adds to the refusal of a parameter that has a successor.
_INSTEAD: Mapping[str, str] = MappingProxyType({"max_tokens": "max_completion_tokens"})


def unknown_model(model: Any) -> NotFoundError:
    """The API's 404 for a model it does not serve."""
    return NotFoundError(
        f"The model `{model}` does not exist or you do not have access to it.",
        openai_code="model_not_found",
        param="model",
    )


def model_error(
    catalog: Catalog, body: Mapping[str, Any], prompt_tokens: Callable[[], int]
) -> APIError | None:
    """The error the API answers ``body`` with for its model, or None (module
    docstring). ``prompt_tokens`` counts the prompt, called only for a known model."""
    model = body.get("model")
    card = catalog.get(model)
    if card is None:
        return unknown_model(model)
    refuses = card.refuses
    for name in sorted(refuses.parameters):
        if body.get(name) is not None:
            instead = _INSTEAD.get(name)
            hint = f" Use '{instead}' instead." if instead else ""
            return _unsupported(
                f"Unsupported parameter: '{name}' is not supported with this model.{hint}",
                name,
                "unsupported_parameter",
            )
    for name, allowed in refuses.values.items():
        value = body.get(name)
        if value is not None and value not in allowed:
            shown = ", ".join(map(_dumps, allowed))
            return _unsupported(
                f"Unsupported value: '{name}' does not support {_dumps(value)} with this "
                f"model. Only the default ({shown}) value is supported.",
                name,
                "unsupported_value",
            )
    if refuses.roles:
        for index, message in enumerate(body.get("messages") or ()):
            role = message.get("role") if isinstance(message, Mapping) else None
            if role in refuses.roles:
                param = f"messages[{index}].role"
                return _unsupported(
                    f"Unsupported value: '{param}' does not support '{role}' with this model.",
                    param,
                    "unsupported_value",
                )
    tokens = prompt_tokens()
    if tokens > card.context_window:
        return BadRequestError(
            f"This model's maximum context length is {card.context_window} tokens. "
            f"However, your messages resulted in {tokens} tokens. Please reduce the "
            "length of the messages.",
            param="messages",
            openai_code="context_length_exceeded",
            error_code="ContextLengthExceeded",
        )
    return None


def _unsupported(message: str, param: str, code: str) -> BadRequestError:
    return BadRequestError(
        message,
        param=param,
        openai_code=code,
        error_code="UnsupportedParameter"
        if code == "unsupported_parameter"
        else "UnsupportedValue",
    )


def _dumps(value: Any) -> str:
    """A value as the API's messages quote it (JSON-ish: 0.2, true, 'text')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)
