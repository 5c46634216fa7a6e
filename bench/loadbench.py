"""``python -m bench``: mockllm next to a bare aiohttp endpoint and aimock, in one run.

Every case runs its server in a fresh subprocess pinned to one core, while the
load generator (wrk, else the Python one in bench/load.py) runs on the other.
Rounds go through all the cases in turn (``--repeat``, 3 by default), so a drift
of a noisy machine hits every server alike; each figure is the median of the
rounds, and the ratios "vs aimock" and "vs bare" are medians of the ratios within
each round. Non-stream cases compare with the non-stream baselines, stream cases
with the stream ones. The result is a markdown table, optionally JSON (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import aiohttp
import orjson

from . import aimock as aimock_setup
from .fixtures import (
    CONTENT,
    MESSAGES_HEADERS,
    STREAM_CHUNKS,
    messages_body,
    request_body,
    write_aimock_fixtures,
    write_mockllm_scenarios,
)
from .load import LoadResult, run_load
from .process import Answer, ServerProcess, free_port, machine_busy_seconds, split_cores
from .scenariogen import write_scenarios
from .wrk import find_wrk, run_wrk, wrk_seconds

__all__ = [
    "Case",
    "CaseResult",
    "Report",
    "RunConfig",
    "answer_content",
    "default_cases",
    "main",
    "markdown_table",
    "parse_python",
    "run",
    "select_cases",
    "with_pythons",
]

PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"
REQUEST = request_body()  # the default request: no fixture marker, mockllm's generated reply
BASELINES = ("bare", "aimock")  # the servers the ratios divide by; they always run

# A load generator: (url, body, the server's CPU seconds so far, headers) -> what it measured.
Generate = Callable[[str, bytes, Callable[[], float], Mapping[str, str]], Awaitable[LoadResult]]


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the table: which server, which reply, streaming or not."""

    name: str
    server: str  # "bare", "uvloop" (the bare endpoint on uvloop), "aimock" or "mockllm"
    reply: str = "default"  # "canned" / "stream": the bench fixtures; "default": generated
    stream: bool = False
    scenarios: int = 0  # mockllm: this many generated scenarios instead of the built-in ones
    python: str = ""  # mockllm: the interpreter (another checkout's venv); "" for this one
    api: str = "chat"  # "chat", "responses" (/v1/responses) or "messages" (/v1/messages)

    def body(self) -> bytes:
        """The request this case sends."""
        if self.api == "messages":
            return orjson.dumps(messages_body(self.reply, stream=self.stream))
        return orjson.dumps(request_body(self.reply, stream=self.stream, api=self.api))

    @property
    def path(self) -> str:
        """The path this case sends its request to."""
        return {"responses": RESPONSES_PATH, "messages": MESSAGES_PATH}.get(self.api, PATH)

    @property
    def headers(self) -> dict[str, str]:
        """What the request carries besides the body (an Anthropic client's key)."""
        return dict(MESSAGES_HEADERS) if self.api == "messages" else {}


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How hard and how long to drive each case."""

    seconds: float = 5.0
    warmup: float = 1.0
    concurrency: int = 32
    pin: bool = True
    generator: str = "auto"  # "auto" (wrk when installed), "wrk" or "python"
    client: str = "raw"  # the Python generator's client: "raw" or "aiohttp" (load.run_load)
    repeat: int = 3  # interleaved rounds over all cases; figures are medians of the rounds
    aimock: bool = True  # install (if needed) and measure aimock
    quiet_wait: float = 0.0  # before each case, wait up to this long for a quiet machine


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The figures of one case (of one round, or the medians over the rounds)."""

    name: str
    server: str
    stream: bool
    rps: float
    cpu_rps: float  # requests per CPU second of the server: steadier than req/s on a busy host
    vs_aimock: float | None
    vs_bare: float | None
    cpu_vs_aimock: float | None  # the same ratios of req/CPU-s
    cpu_vs_bare: float | None
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int
    mean_bytes: float
    chunks: int | None  # content chunks of a stream answer
    server_cpu_pct: float  # share of one core the server used in the measured window
    client_cpu_pct: float  # the load generator's share of one core
    other_cpu_pct: float  # what other processes took of the machine meanwhile, in cores %
    startup_s: float  # spawn to the first 200 answer
    idle_rss_mib: float
    after_rss_mib: float
    peak_rss_mib: float
    rounds_rps: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """The results with what the reader needs to judge them."""

    results: list[CaseResult]
    generator: str  # e.g. "wrk 4.1.0, 1 thread" or "Python raw client"
    config: RunConfig
    notes: list[str] = field(default_factory=list)  # skipped cases and why
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    aimock: str = ""  # "aimock 1.43.0 on Node v20..." when measured


