"""``python -m bench``: requests/s, latency and memory of mockllm next to a bare aiohttp endpoint.

Every case runs its server in a fresh subprocess pinned to one core, while this
process (the load generator) runs on the other; the bare aiohttp JSON endpoint
is measured in the same session, so the "vs bare" ratio compares like with like
on whatever machine runs it. The result is a markdown table to paste into the
README, and optionally JSON (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import aiohttp

from .load import LoadResult, run_load
from .process import ServerProcess
from .scenariogen import write_scenarios

__all__ = ["Case", "CaseResult", "RunConfig", "default_cases", "main", "markdown_table", "run"]

# The request every case sends: small, valid, and matching no benchmark scenario.
REQUEST: dict[str, object] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Give me a short status update on the benchmark."},
    ],
}
PATH = "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the table: which server, how many scenarios, streaming or not."""

    name: str
    server: str  # "bare" or "mockllm"
    scenarios: int = 0
    stream: bool = False


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How hard and how long to drive each case."""

    seconds: float = 5.0
    warmup: float = 1.0
    concurrency: int = 16
    pin: bool = True
    client: str = "raw"  # "raw" or "aiohttp" (see load.run_load)
    repeat: int = 1  # rounds over all cases; the best round of each case is kept


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The figures of one case."""

    name: str
    rps: float
    vs_bare: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    mean_bytes: float
    server_cpu_pct: float
    client_cpu_pct: float
    startup_s: float
    idle_rss_mib: float
    peak_rss_mib: float


def default_cases(scenario_counts: Sequence[int] = (10, 1000, 10_000)) -> list[Case]:
    """The baseline, mockllm JSON and SSE, then mockllm with each scenario count."""
    cases = [
        Case("bare aiohttp JSON endpoint (baseline)", "bare"),
        Case("mockllm, validated, default reply", "mockllm"),
        Case("mockllm, streaming (SSE)", "mockllm", stream=True),
    ]
    cases += [Case(f"mockllm, {n:,} scenarios loaded", "mockllm", scenarios=n)
              for n in scenario_counts]
    return cases


