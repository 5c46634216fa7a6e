"""Readers of a chat body shared by matching, generation and the journal.

Scenario conditions, the reply engine and the journal's summaries all need the same
facts from a request: the text of a message, the last user text, a tool's name.
They read them here, so a condition and a failure message never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["last_user_text", "message_text", "role", "system_text", "tool_name"]


def role(message: Any) -> Any:
    """A message's role (None when the message is not an object)."""
    return message.get("role") if isinstance(message, Mapping) else None


def message_text(message: Any) -> str | None:
    """The text of one message: its string content, or its text parts joined by newlines."""
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return None


def last_user_text(messages: Sequence[Any]) -> str | None:
    """The text of the last ``user`` message (as ``message_text`` reads it), if any."""
    for m in reversed(messages):
        if role(m) == "user":
            return message_text(m)
    return None


def system_text(messages: Sequence[Any]) -> str | None:
    """The text of the ``system`` and ``developer`` messages joined by newlines (None
    when there are none)."""
    texts = [
        t
        for m in messages
        if role(m) in ("system", "developer") and (t := message_text(m)) is not None
    ]
    return "\n".join(texts) if texts else None


def tool_name(holder: Any) -> str | None:
    """The name in a tool or tool call: ``function.name``, ``custom.name`` or ``name``.

    The ServiceStack DTO page types ``function`` as a plain string; take it as the name.
    """
    if not isinstance(holder, Mapping):
        return None
    for key in ("function", "custom"):
        inner = holder.get(key)
        name = inner.get("name") if isinstance(inner, Mapping) else None
        if isinstance(name, str):
            return name
        if isinstance(inner, str):
            return inner
    name = holder.get("name")
    return name if isinstance(name, str) else None