def default_cases(scenario_counts: Sequence[int] = (10, 1000, 10_000)) -> list[Case]:
    """Baselines (bare, bare on uvloop, aimock), mockllm's replies, then N scenarios."""
    sse = f"SSE stream ({STREAM_CHUNKS} chunks)"
    cases = [
        Case("bare aiohttp, JSON (1 KB)", "bare", "canned"),
        Case(f"bare aiohttp, {sse}", "bare", "stream", stream=True),
        Case("bare aiohttp + uvloop, JSON (1 KB)", "uvloop", "canned"),
        Case(f"bare aiohttp + uvloop, {sse}", "uvloop", "stream", stream=True),
        Case(f"aimock {aimock_setup.VERSION}, canned 1 KB reply", "aimock", "canned"),
        Case(f"aimock {aimock_setup.VERSION}, {sse}", "aimock", "stream", stream=True),
        Case("mockllm, canned 1 KB scenario reply", "mockllm", "canned"),
        Case("mockllm, default reply (built-in scenarios)", "mockllm"),
        Case(f"mockllm, scenario {sse}", "mockllm", "stream", stream=True),
        Case("mockllm, default reply, SSE stream", "mockllm", stream=True),
        # Anthropic's Messages API (/v1/messages): the same fixtures, against aimock's own.
        Case(
            f"aimock {aimock_setup.VERSION}, Messages 1 KB fixture",
            "aimock",
            "canned",
            api="messages",
        ),
        Case(
            f"aimock {aimock_setup.VERSION}, Messages {sse}",
            "aimock",
            "stream",
            stream=True,
            api="messages",
        ),
        Case("mockllm, Messages 1 KB fixture", "mockllm", "canned", api="messages"),
        Case(f"mockllm, Messages {sse}", "mockllm", "stream", stream=True, api="messages"),
        Case("mockllm, Messages default reply", "mockllm", api="messages"),
    ]
    cases += [
        Case(f"mockllm, {n:,} scenarios loaded", "mockllm", scenarios=n) for n in scenario_counts
    ]
    # The Responses API (/v1/responses): aimock's own beside mockllm's, the same fixtures
    # (their ratios divide by aimock's Responses rows; the bare endpoint serves only chat).
    cases += [
        Case(
            f"aimock {aimock_setup.VERSION}, Responses, canned 1 KB reply",
            "aimock",
            "canned",
            api="responses",
        ),
        Case(
            f"aimock {aimock_setup.VERSION}, Responses, {sse}",
            "aimock",
            "stream",
            stream=True,
            api="responses",
        ),
        Case(
            "mockllm, Responses, canned 1 KB scenario reply", "mockllm", "canned", api="responses"
        ),
        Case(
            f"mockllm, Responses, scenario {sse}", "mockllm", "stream", stream=True, api="responses"
        ),
    ]
    return cases


def with_pythons(cases: Sequence[Case], pythons: Sequence[tuple[str, str]]) -> list[Case]:
    """Each mockllm case once more per (label, interpreter), named "... [label]", right after it.

    For comparing two checkouts of mockllm (each in its own virtualenv) in one interleaved run.
    """
    out = []
    for case in cases:
        out.append(case)
        if case.server == "mockllm":
            out += [
                replace(case, name=f"{case.name} [{label}]", python=python)
                for label, python in pythons
            ]
    return out


def parse_python(text: str) -> tuple[str, str]:
    """``LABEL=PATH`` (or just ``PATH``, labelled by its path) for ``--mockllm-python``."""
    label, _, path = text.rpartition("=")
    return (label or path, path)