async def run(cases: Sequence[Case], config: RunConfig) -> list[CaseResult]:
    """Run the cases in turn, ``config.repeat`` rounds; keep each case's best round.

    Rounds go through all the cases before repeating any, so a burst of other load on
    the machine hits one round of every case rather than every round of one case.
    The first bare case is the baseline of the "vs bare" ratio.
    """
    server_cpu, client_cpu = _cores(config.pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    best: dict[Case, CaseResult] = {}
    with tempfile.TemporaryDirectory(prefix="mockllm-bench-") as tmp:
        for _ in range(max(1, config.repeat)):
            for case in cases:
                result = await _run_case(case, config, Path(tmp), server_cpu)
                if case not in best or result.rps > best[case].rps:
                    best[case] = result
    baseline = next((best[c].rps for c in cases if c.server == "bare"), None)
    return [replace(best[c], vs_bare=best[c].rps / baseline if baseline else None)
            for c in cases]


async def _run_case(case: Case, config: RunConfig, tmp: Path,
                    server_cpu: int | None) -> CaseResult:
    folder = None
    if case.scenarios:
        folder = tmp / f"scenarios-{case.scenarios}"
        if not folder.exists():
            write_scenarios(folder, case.scenarios)
    body = json.dumps(dict(REQUEST, stream=True) if case.stream else REQUEST).encode()
    async with ServerProcess(case.server, scenarios=folder, cpu=server_cpu) as server:
        await _check_answers(server.url + PATH, body)
        load = await run_load(server.url + PATH, body, concurrency=config.concurrency,
                              seconds=config.seconds, warmup=config.warmup,
                              server_cpu=server.cpu_seconds, client=config.client)
        return _result(case, load, server)


async def _check_answers(url: str, body: bytes) -> None:
    """Fail loudly if the server errors, rather than benchmark its error page."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body,
                                headers={"Content-Type": "application/json"}) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}: {text[:2000]}")


def _cores(pin: bool) -> tuple[int | None, int | None]:
    """(server core, load generator core), or no pinning on one core or off."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return cores[-1], cores[0]


def _result(case: Case, load: LoadResult, server: ServerProcess) -> CaseResult:
    window = load.seconds or 1.0
    return CaseResult(
        name=case.name,
        rps=load.rps,
        vs_bare=None,  # set once the baseline is known
        p50_ms=load.latency_ms(0.50),
        p99_ms=load.latency_ms(0.99),
        max_ms=load.latency_ms(1.0),
        errors=load.errors,
        mean_bytes=load.mean_bytes,
        server_cpu_pct=100.0 * load.server_cpu / window,
        client_cpu_pct=100.0 * load.client_cpu / window,
        startup_s=server.startup_seconds,
        idle_rss_mib=server.idle_rss_mib,
        peak_rss_mib=server.peak_rss_mib(),
    )


def markdown_table(results: Sequence[CaseResult], config: RunConfig) -> str:
    """The results as a markdown table with a line saying how they were measured."""
    pinned = "server and load generator pinned to separate cores" if config.pin \
        else "no core pinning"
    lines = [
        f"{config.concurrency} keep-alive connections ({config.client} client), "
        f"{config.seconds:g} s per case after {config.warmup:g} s warm-up, best of "
        f"{config.repeat}; Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{platform.machine()} ({os.cpu_count()} cores); {pinned}.",
        "",
        "| case | req/s | vs bare | p50 ms | p99 ms | max ms | server CPU | client CPU "
        "| bytes/answer | startup s | RSS idle / peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.vs_bare:.2f}x" if r.vs_bare is not None else "-"
        errors = f" ({r.errors} errors)" if r.errors else ""
        lines.append(
            f"| {r.name}{errors} | {r.rps:,.0f} | {ratio} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.max_ms:.1f} "
            f"| {r.server_cpu_pct:.0f} % | {r.client_cpu_pct:.0f} % | {r.mean_bytes:,.0f} "
            f"| {r.startup_s:.1f} "
            f"| {r.idle_rss_mib:.0f} / {r.peak_rss_mib:.0f} |")
    lines += _warnings(results)
    return "\n".join(lines)


def _warnings(results: Sequence[CaseResult]) -> list[str]:
    """Say when a figure measures something other than the server."""
    notes = []
    for r in results:
        if r.client_cpu_pct >= 90:
            notes.append(f"- {r.name}: the load generator was busy {r.client_cpu_pct:.0f} % of "
                         "the time, so this figure is a floor for the server.")
        elif r.server_cpu_pct < 85 and r.p50_ms > 0:
            notes.append(f"- {r.name}: the server used only {r.server_cpu_pct:.0f} % of its "
                         "core; other processes on the machine probably took the rest, "
                         "so this figure is low. Run again on a quiet machine.")
    return ["", "Warnings:", *notes] if notes else []


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the benchmark, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=None,
                        help="measured seconds per case (default 5, --quick 1)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="unmeasured warm-up seconds per case (default 1, --quick 0.3)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="short runs, for a first look")
    parser.add_argument("--scenario-counts", default="10,1000,10000",
                        help="comma-separated scenario counts (default 10,1000,10000)")
    parser.add_argument("--only", default="",
                        help="run only the cases whose name contains one of these "
                             "comma-separated words (the baseline always runs)")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="load generator HTTP client (default raw: cheap enough to "
                             "saturate the baseline from one core)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds over all cases; each case keeps its best (default 1)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    config = RunConfig(
        seconds=args.seconds if args.seconds is not None else (1.0 if args.quick else 5.0),
        warmup=args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0),
        concurrency=args.concurrency,
        pin=not args.no_pin,
        client=args.client,
        repeat=args.repeat,
    )
    counts = [int(n) for n in args.scenario_counts.split(",") if n.strip()]
    cases = default_cases(counts)
    words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    if words:
        cases = [c for c in cases
                 if c.server == "bare" or any(w in c.name.lower() for w in words)]
    results = asyncio.run(run(cases, config))
    print(markdown_table(results, config))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
