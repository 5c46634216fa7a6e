"""The ``mockllm`` command: ``serve``, ``record``, ``check``, ``schemas`` and ``conform``.

Settings come from defaults, then ``MOCKLLM_*`` environment variables, then flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import ErrorDialect, RecordMode, Settings, ValidationMode
from .conform.command import add_arguments as add_conform_arguments
from .errors import ConfigError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mockllm",
        description="A validating mock of the chat completions API, for tests and local dev.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (built-in scenarios by default)")
    _serve_arguments(serve)
    serve.add_argument("--record", choices=[m.value for m in RecordMode],
                       help="none (default): never forward; missing: forward and record "
                            "requests no scenario matches; all: forward and record every one")
    serve.add_argument("--record-dir", type=Path, metavar="DIR",
                       help="where recordings go (default: the first --scenarios folder)")
    record = sub.add_parser("record", help="forward every request to an upstream and record "
                                           "each exchange as a scenario file")
    _serve_arguments(record)
    record.add_argument("--out", type=Path, metavar="DIR", default=Path("recordings"),
                        help="folder for the recorded scenarios (default: recordings)")

    check = sub.add_parser("check", help="validate scenario files; non-zero exit on problems")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    schemas = sub.add_parser("schemas", help="generate schemas/ from the DTO reference page")
    schemas.add_argument("--check", action="store_true",
                         help="do not write; exit 1 when schemas/ differs from the page")
    schemas.add_argument("--page", type=Path, help="the API page (default: the shipped copy)")
    schemas.add_argument("--out", type=Path, help="output folder (default: schemas/)")
    conform = sub.add_parser("conform", help="check any chat completions server against the "
                                             "wire format (one line per check)")
    add_conform_arguments(conform)
    return parser


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    """The options of ``serve``, which ``record`` shares."""
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--seed", type=int, help="server seed: replies become reproducible")
    serve.add_argument("--validation", choices=[m.value for m in ValidationMode],
                       help="strict (default): unknown fields rejected; lenient; off")
    serve.add_argument("--error-dialect", choices=[d.value for d in ErrorDialect],
                       help="error envelope: both (default), openai, servicestack")
    serve.add_argument("--models", help="comma-separated models listed by /v1/models")
    serve.add_argument("--known-models-only", action="store_true", default=None,
                       help="answer 404 for a model not in --models")
    serve.add_argument("--scenarios", nargs="+", type=Path, metavar="PATH",
                       help="scenario files or folders (default: the built-in ones)")
    serve.add_argument("--strict", action="store_true", default=None,
                       help="a request no scenario matches is an error")
    serve.add_argument("--reload", action="store_true", default=None,
                       help="reload scenario files when they change")
    serve.add_argument("--check-replies", action="store_true", default=None,
                       help="validate each reply against the ChatResponse schema")
    serve.add_argument("--rate-limit-rpm", type=int, metavar="N",
                       help="answer 429 beyond N requests a minute (per API key)")
    serve.add_argument("--rate-limit-tpm", type=int, metavar="N",
                       help="answer 429 beyond N prompt tokens a minute (per API key)")
    serve.add_argument("--rate-limit-global", action="store_true", default=None,
                       help="one rate-limit budget for the server, not one per API key")
    serve.add_argument("--admin-token", help="token for the /__mockllm/ control API")
    serve.add_argument("--no-cors", action="store_true", default=None,
                       help="no CORS headers or preflight answers (on by default)")
    serve.add_argument("--verbose", "-v", action="store_true", default=None,
                       help="log validation details of each request")
    serve.add_argument("--upstream", metavar="BASE_URL",
                       help="the OpenAI-compatible API to forward to (e.g. "
                            "https://api.openai.com/v1)")
    serve.add_argument("--upstream-key", metavar="KEY",
                       help="API key sent upstream instead of the client's (never recorded)")
    serve.add_argument("--redact", action="append", metavar="REGEX",
                       help="scrub matches from recorded files (repeatable)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    return settings.with_overrides(
        host=args.host,
        port=args.port,
        seed=args.seed,
        validation=ValidationMode(args.validation) if args.validation else None,
        error_dialect=ErrorDialect(args.error_dialect) if args.error_dialect else None,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip())
        if args.models else None,
        any_model=False if args.known_models_only else None,
        scenario_paths=tuple(args.scenarios) if args.scenarios else None,
        strict=args.strict,
        reload=args.reload,
        check_replies=args.check_replies,
        rate_limit_rpm=args.rate_limit_rpm,
        rate_limit_tpm=args.rate_limit_tpm,
        rate_limit_per_key=False if args.rate_limit_global else None,
        admin_token=args.admin_token,
        verbose=args.verbose,
        cors=False if args.no_cors else None,
        upstream=args.upstream,
        upstream_key=args.upstream_key,
        redact=tuple(args.redact) if args.redact else None,
        **_record_overrides(args),
    )


def _record_overrides(args: argparse.Namespace) -> dict[str, object]:
    if args.command == "record":
        if not args.upstream:
            raise ConfigError("mockllm record needs --upstream BASE_URL")
        return {"record": RecordMode.ALL, "record_dir": args.out}
    return {"record": RecordMode(args.record) if args.record else None,
            "record_dir": args.record_dir}


def _serve(settings: Settings) -> int:
    from .http.serving import serve_forever

    logging.basicConfig(level=logging.DEBUG if settings.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)

    def announce(url: str) -> None:
        print(f"mockllm serving on {url}  (OpenAI base_url: {url}/v1)  Ctrl-C stops it",
              flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(settings, announce))
    print("mockllm stopped", flush=True)
    return 0


def _check(paths: Sequence[Path]) -> int:
    from .scenario_engine.loader import check_paths

    problems = check_paths(paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(str(p) for p in paths)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mockllm`` command and of ``python -m mockllm``."""
    args = _parser().parse_args(argv)
    try:
        if args.command in ("serve", "record"):
            return _serve(_settings(args))
        if args.command == "check":
            return _check(args.paths)
        if args.command == "conform":
            from .conform.command import run as conform

            return conform(args)
        from .schemagen import run

        return run(args.page, args.out, args.check)
    except ConfigError as exc:
        print(f"mockllm: {exc}", file=sys.stderr)
        return 2