def select_cases(cases: Sequence[Case], words: Sequence[str]) -> list[Case]:
    """The cases whose name holds one of ``words``, and the baselines (all without words)."""
    lowered = [w.lower() for w in words]
    return [
        c
        for c in cases
        if not lowered or c.server in BASELINES or any(w in c.name.lower() for w in lowered)
    ]


def answer_content(answer: Answer) -> tuple[str, int | None]:
    """(content, content chunks) of a JSON answer (chunks None) or of an SSE stream, of
    chat completions or of the Responses API."""
    if not answer.content_type.startswith("text/event-stream"):
        body = orjson.loads(answer.body)
        if "output" in body:  # a Responses API `response`
            return "".join(
                part.get("text", "")
                for item in body["output"]
                if item.get("type") == "message"
                for part in item["content"]
            ), None
        if body.get("type") == "message":  # Anthropic's Message
            return "".join(b.get("text", "") for b in body["content"]), None
        return str(body["choices"][0]["message"]["content"] or ""), None
    pieces = []
    for line in answer.body.split(b"\n"):
        if line.startswith(b"data: {"):
            event = orjson.loads(line[6:])
            if "choices" in event:
                delta = event["choices"][0]["delta"] if event["choices"] else {}
                if delta.get("content"):
                    pieces.append(delta["content"])
            elif event.get("type") == "response.output_text.delta":
                pieces.append(event["delta"])
            elif event.get("type") == "content_block_delta" and "text" in event["delta"]:
                pieces.append(event["delta"]["text"])
    return "".join(pieces), len(pieces)


