"""The benchmarks run end to end (for a fraction of a second; no speed is asserted).

Neither wrk nor Node is needed: the load run uses the Python generator and skips
aimock; the aimock fixture file and the wrk script and parser are checked as
files and text, and against a real wrk only when one is installed.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench import aimock
from bench.fixtures import (
    CANNED_TEXT,
    CHUNK_CHARS,
    STREAM_CHUNKS,
    STREAM_TEXT,
    split_chars,
    write_aimock_fixtures,
    write_mockllm_scenarios,
)
from bench.loadbench import answer_content
from bench.process import Answer, ServerProcess, free_port
from bench.wrk import lua_script, parse_output, run_wrk, wrk_seconds

REPO = Path(__file__).resolve().parents[2]
BARE_JSON = "bare aiohttp, JSON (1 KB)"
BARE_SSE = f"bare aiohttp, SSE stream ({STREAM_CHUNKS} chunks)"
MOCKLLM_SSE = f"mockllm, scenario SSE stream ({STREAM_CHUNKS} chunks)"
RESPONSES_CANNED = "mockllm, Responses, canned 1 KB scenario reply"
RESPONSES_SSE = f"mockllm, Responses, scenario SSE stream ({STREAM_CHUNKS} chunks)"


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_load_benchmark_measures_baselines_stream_and_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    table = _run(
        "-m",
        "bench",
        "--generator",
        "python",
        "--no-aimock",
        "--seconds",
        "0.25",
        "--warmup",
        "0.05",
        "--concurrency",
        "4",
        "--repeat",
        "2",
        "--only",
        "scenario SSE,canned,5 scenarios",
        "--scenario-counts",
        "5",
        "--json",
        str(out),
    )
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == [
        BARE_JSON,
        BARE_SSE,
        "mockllm, canned 1 KB scenario reply",
        MOCKLLM_SSE,
        "mockllm, 5 scenarios loaded",
        RESPONSES_CANNED,
        RESPONSES_SSE,
    ]
    for name, row in rows.items():
        assert row["rps"] > 0 and row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        # The bare endpoint serves chat only: the Responses rows divide by aimock's.
        assert (row["vs_bare"] is None) == ("Responses" in name) and row["vs_aimock"] is None
        assert len(row["rounds_rps"]) == 2 and row["startup_s"] > 0
    assert rows[BARE_JSON]["vs_bare"] == rows[BARE_SSE]["vs_bare"] == 1.0
    # Every stream was read to its end, in the same number of content chunks.
    assert rows[BARE_SSE]["chunks"] == rows[MOCKLLM_SSE]["chunks"] == STREAM_CHUNKS
    assert rows[RESPONSES_SSE]["chunks"] == STREAM_CHUNKS
    assert rows["mockllm, canned 1 KB scenario reply"]["chunks"] is None
    assert rows["mockllm, canned 1 KB scenario reply"]["mean_bytes"] > len(CANNED_TEXT)
    if sys.platform == "linux":
        assert all(row["peak_rss_mib"] >= row["idle_rss_mib"] > 0 for row in rows.values())
    assert "Python raw client" in table and "aimock rows skipped: --no-aimock" in table
    assert "`mockllm serve` startup to the first 200" in table
    assert table.count("\n| mockllm") == 5


def test_mockllm_and_aimock_get_the_same_fixture_content(tmp_path: Path) -> None:
    scenarios = write_mockllm_scenarios(tmp_path / "bench.yaml")
    fixtures = json.loads(write_aimock_fixtures(tmp_path / "aimock.json").read_text())
    assert _run("-m", "mockllm", "check", str(scenarios)).startswith("ok")
    canned, stream = fixtures["fixtures"]
    assert canned["response"]["content"] == CANNED_TEXT and 1000 <= len(CANNED_TEXT) <= 1100
    assert stream["response"]["content"] == STREAM_TEXT
    assert len(split_chars(STREAM_TEXT, stream["chunkSize"])) == STREAM_CHUNKS
    assert stream["chunkSize"] == CHUNK_CHARS
    replies = [s["reply"] for s in yaml.safe_load(scenarios.read_text())["scenarios"]]
    assert [r["content"] for r in replies] == [CANNED_TEXT, STREAM_TEXT]
    assert replies[1]["timing"] == {"chunk": "chars", "chunk_size": CHUNK_CHARS}


def test_aimock_is_found_only_at_the_pinned_version(tmp_path: Path) -> None:
    found, why = aimock.find(tmp_path)
    assert found is None and why  # an empty folder holds no aimock, whatever Node there is
    assert re.fullmatch(r"\d+\.\d+\.\d+", aimock.VERSION)
    command = aimock.command(
        aimock.Aimock("node", tmp_path / "cli.js", aimock.VERSION, "v20"), tmp_path / "f.json", 4321
    )
    assert command == [
        "node",
        str(tmp_path / "cli.js"),
        "-p",
        "4321",
        "-h",
        "127.0.0.1",
        "-f",
        str(tmp_path / "f.json"),
        "--log-level",
        "warn",
    ]


def test_answers_are_read_for_content_and_chunks() -> None:
    sse = (
        b"".join(
            b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % p.encode() for p in ("ab", "cd")
        )
        + b"data: [DONE]\n\n"
    )
    assert answer_content(Answer("text/event-stream", sse)) == ("abcd", 2)
    body = b'{"choices":[{"message":{"content":"hi"}}]}'
    assert answer_content(Answer("application/json; charset=utf-8", body)) == ("hi", None)


def test_responses_answers_are_read_for_content_and_chunks() -> None:
    sse = b"".join(
        b'event: %s\ndata: {"type":"%s","delta":"%s"}\n\n' % (k, k, p.encode())
        for k, p in (
            (b"response.output_text.delta", "ab"),
            (b"response.output_text.delta", "cd"),
            (b"response.completed", ""),
        )
    )
    assert answer_content(Answer("text/event-stream", sse)) == ("abcd", 2)
    body = (
        b'{"object":"response","output":[{"type":"reasoning","summary":[]},'
        b'{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}'
    )
    assert answer_content(Answer("application/json", body)) == ("hi", None)


def _lua_unquote(literal: str) -> bytes:
    assert literal[0] == literal[-1] == '"'
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m[1])), literal[1:-1]).encode("latin-1")


def test_wrk_script_posts_the_body_and_its_summary_is_parsed() -> None:
    body = json.dumps({"messages": [{"content": 'quote " back \\ é \n'}]}).encode()
    script = lua_script(body, {"Content-Type": "application/json"})
    assert 'wrk.method = "POST"' in script and "done = function" in script
    literal = re.search(r"^wrk\.body = (\".*\")$", script, flags=re.M)
    assert literal is not None and _lua_unquote(literal[1]) == body
    summary = parse_output(
        "Running 1s test\nWRK-RESULT requests=100 status_errors=3 connect=0 "
        "read=1 write=0 timeout=2 bytes=12345 duration_us=1000000 "
        "p50_us=1500 p99_us=9000 max_us=12000\n"
    )
    assert (summary.ok, summary.socket_errors, summary.p99_us) == (97, 3, 9000)
    with pytest.raises(ValueError):
        parse_output("wrk: connection refused")
    assert (wrk_seconds(0.25), wrk_seconds(1.0), wrk_seconds(5.2)) == (1, 1, 6)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_counts_answers_and_error_statuses(tmp_path: Path) -> None:
    async def measure() -> tuple[int, int, int, int]:
        port = free_port()
        command = [sys.executable, "-m", "bench.serve", "bare", "--port", str(port)]
        async with ServerProcess(command, port, body=b"{}") as server:
            wrk = shutil.which("wrk")
            assert wrk is not None
            good = await run_wrk(
                wrk,
                server.url + "/v1/chat/completions",
                b"{}",
                connections=2,
                seconds=1,
                warmup=0,
                script_dir=tmp_path,
            )
            bad = await run_wrk(
                wrk,
                server.url + "/nowhere",
                b"{}",
                connections=2,
                seconds=1,
                warmup=0,
                script_dir=tmp_path,
            )
        return good.requests, good.errors, bad.requests, bad.errors

    good, good_errors, bad, bad_errors = asyncio.run(measure())
    assert good > 0 and good_errors == 0
    assert bad == 0 and bad_errors > 0  # 404s are errors, not answers


def test_profile_times_every_piece() -> None:
    out = _run("-m", "bench.profile_request", "--number", "10", "--scenarios", "5")
    timed = dict(re.findall(r"^\| ([^|]+?) \| ([\d,.]+) \|$", out, flags=re.M))
    for piece in (
        "validate request",
        "generate default reply",
        "encode reply (render.dumps)",
        "stream: chunks + SSE framing",
        "resolve scenario (5 loaded)",
        "bare aiohttp endpoint",
        "mockllm, default reply",
        "mockllm, canned 1 KB scenario reply",
        "mockllm, scenario SSE stream",
    ):
        assert float(timed[piece].replace(",", "")) > 0, piece
    assert "mockllm's own cost per request" in out


def test_the_workers_benchmark_runs_end_to_end() -> None:
    from redis_server import find_redis_server

    find_redis_server()  # skips (or fails in CI) without one
    result = subprocess.run(
        [sys.executable, "-m", "bench.workers", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if re.match(r"^state(less|ful), ", line)]
    assert len(rows) == 6 and all(line.split()[-1] == "0" for line in rows), result.stdout
    assert "use-count script round trip" in result.stdout
