"""The benchmarks run end to end (for a fraction of a second; no speed is asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_load_benchmark_measures_baseline_stream_and_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    table = _run("-m", "bench", "--seconds", "0.25", "--warmup", "0.05", "--concurrency", "4",
                 "--only", "streaming,scenarios", "--scenario-counts", "5", "--json", str(out))
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == ["bare aiohttp JSON endpoint (baseline)", "mockllm, streaming (SSE)",
                          "mockllm, 5 scenarios loaded"]
    for row in rows.values():
        assert row["rps"] > 0 and row["errors"] == 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["vs_bare"] is not None
    assert rows["bare aiohttp JSON endpoint (baseline)"]["vs_bare"] == 1.0
    # The SSE stream was read to its end: many chunks, far more bytes than a JSON reply.
    assert rows["mockllm, streaming (SSE)"]["mean_bytes"] > \
        2 * rows["mockllm, 5 scenarios loaded"]["mean_bytes"]
    if sys.platform == "linux":
        assert all(row["peak_rss_mib"] >= row["idle_rss_mib"] > 0 for row in rows.values())
    assert table.count("\n| mockllm") == 2


def test_profile_times_every_piece() -> None:
    out = _run("-m", "bench.profile_request", "--number", "10", "--scenarios", "5")
    timed = dict(re.findall(r"^\| ([^|]+?) \| ([\d,.]+) \|$", out, flags=re.M))
    for piece in ("validate request", "generate default reply", "encode reply (render.dumps)",
                  "stream: chunks + SSE framing", "resolve scenario (5 loaded)",
                  "bare aiohttp endpoint", "mockllm, default reply"):
        assert float(timed[piece].replace(",", "")) > 0, piece
    assert "mockllm's own cost per request" in out