def _command(case: Case, port: int, files: _Files) -> list[str]:
    if case.server in ("bare", "uvloop"):
        return [
            sys.executable,
            "-m",
            "bench.serve",
            "bare",
            "--port",
            str(port),
            *(["--uvloop"] if case.server == "uvloop" else []),
        ]
    if case.server == "aimock":
        assert files.aimock is not None
        return aimock_setup.command(files.aimock, files.aimock_fixtures, port)
    paths = [files.scenarios(case.scenarios)] if case.scenarios else []
    if case.reply != "default":
        paths.append(files.mockllm_scenarios)
    # -E -P: another interpreter imports its own installed mockllm, not this checkout's
    # (the server runs in this repository's root with it on PYTHONPATH, which both would
    # put first on sys.path).
    python = [case.python, "-E", "-P"] if case.python else [sys.executable]
    command = [*python, "-m", "mockllm", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return command + (["--scenarios", *map(str, paths)] if paths else [])


class _Files:
    """The fixture files of one run, written once into a temporary folder."""

    def __init__(self, folder: Path, aimock: aimock_setup.Aimock | None) -> None:
        self.folder = folder
        self.aimock = aimock
        self.mockllm_scenarios = write_mockllm_scenarios(folder / "bench-fixtures.yaml")
        self.aimock_fixtures = write_aimock_fixtures(folder / "aimock-fixtures.json")

    def scenarios(self, count: int) -> Path:
        path = self.folder / f"scenarios-{count}"
        if not path.exists():
            write_scenarios(path, count)
        return path


def _cpu_now(server: ServerProcess) -> tuple[float, float, float, float]:
    """(wall s, machine busy CPU s, server CPU s, this process and children CPU s)."""
    times = os.times()
    return (
        time.perf_counter(),
        machine_busy_seconds(),
        server.cpu_seconds(),
        times.user + times.system + times.children_user + times.children_system,
    )


QUIET_PCT = 25.0  # --quiet-wait: at most this busy (% of one core) counts as quiet


async def _wait_quiet(limit: float) -> float:
    """Wait until the machine is quiet for half a second, up to ``limit`` s; the time waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        busy0, wall0 = machine_busy_seconds(), time.perf_counter()
        await asyncio.sleep(0.5)
        if 100.0 * (machine_busy_seconds() - busy0) / (time.perf_counter() - wall0) <= QUIET_PCT:
            break
    return time.perf_counter() - started


async def _run_case(
    case: Case, generator: Generate, files: _Files, server_cpu: int | None
) -> CaseResult:
    port = free_port()
    async with ServerProcess(
        _command(case, port, files),
        port,
        body=case.body(),
        path=case.path,
        cpu=server_cpu,
        headers=case.headers,
    ) as server:
        assert server.answer is not None
        content, chunks = answer_content(server.answer)
        expected = CONTENT.get(case.reply)
        if expected is not None and content != expected:
            raise RuntimeError(
                f"{case.name}: the answer is not the benchmark fixture "
                f"({len(content)} characters: {content[:200]!r}...)"
            )
        before = _cpu_now(server)
        load = await generator(
            server.url + case.path, case.body(), server.cpu_seconds, case.headers
        )
        after = _cpu_now(server)
        wall = after[0] - before[0] or 1.0
        other = (after[1] - before[1]) - (after[2] - before[2]) - (after[3] - before[3])
        window = load.seconds or 1.0
        return CaseResult(
            name=case.name,
            server=case.server,
            stream=case.stream,
            rps=load.rps,
            cpu_rps=load.requests / load.server_cpu if load.server_cpu > 0 else 0.0,
            vs_aimock=None,
            vs_bare=None,
            cpu_vs_aimock=None,
            cpu_vs_bare=None,  # set later
            p50_ms=load.p50_ms,
            p99_ms=load.p99_ms,
            max_ms=load.max_ms,
            errors=load.errors,
            requests=load.requests,
            mean_bytes=load.mean_bytes,
            chunks=chunks,
            server_cpu_pct=100.0 * load.server_cpu / window,
            client_cpu_pct=100.0 * load.client_cpu / window,
            other_cpu_pct=max(0.0, 100.0 * other / wall),
            startup_s=server.startup_seconds,
            idle_rss_mib=server.idle_rss_mib,
            after_rss_mib=server.rss_mib(),
            peak_rss_mib=server.peak_rss_mib(),
        )


def _generator(config: RunConfig, tmp: Path) -> tuple[Generate, str]:
    """The load function ``(url, body, server_cpu) -> LoadResult`` and its description."""
    wrk, version = find_wrk() if config.generator in ("auto", "wrk") else (None, "")
    if config.generator == "wrk" and wrk is None:
        raise SystemExit("--generator wrk: wrk is not installed (apt-get install wrk)")
    if wrk is not None:

        async def with_wrk(
            url: str, body: bytes, server_cpu: Callable[[], float], headers: Mapping[str, str]
        ) -> LoadResult:
            return await run_wrk(
                wrk,
                url,
                body,
                connections=config.concurrency,
                seconds=config.seconds,
                warmup=config.warmup,
                script_dir=tmp,
                server_cpu=server_cpu,
                headers=headers,
            )

        return with_wrk, f"{version.split(' [')[0]}, 1 thread, Lua POST script"

    async def with_python(
        url: str, body: bytes, server_cpu: Callable[[], float], headers: Mapping[str, str]
    ) -> LoadResult:
        return await run_load(
            url,
            body,
            concurrency=config.concurrency,
            seconds=config.seconds,
            warmup=config.warmup,
            server_cpu=server_cpu,
            client=config.client,
            headers=headers,
        )

    note = " (wrk not installed)" if config.generator == "auto" else ""
    return with_python, f"Python {config.client} client, bench/load.py{note}"


def _available(
    cases: Sequence[Case], config: RunConfig
) -> tuple[list[Case], aimock_setup.Aimock | None, list[str]]:
    """The cases this machine can run, aimock if installed, and a note per skipped server."""
    notes = []
    found = None
    if any(c.server == "aimock" for c in cases):
        if config.aimock:
            found, why = aimock_setup.install()
            if found is None:
                notes.append(f"aimock rows skipped: {why}.")
        else:
            notes.append("aimock rows skipped: --no-aimock.")
    if any(c.server == "uvloop" for c in cases) and importlib.util.find_spec("uvloop") is None:
        notes.append(
            "bare aiohttp + uvloop rows skipped: uvloop is not installed (pip install uvloop)."
        )
        cases = [c for c in cases if c.server != "uvloop"]
    if found is None:
        cases = [c for c in cases if c.server != "aimock"]
    return list(cases), found, notes


async def run(cases: Sequence[Case], config: RunConfig) -> Report:
    """Run ``config.repeat`` interleaved rounds over the cases; figures are round medians.

    Each round runs every case once (every other round in reverse order), so a drift of
    the machine's load hits all servers alike rather than every round of one.
    """
    server_cpu, client_cpu = split_cores(config.pin)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    cases, found, notes = _available(cases, config)
    load_before = os.getloadavg()
    rounds: list[dict[Case, CaseResult]] = []
    with tempfile.TemporaryDirectory(prefix="mockllm-bench-") as tmp:
        generator, described = _generator(config, Path(tmp))
        files = _Files(Path(tmp), found)
        waited = 0.0
        for number in range(max(1, config.repeat)):
            measured = {}
            # Every other round runs backwards, so no case always follows the same one.
            for case in cases if number % 2 == 0 else cases[::-1]:
                waited += await _wait_quiet(config.quiet_wait)
                measured[case] = await _run_case(case, generator, files, server_cpu)
            rounds.append(measured)
        if config.quiet_wait:
            notes.append(
                f"Waited {waited:.0f} s in all for other load to pass (--quiet-wait "
                f"{config.quiet_wait:g}: up to that long before each case, until the "
                f"machine was {QUIET_PCT:g} % of a core busy at most)."
            )
    results = [_median(case, cases, rounds) for case in cases]
    return Report(
        results,
        described,
        config,
        notes,
        load_before,
        os.getloadavg(),
        f"aimock {found.version} on Node {found.node_version}" if found else "",
    )


def _baseline(case: Case, cases: Sequence[Case], server: str) -> Case | None:
    # Each case divides by the same API's row: aimock answers every API; the bare endpoint
    # only chat completions, so Responses and Messages rows have no "vs bare" ratio.
    return next(
        (c for c in cases if c.server == server and c.stream == case.stream and c.api == case.api),
        None,
    )


def _median(
    case: Case, cases: Sequence[Case], rounds: Sequence[dict[Case, CaseResult]]
) -> CaseResult:
    """The round with the median req/s, the median startup and the median ratios."""
    mine = [r[case] for r in rounds]
    middle = sorted(mine, key=lambda r: r.rps)[(len(mine) - 1) // 2]

    def ratio(server: str, figure: str = "rps") -> float | None:
        base = _baseline(case, cases, server)
        if base is None:
            return None
        return statistics.median(
            getattr(r[case], figure) / getattr(r[base], figure) if getattr(r[base], figure) else 0.0
            for r in rounds
        )

    return replace(
        middle,
        vs_aimock=ratio("aimock"),
        vs_bare=ratio("bare"),
        cpu_vs_aimock=ratio("aimock", "cpu_rps"),
        cpu_vs_bare=ratio("bare", "cpu_rps"),
        startup_s=statistics.median(r.startup_s for r in mine),
        rounds_rps=tuple(r.rps for r in mine),
    )


def markdown_table(report: Report) -> str:
    """The results as a markdown table, with how they were measured and what to mind."""
    config = report.config
    pinned = (
        "server and load generator pinned to separate cores (taskset)"
        if config.pin
        else "no core pinning"
    )
    seconds, warmup = config.seconds, config.warmup
    if report.generator.startswith("wrk"):
        seconds, warmup = wrk_seconds(seconds), wrk_seconds(warmup) if warmup > 0 else 0
    lines = [
        f"Load generator: {report.generator}; {config.concurrency} keep-alive connections; "
        f"{seconds:g} s per case after {warmup:g} s warm-up; median of {config.repeat} "
        f"interleaved round(s). Python {platform.python_version()}, aiohttp "
        f"{aiohttp.__version__}{', ' + report.aimock if report.aimock else ''}; "
        f"{platform.machine()}, {os.cpu_count()} cores; {pinned}. Load average before / "
        f"after: {_loadavg(report.load_before)} / {_loadavg(report.load_after)}.",
        "",
        "| case | req/s | vs aimock | vs bare | req/CPU-s | CPU vs aimock | CPU vs bare "
        "| p50 ms | p99 ms | max ms | chunks "
        "| bytes/answer | server CPU | generator CPU | other CPU | first 200 s "
        "| RSS idle / after MiB | req/s per round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        errors = f" ({r.errors} errors)" if r.errors else ""
        lines.append(
            f"| {r.name}{errors} | {r.rps:,.0f} | {_ratio(r.vs_aimock)} | {_ratio(r.vs_bare)} "
            f"| {r.cpu_rps:,.0f} | {_ratio(r.cpu_vs_aimock)} | {_ratio(r.cpu_vs_bare)} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.1f} "
            f"| {r.chunks if r.chunks is not None else '-'} | {r.mean_bytes:,.0f} "
            f"| {r.server_cpu_pct:.0f} % | {r.client_cpu_pct:.0f} % | {r.other_cpu_pct:.0f} % "
            f"| {r.startup_s:.2f} | {r.idle_rss_mib:.0f} / {r.after_rss_mib:.0f} "
            f"| {', '.join(f'{x:,.0f}' for x in r.rounds_rps)} |"
        )
    lines += _startup(report.results)
    if report.notes:
        lines += ["", "Notes:", *(f"- {n}" for n in report.notes)]
    lines += _warnings(report.results)
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _loadavg(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _startup(results: Sequence[CaseResult]) -> list[str]:
    """One line on `mockllm serve`'s startup to the first 200, built-in and with N scenarios."""
    picks = [
        r
        for r in results
        if r.server == "mockllm"
        and not r.stream
        and (r.name.startswith("mockllm, default") or "scenarios loaded" in r.name)
    ]
    if not picks:
        return []
    told = "; ".join(f"{r.name.removeprefix('mockllm, ')}: {r.startup_s:.2f} s" for r in picks)
    return ["", f"`mockllm serve` startup to the first 200 (median of rounds): {told}."]


def _warnings(results: Sequence[CaseResult]) -> list[str]:
    """Say when a figure measures something other than the server."""
    notes = []
    for r in results:
        if r.client_cpu_pct >= 90:
            notes.append(
                f"- {r.name}: the load generator was busy {r.client_cpu_pct:.0f} % of "
                "the time, so this figure is a floor for the server."
            )
        elif r.server_cpu_pct < 85 and r.p50_ms > 0:
            notes.append(
                f"- {r.name}: the server used only {r.server_cpu_pct:.0f} % of its "
                "core; other processes on the machine probably took the rest, "
                "so this figure is low. Run again on a quiet machine."
            )
    return ["", "Warnings:", *notes] if notes else []


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the benchmark, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="measured seconds per case (default 5, --quick 1; wrk rounds up to whole seconds)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="unmeasured warm-up seconds per case (default 1, --quick 0.3)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="keep-alive connections (default 32)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs and one round, for a first look"
    )
    parser.add_argument(
        "--scenario-counts",
        default="10,1000,10000",
        help="comma-separated scenario counts (default 10,1000,10000)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only the cases whose name contains one of these "
        "comma-separated words (the bare and aimock baselines always run)",
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (default auto: wrk when installed, else the Python one)",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="the Python generator's HTTP client (default raw: cheap enough "
        "to saturate the baseline from one core)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="interleaved rounds over all cases; figures are their medians (default 3, --quick 1)",
    )
    parser.add_argument(
        "--no-aimock", action="store_true", help="neither install nor measure aimock"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each case, wait up to SECONDS for the machine to be "
        "quiet (for a shared machine; default 0: no wait)",
    )
    parser.add_argument(
        "--mockllm-python",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="also run every mockllm case with this interpreter (e.g. another "
        "checkout's .venv/bin/python), labelled; repeatable",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    config = RunConfig(
        seconds=args.seconds if args.seconds is not None else (1.0 if args.quick else 5.0),
        warmup=args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0),
        concurrency=args.concurrency,
        pin=not args.no_pin,
        generator=args.generator,
        client=args.client,
        repeat=args.repeat if args.repeat is not None else (1 if args.quick else 3),
        aimock=not args.no_aimock,
        quiet_wait=args.quiet_wait,
    )
    counts = [int(n) for n in args.scenario_counts.split(",") if n.strip()]
    cases = select_cases(
        default_cases(counts), [w.strip() for w in args.only.split(",") if w.strip()]
    )
    cases = with_pythons(cases, [parse_python(p) for p in args.mockllm_python])
    report = asyncio.run(run(cases, config))
    print(markdown_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in report.results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
