"""The openai Node SDK and the Vercel AI SDK against a real running mockllm.

``tests/clients/node`` pins both (package-lock.json, Node 20); ``npm ci`` installs them
once per session. Each script there runs the four shared checks against the live
server and prints one JSON object, which these tests read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from client_checks import (
    CASE,
    assert_names_temperature,
    assert_text_reply,
    assert_tool_arguments,
    install_into,
    reported,
)

from mockllm.server import MockLLMServer

NODE_DIR = Path(__file__).parent / "node"


@dataclass(frozen=True, slots=True)
class NodeClient:
    """One Node client script and the names its SDK gives to the same facts."""

    script: str
    tool_finish_reason: str
    error_class: str
    output_tokens: str
    total_tokens: str


CLIENTS = [
    NodeClient(
        "openai_node.mjs", "tool_calls", "BadRequestError", "completion_tokens", "total_tokens"
    ),
    NodeClient("vercel_ai.mjs", "tool-calls", "APICallError", "outputTokens", "totalTokens"),
]


def _tool(name: str) -> str:
    """The path of a Node tool. Without Node these tests skip on a Python-only machine
    (the README's promise) but fail in CI, which sets REQUIRE_NODE_CLIENTS=1."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not on PATH: the Node client tests need Node >= 20 and npm"
        if os.environ.get("REQUIRE_NODE_CLIENTS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def node_ready() -> Path:
    """``npm ci`` into tests/clients/node, once per session (and per lockfile)."""
    node, npm = _tool("node"), _tool("npm")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    key = f"{version} {hashlib.sha256(lock).hexdigest()}"

    def npm_ci(folder: Path) -> None:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--engine-strict"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"

    install_into(NODE_DIR / "node_modules", key, npm_ci)
    return NODE_DIR


@pytest.fixture(scope="module", params=CLIENTS, ids=lambda c: c.script.removesuffix(".mjs"))
def run(
    request: pytest.FixtureRequest, node_ready: Path, live_server: MockLLMServer
) -> tuple[NodeClient, dict[str, Any]]:
    """The client's script run once against the live server: its JSON report."""
    client: NodeClient = request.param
    done = subprocess.run(
        [_tool("node"), client.script, live_server.base_url, json.dumps(CASE)],
        cwd=node_ready,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{client.script} failed:\n{done.stdout}\n{done.stderr}"
    return client, json.loads(done.stdout)


def _check(run: tuple[NodeClient, dict[str, Any]], name: str) -> tuple[NodeClient, dict]:
    client, report = run
    return client, reported(report, name, client.script)


def test_plain_completion(run: tuple[NodeClient, dict[str, Any]]) -> None:
    client, plain = _check(run, "plain")
    assert_text_reply(plain["content"])
    assert plain["finish_reason"] == "stop"
    usage = plain["usage"]
    assert usage[client.output_tokens] > 0
    assert usage[client.total_tokens] > usage[client.output_tokens]


def test_stream_accumulates_to_the_plain_reply(run: tuple[NodeClient, dict[str, Any]]) -> None:
    client, stream = _check(run, "stream")
    _, plain = _check(run, "plain")
    assert stream.get("error") is None
    assert stream["content"] == plain["content"]
    assert stream["deltas"] > 1  # really streamed, not one blob
    assert stream["finish_reason"] == "stop"
    # Both scripts ask for the usage chunk: the streamed count must match the plain one.
    assert stream["usage"][client.output_tokens] == plain["usage"][client.output_tokens]


def test_tool_call_arguments_are_parsed(run: tuple[NodeClient, dict[str, Any]]) -> None:
    client, tool = _check(run, "tool")
    assert tool["name"] == CASE["tool"]["name"]
    assert tool.get("invalid") is not True  # the AI SDK marks input its schema rejected
    assert_tool_arguments(tool["args"])
    assert tool["finish_reason"] == client.tool_finish_reason


def test_bad_request_is_the_client_error_naming_the_field(
    run: tuple[NodeClient, dict[str, Any]],
) -> None:
    client, error = _check(run, "error")
    assert error["raised"] == client.error_class
    assert error["status"] == 400
    assert_names_temperature(error["message"])
    if "param" in error:  # the openai SDK exposes the OpenAI error envelope's fields
        assert error["param"] == "temperature"
        assert error["type"] == "invalid_request_error"


# ------------------------------------------------- the Responses API (/v1/responses)


@pytest.fixture(scope="module")
def responses_report(node_ready: Path, live_server: MockLLMServer) -> dict[str, Any]:
    """responses.mjs (the openai Node SDK's responses, the Vercel AI SDK's default
    Responses model) run once against the live server: its JSON report."""
    done = subprocess.run(
        [_tool("node"), "responses.mjs", live_server.base_url, json.dumps(CASE)],
        cwd=node_ready,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"responses.mjs failed:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_node_responses_plain_and_stream(responses_report: dict[str, Any]) -> None:
    plain = reported(responses_report, "plain", "responses.mjs")
    assert plain["id"].startswith("resp_") and plain["status"] == "completed"
    assert_text_reply(plain["content"])
    stream = reported(responses_report, "stream", "responses.mjs")
    assert stream["deltas"] > 1 and stream["content"] == stream["final_text"]
    assert stream["usage"]["output_tokens"] > 0


def test_node_responses_tool_and_error(responses_report: dict[str, Any]) -> None:
    tool = reported(responses_report, "tool", "responses.mjs")
    assert tool["name"] == CASE["tool"]["name"] and tool["call_id"].startswith("call_")
    assert_tool_arguments(tool["args"])
    error = reported(responses_report, "error", "responses.mjs")
    assert (error["raised"], error["status"], error["param"]) == (
        "BadRequestError",
        400,
        "temperature",
    )
    assert "between 0 and 2" in error["message"]


def test_vercel_default_model_speaks_responses(responses_report: dict[str, Any]) -> None:
    plain = reported(responses_report, "vercel_plain", "responses.mjs")
    assert_text_reply(plain["content"])
    assert plain["finish_reason"] == "stop" and plain["usage"]["outputTokens"] > 0
    stream = reported(responses_report, "vercel_stream", "responses.mjs")
    assert stream["error"] is None and stream["deltas"] > 1
    assert stream["finish_reason"] == "stop" and stream["usage"]["outputTokens"] > 0
    tool = reported(responses_report, "vercel_tool", "responses.mjs")
    assert tool["name"] == CASE["tool"]["name"] and tool["invalid"] is False
    assert_tool_arguments(tool["args"])
    assert tool["finish_reason"] == "tool-calls"
