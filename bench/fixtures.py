"""The content every benchmark server answers with, written once for each server's format.

One canned non-stream reply of about 1 KB (``CANNED_TEXT``) and one stream of
``STREAM_CHUNKS`` content chunks of ``CHUNK_CHARS`` characters (``STREAM_TEXT``), so
mockllm, aimock and the bare endpoint send the same text in the same number of
pieces. The requests that ask for them carry a marker in the last user message
(``CANNED_MARK``, ``STREAM_MARK``); mockllm gets them as a scenario file, aimock as
a fixture file, and the bare endpoint builds its answers from the same constants.
The default request carries neither marker, so mockllm gives it its generated reply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CANNED_MARK",
    "CANNED_TEXT",
    "CHUNK_CHARS",
    "CONTENT",
    "DEFAULT_MESSAGE",
    "MESSAGES",
    "MESSAGES_HEADERS",
    "MESSAGES_MODEL",
    "MODEL",
    "STREAM_CHUNKS",
    "STREAM_MARK",
    "STREAM_TEXT",
    "aimock_fixtures",
    "messages_body",
    "mockllm_scenarios",
    "request_body",
    "split_chars",
    "write_aimock_fixtures",
    "write_mockllm_scenarios",
]

MODEL = "gpt-4o-mini"
CANNED_MARK = "bench-canned"
STREAM_MARK = "bench-stream"
DEFAULT_MESSAGE = "Give me a short status update on the benchmark."

# Sixteen sentences of 64 characters: 1,023 characters once the last space goes.
CANNED_TEXT = "".join(
    f"Sentence {i:02d} of the canned benchmark reply is plain ASCII prose. " for i in range(1, 17)
).rstrip()
STREAM_CHUNKS = 20
CHUNK_CHARS = 20
STREAM_TEXT = CANNED_TEXT[: STREAM_CHUNKS * CHUNK_CHARS]


def split_chars(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` in pieces of ``size`` characters, as aimock and mockllm's ``chars`` cut it."""
    return [text[start : start + size] for start in range(0, len(text), size)]


# The last user message of each kind of request: the canned reply, the stream, or neither.
MESSAGES = {
    "default": DEFAULT_MESSAGE,
    "canned": f"{CANNED_MARK}: the canned reply, please.",
    "stream": f"{STREAM_MARK}: the canned stream, please.",
}
# The content the answer to each kind must carry (none for mockllm's generated reply).
CONTENT = {"canned": CANNED_TEXT, "stream": STREAM_TEXT}


def request_body(
    reply: str = "default", *, stream: bool = False, api: str = "chat"
) -> dict[str, Any]:
    """A small valid request asking for ``reply`` (a key of ``MESSAGES``): chat
    completions, or with ``api="responses"`` the same ask to ``/v1/responses``."""
    if api == "responses":
        asked: dict[str, Any] = {
            "model": MODEL,
            "instructions": "You are a terse assistant.",
            "input": MESSAGES[reply],
        }
        if stream:
            asked["stream"] = True
        return asked
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": MESSAGES[reply]},
        ],
    }
    if stream:
        body["stream"] = True
    return body


MESSAGES_MODEL = "claude-sonnet-4-5"
# What an anthropic SDK sends besides the body (mockllm's Messages surface wants a key).
MESSAGES_HEADERS = {"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}


def messages_body(reply: str = "default", *, stream: bool = False) -> dict[str, Any]:
    """The same request as :func:`request_body`, in Anthropic's Messages spelling."""
    body: dict[str, Any] = {
        "model": MESSAGES_MODEL,
        "max_tokens": 1024,
        "system": "You are a terse assistant.",
        "messages": [{"role": "user", "content": MESSAGES[reply]}],
    }
    if stream:
        body["stream"] = True
    return body


def mockllm_scenarios() -> dict[str, Any]:
    """The canned reply and the stream as mockllm scenarios (docs/scenarios.md)."""
    return {
        "scenarios": [
            {
                "name": CANNED_MARK,
                "when": {"last_user_message": {"contains": CANNED_MARK}},
                "reply": {"content": CANNED_TEXT},
            },
            {
                "name": STREAM_MARK,
                "when": {"last_user_message": {"contains": STREAM_MARK}},
                # Cut by characters like aimock, unpaced: the same chunks, as fast as it can.
                "reply": {
                    "content": STREAM_TEXT,
                    "timing": {"chunk": "chars", "chunk_size": CHUNK_CHARS},
                },
            },
        ]
    }


def aimock_fixtures() -> dict[str, Any]:
    """The same two replies as an aimock fixture file (``userMessage`` is a substring match)."""
    return {
        "fixtures": [
            {"match": {"userMessage": CANNED_MARK}, "response": {"content": CANNED_TEXT}},
            {
                "match": {"userMessage": STREAM_MARK},
                "response": {"content": STREAM_TEXT},
                "chunkSize": CHUNK_CHARS,
            },
        ]
    }


def write_mockllm_scenarios(path: Path) -> Path:
    """Write :func:`mockllm_scenarios` as a YAML scenario file; return ``path``."""
    path.write_text(
        yaml.safe_dump(mockllm_scenarios(), sort_keys=False, width=200), encoding="utf-8"
    )
    return path


def write_aimock_fixtures(path: Path) -> Path:
    """Write :func:`aimock_fixtures` as an aimock JSON fixture file; return ``path``."""
    path.write_text(json.dumps(aimock_fixtures(), indent=2), encoding="utf-8")
    return path
