"""``mockllm conform BASE_URL ...``: the options, and the run that prints and writes the report.

Exit status 0 when every required check passes, 1 when one fails; bad options are a
``ConfigError`` (the ``mockllm`` command prints it and exits 2). The text lines go to
stdout as each check completes; ``--report json|junit`` without ``--out`` prints that
report instead, and with ``--out FILE`` the report is written there and the lines still
shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from .client import Client
from .report import FORMATS, line, summary
from .runner import Result, run_checks

__all__ = ["add_arguments", "run"]

DEFAULT_MODEL = "gpt-4o-mini"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mockllm conform``."""
    parser.add_argument(
        "base_url",
        metavar="BASE_URL",
        help="the server's OpenAI base URL, e.g. http://localhost:11434/v1",
    )
    parser.add_argument("--api-key", metavar="K", help="sent as Authorization: Bearer K")
    parser.add_argument(
        "--model",
        metavar="M",
        default=DEFAULT_MODEL,
        help=f"model to ask for (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--only",
        metavar="PREFIX",
        action="append",
        default=[],
        help="run only the checks whose names start with PREFIX "
        "(repeat it or separate with commas)",
    )
    parser.add_argument(
        "--require",
        metavar="NAMES",
        action="append",
        default=[],
        help="optional checks (audio, logprobs) that must pass, not be "
        "'unsupported' (comma-separated)",
    )
    parser.add_argument(
        "--report",
        choices=sorted(FORMATS),
        default="text",
        help="report format (default text: one line per check)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="write the report to FILE (the text lines are still printed)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="deadline of each request (default 30)",
    )


def _names(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the battery as ``args`` say; 0 when every required check passed."""
    if args.timeout <= 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    base = args.base_url.rstrip("/")
    if urlsplit(base).path == "":
        # Every check would fail with a 404: say the one thing that is wrong instead.
        raise ConfigError(
            f"{args.base_url} has no path: an OpenAI base URL names the API's "
            f"root, usually ending in /v1 (try: mockllm conform {base}/v1)"
        )
    client = Client(args.base_url, api_key=args.api_key, timeout=args.timeout)
    lines_now = args.report == "text" or args.out is not None

    def show(result: Result) -> None:
        if lines_now:
            print(line(result), flush=True)

    report = run_checks(
        client, args.model, only=_names(args.only), require=_names(args.require), on_result=show
    )
    if lines_now:
        print(summary(report), flush=True)
    if args.out is not None:
        args.out.write_text(FORMATS[args.report](report), encoding="utf-8")
    elif args.report != "text":
        sys.stdout.write(FORMATS[args.report](report))
    return 0 if report.passed else 1
