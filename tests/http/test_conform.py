"""``mockllm conform``: passes against mockllm, and names each fault of a faulty server.

The faulty server is a small stdlib proxy in front of the live mockllm: the first path
segment of its base URL names the fault it injects (``/no_done/v1``), so one proxy serves
every case and a case differs from a correct server by exactly that fault.
"""

from __future__ import annotations

import ast
import http.client
import http.server
import importlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from mockllm.cli import main
from mockllm.config import ErrorDialect, Settings
from mockllm.conform import CHECKS, Client, Report, Result, Status, run_checks
from mockllm.conform.battery import sdk_error
from mockllm.conform.report import as_json, as_junit, as_text
from mockllm.conform.sse import Rule, analyse, read_stream
from mockllm.http.app import AppParts
from mockllm.schemaset import SchemaSet
from mockllm.server import MockLLMServer
from mockllm.validation import ResponseValidator

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conform.md"

# fault -> (the checks it must fail, words each failure message must contain)
FAULTS: dict[str, tuple[set[str], str]] = {
    "no_done": ({"stream.done"}, "no 'data: [DONE]' event"),
    "new_id_per_chunk": ({"stream.id"}, "different ids"),
    "no_tool_index": ({"tools.stream"}, "without an integer index"),
    "usage_sum": ({"plain.usage", "stream.include_usage"}, "usage does not add up"),
    "error_500": ({"errors.temperature", "errors.missing_messages", "errors.wrong_type"}, "500"),
    "role_every_delta": ({"stream.role"}, "role repeated"),
    "no_usage_chunk": ({"stream.include_usage"}, "no chunk carries usage"),
}


@pytest.fixture(scope="module")
def validator() -> ResponseValidator:
    """The ChatResponse schema, compiled once for the module's runs."""
    return ResponseValidator(SchemaSet.load())


def _run(base_url: str, validator: ResponseValidator, **options: Any) -> Report:
    return run_checks(
        Client(base_url, timeout=options.pop("timeout", 20.0)),
        "gpt-4o-mini",
        validator=validator,
        **options,
    )


def _failed(report: Report) -> dict[str, str]:
    return {r.name: r.got for r in report.results if r.status is Status.FAIL}


# ------------------------------------------------------------------------ against mockllm


def test_mockllm_passes_every_check(
    live_server: MockLLMServer, validator: ResponseValidator
) -> None:
    report = _run(live_server.base_url, validator)
    assert [r.name for r in report.results] == [c.name for c in CHECKS]
    assert _failed(report) == {}, as_text(report)
    assert report.count(Status.UNSUPPORTED) == 0, "mockllm offers audio and logprobs"
    assert all(r.required for r in report.results if r.name not in ("audio", "logprobs"))


def test_the_command_against_a_served_mockllm(
    live_server: MockLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "conform.json"
    code = main(["conform", live_server.base_url, "--report", "json", "--out", str(out)])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CHECKS) + 1  # one line per check, then the summary
    for check, text in zip(CHECKS, lines, strict=False):
        assert re.match(
            rf"^(PASS|FAIL|UNSUPPORTED) +{re.escape(check.name)} +expected .+; got ", text
        ), text
    assert "conforms" in lines[-1] and "does not" not in lines[-1]
    report = json.loads(out.read_text())
    assert report["passed"] is True
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == []


def test_the_installed_command_runs_as_a_process(live_server: MockLLMServer) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mockllm",
            "conform",
            live_server.base_url,
            "--only",
            "plain",
            "--report",
            "junit",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    suite = ET.fromstring(result.stdout).find("testsuite")
    assert suite is not None and suite.get("tests") == "5" and suite.get("failures") == "0"


def test_only_and_require_choose_checks(
    live_server: MockLLMServer, validator: ResponseValidator
) -> None:
    report = _run(live_server.base_url, validator, only=["stream", "plain.usage"])
    assert [r.name for r in report.results] == [
        c.name for c in CHECKS if c.name.startswith("stream") or c.name == "plain.usage"
    ]
    assert report.passed
    required = _run(live_server.base_url, validator, only=["audio"], require=["audio"])
    assert [(r.name, r.required, r.status) for r in required.results] == [
        ("audio", True, Status.PASS)
    ]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--only", "nothing"], "'nothing' names no check"),
        (["--require", "audio,sound"], "'sound' names no check"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_bad_options_exit_2_naming_the_problem(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conform", "http://127.0.0.1:9/v1", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_a_base_url_that_is_not_http_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "localhost:11434"]) == 2
    assert "not an http:// or https:// URL" in capsys.readouterr().err


# --------------------------------------------------------------------- the faulty server


def _stream_fault(fault: str, raw: bytes) -> bytes:
    events = [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]
    out = []
    for number, event in enumerate(events):
        if event == b"[DONE]":
            continue
        chunk = json.loads(event)
        if fault == "new_id_per_chunk":
            chunk["id"] = f"{chunk['id']}-{number}"
        for choice in chunk["choices"]:
            if fault == "role_every_delta":
                choice["delta"]["role"] = "assistant"
            if fault == "no_tool_index":
                for call in choice["delta"].get("tool_calls") or ():
                    del call["index"]
        if chunk.get("usage") and fault == "no_usage_chunk":
            continue
        if chunk.get("usage") and fault == "usage_sum":
            chunk["usage"]["total_tokens"] += 1
        out.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    if fault != "no_done":
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _json_fault(fault: str, request: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes]:
    if fault == "error_500" and status == 400:
        return 500, json.dumps(
            {
                "error": {
                    "message": "Internal server error",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        ).encode()
    if fault == "declines_optional" and "audio" in request.get("modalities", ()):
        return 400, json.dumps(
            {
                "error": {
                    "message": "audio output is not supported",
                    "type": "invalid_request_error",
                    "param": "modalities",
                    "code": None,
                }
            }
        ).encode()
    if status != 200:
        return status, body
    reply = json.loads(body)
    if fault == "usage_sum":
        reply["usage"]["total_tokens"] += 1
    if fault == "declines_optional":
        for choice in reply["choices"]:
            choice["logprobs"] = None
    return status, json.dumps(reply).encode()


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    """Forwards to mockllm, then breaks the answer as the path's first segment says."""

    server: _FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is the report."""

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _forward(self, data: bytes) -> None:
        _, fault, rest = self.path.split("/", 2)
        if fault == "hang":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"id": "x", "choices": []}\n\n')
            self.wfile.flush()
            time.sleep(3)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=30)
        upstream.request(
            self.command, "/" + rest, data or None, {"Content-Type": "application/json"}
        )
        response = upstream.getresponse()
        status, body = response.status, response.read()
        content_type = response.getheader("Content-Type", "")
        upstream.close()
        if content_type.startswith("text/event-stream"):
            body = _stream_fault(fault, body)
        else:
            status, body = _json_fault(fault, json.loads(data) if data else {}, status, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _FaultProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: int) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.upstream = upstream

    def base_url(self, fault: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{fault}/v1"


@pytest.fixture(scope="module")
def proxy(live_server: MockLLMServer) -> Iterator[_FaultProxy]:
    """The fault-injecting proxy in front of the live mockllm."""
    assert live_server.port is not None
    server = _FaultProxy(live_server.port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_proxy_without_a_fault_passes_as_mockllm_does(
    proxy: _FaultProxy, validator: ResponseValidator
) -> None:
    assert _failed(_run(proxy.base_url("none"), validator)) == {}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_exactly_its_checks(
    proxy: _FaultProxy, validator: ResponseValidator, fault: str
) -> None:
    checks, words = FAULTS[fault]
    report = _run(proxy.base_url(fault), validator)
    failed = _failed(report)
    assert set(failed) == checks, as_text(report)
    for name in checks:
        assert words in failed[name], f"{name}: {failed[name]}"


def test_a_server_declining_audio_and_logprobs_is_unsupported_not_failed(
    proxy: _FaultProxy, validator: ResponseValidator
) -> None:
    report = _run(proxy.base_url("declines_optional"), validator, only=["audio", "logprobs"])
    assert {r.name: r.status for r in report.results} == {
        "logprobs": Status.UNSUPPORTED,
        "audio": Status.UNSUPPORTED,
    }
    assert report.passed
    audio = next(r for r in report.results if r.name == "audio")
    assert "400, the server declines audio output" in audio.got
    required = _run(
        proxy.base_url("declines_optional"),
        validator,
        only=["audio", "logprobs"],
        require=["audio"],
    )
    assert {r.name: r.status for r in required.results} == {
        "logprobs": Status.UNSUPPORTED,
        "audio": Status.FAIL,
    }
    assert not required.passed
    assert "unsupported, but required" in _failed(required)["audio"]


def test_a_stream_that_stalls_fails_within_the_deadline(
    proxy: _FaultProxy, validator: ResponseValidator
) -> None:
    started = time.monotonic()
    report = _run(proxy.base_url("hang"), validator, only=["stream.done"], timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert "neither went on nor ended" in _failed(report)["stream.done"]


def test_a_server_that_never_answers_fails_within_the_deadline(
    validator: ResponseValidator,
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        report = _run(
            f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
            validator,
            only=["plain", "stream.done"],
            timeout=1.0,
        )
    # Two requests (the five plain checks share one answer), each given up after 1 s.
    assert time.monotonic() - started < 4.5
    failed = _failed(report)
    assert len(failed) == 6
    assert all("no answer within 1 s" in got for got in failed.values()), failed


# ------------------------------------------------------------- error bodies as the SDK reads


@pytest.mark.parametrize("dialect", [ErrorDialect.BOTH, ErrorDialect.SERVICESTACK])
def test_error_checks_read_bodies_as_the_openai_sdk_does(
    dialect: ErrorDialect, mockllm_parts: AppParts, validator: ResponseValidator
) -> None:
    with MockLLMServer(Settings(port=0, error_dialect=dialect), parts=mockllm_parts) as server:
        sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        with pytest.raises(openai.BadRequestError) as raised:
            sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], temperature=3
            )
        body = raised.value.response.content
        assert (sdk_error(body) or {}).get("param") == raised.value.param
        report = _run(server.base_url, validator, only=["errors.temperature"])
    (result,) = report.results
    if raised.value.param == "temperature":
        assert result.status is Status.PASS
    else:  # a ServiceStack-only body: the SDK finds no param, so neither does the check
        assert dialect is ErrorDialect.SERVICESTACK and raised.value.param is None
        assert result.status is Status.FAIL and "no param the SDK can read" in result.got


# ----------------------------------------------------------------------------- the reports


def _sample() -> Report:
    results = tuple(
        Result(name, f"{name} described", status, required, "what was wanted", got, 0.01)
        for name, status, required, got in [
            ("plain.usage", Status.PASS, True, "8 + 12 = 20 tokens"),
            ("stream.id", Status.FAIL, True, "2 different ids <a & b>"),
            ("audio", Status.UNSUPPORTED, False, "400, the server declines audio output"),
        ]
    )
    return Report("http://localhost:11434/v1", "llama3", results)


def test_junit_report_loads_in_an_xml_parser() -> None:
    root = ET.fromstring(as_junit(_sample()))
    (suite,) = root.iter("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["plain.usage", "stream.id", "audio"]
    assert cases["plain.usage"].find("failure") is None
    failure = cases["stream.id"].find("failure")
    assert failure is not None and failure.get("message") == "2 different ids <a & b>"
    skipped = cases["audio"].find("skipped")
    assert skipped is not None and "unsupported" in (skipped.get("message") or "")
    assert cases["stream.id"].get("classname") == "conform.stream"


def test_junit_report_of_a_real_run(proxy: _FaultProxy, validator: ResponseValidator) -> None:
    report = _run(proxy.base_url("no_done"), validator, only=["stream"])
    suite = ET.fromstring(as_junit(report)).find("testsuite")
    assert suite is not None
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["stream.done"]
    assert int(suite.get("tests") or 0) == len(report.results)


def _documented_report() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- json-report -->\s*```json\n(.*?)```", text, re.S)
    assert match, "docs/conform.md documents the JSON report after <!-- json-report -->"
    documented: dict[str, Any] = json.loads(match.group(1))
    return documented


def test_json_report_has_the_documented_shape() -> None:
    documented = _documented_report()
    report = json.loads(as_json(_sample()))
    assert list(report) == list(documented)
    assert list(report["counts"]) == list(documented["counts"]) == [s.value for s in Status]
    for check in report["checks"]:
        assert list(check) == list(documented["checks"][0])
        assert check["status"] in {s.value for s in Status}
    assert report["counts"] == {"pass": 1, "fail": 1, "unsupported": 1}
    assert report["passed"] is False
    assert [type(v) for v in report["checks"][0].values()] == [
        type(v) for v in documented["checks"][0].values()
    ]


def test_docs_list_every_check() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9_.]+)` \|", text, re.M)
    assert rows == [c.name for c in CHECKS]


def test_readme_shows_conform_against_mockllm_and_another_server() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Checking any server: mockllm conform") :]
    section = section[: section.find("\n## ", 1)]
    assert "mockllm conform http://127.0.0.1:8000/v1" in section
    assert "mockllm conform http://localhost:11434/v1 --model llama3" in section


# ------------------------------------------------------------------------ the stream rules


def test_stream_reader_framing() -> None:
    good = read_stream(b'data: {"a": 1}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n')
    assert good.problems == {} and good.finished and good.chunks == [{"a": 1}]
    bare = read_stream(b'data: {"a": 1}\n\n[DONE]\n\n')
    assert "is not an SSE field" in bare.problems[Rule.FRAMING][0]
    assert "no 'data: [DONE]' event" in bare.problems[Rule.DONE][0]
    late = read_stream(b'data: [DONE]\n\ndata: {"a": 2}\n\n')
    assert "comes after [DONE]" in late.problems[Rule.DONE][0]
    cut = read_stream(b'data: {"a": 1}\n\ndata: [DONE]')
    assert "ended inside an event" in cut.problems[Rule.FRAMING][0] and cut.finished


def _chunk(delta: dict[str, Any], finish: str | None = None, **envelope: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        **envelope,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_analyse_accumulates_and_files_each_problem_under_its_rule() -> None:
    chunks = [
        _chunk({"role": "assistant", "content": None}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"arguments": "1}"}}]}),
        _chunk({}, "tool_calls", id="c2"),
    ]
    analysis = analyse(chunks, include_usage=True)
    assert set(analysis.problems) == {Rule.ID, Rule.TOOL_CALLS, Rule.USAGE}
    assert "id repeated" in analysis.about(Rule.TOOL_CALLS)[0]
    (choice,) = analysis.completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]


# -------------------------------------------------------------------------- the package


def test_the_package_imports_only_what_the_layers_allow() -> None:
    """aiohttp stays in the server; mockllm.conform uses mockllm's stable top-level modules."""
    allowed = {"schemaset", "validation", "errors", "config", "resources", "conform"}
    for path in sorted((ROOT / "mockllm" / "conform").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 2:  # from ..x import
                    assert module.split(".")[0] in allowed, f"{path.name} imports ..{module}"
                names = [module] if node.level == 0 else []
            assert not [n for n in names if n.split(".")[0] == "aiohttp"], path.name


@pytest.mark.parametrize(
    "path", sorted((ROOT / "mockllm" / "conform").glob("*.py")), ids=lambda p: p.stem
)
def test_every_conform_module_documents_and_exports_itself(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    name = "mockllm.conform" if path.stem == "__init__" else f"mockllm.conform.{path.stem}"
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported) and all(hasattr(module, n) for n in exported)
