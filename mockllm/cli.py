"""The ``mockllm`` command: ``serve``, ``check``, ``schemas`` and ``conform``.

Settings come from defaults, then ``MOCKLLM_*`` environment variables, then flags.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import ErrorDialect, RecordMode, Settings, ValidationMode, check_range, parse_value
from .errors import ConfigError

__all__ = ["main"]


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``conform``'s options only when ``argv`` asks for it
    (they import the whole checker, which ``serve`` would wait for)."""
    parser = argparse.ArgumentParser(
        prog="mockllm",
        description="A validating mock of the chat completions API, for tests and local dev.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (built-in scenarios by default)")

    _serve_arguments(serve)
    option = _help_naming_variable(serve)
    option("--record", choices=[m.value for m in RecordMode],
           help="none (default): never forward; missing: forward and record requests no "
                "scenario matches; all: forward and record every one")
    option("--record-dir", type=Path, metavar="DIR",
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
    schemas.add_argument("--page", type=Path,
                         help="the API page (default: schemas/ of the checkout you are in, "
                              "else the shipped copy)")
    schemas.add_argument("--overlay", type=Path,
                         help="the overlay (default: beside the default page)")
    schemas.add_argument("--out", type=Path,
                         help="folder to write or --check (default: where the page is read)")
    schemas.add_argument("--openapi", type=Path, metavar="FILE",
                         help="a newer copy of Anthropic's whole OpenAPI document: take a new "
                              "pinned extract (schemas/anthropic/openapi.json) from it first")
    conform = sub.add_parser("conform", help="check any chat completions server against the "
                                             "wire format (one line per check)")
    words = sys.argv[1:] if argv is None else argv
    if "conform" in words:
        from .conform.command import add_arguments

        add_arguments(conform)
    return parser


def _help_naming_variable(parser: argparse.ArgumentParser) -> Callable[..., None]:
    """``add_argument`` for a serve flag whose help names its MOCKLLM_* variable (the
    flag wins over it)."""

    def option(*flags: str, variable: str | None = None, **kwargs: Any) -> None:
        name = variable or "MOCKLLM_" + flags[0].lstrip("-").replace("-", "_").upper()
        kwargs["help"] = f"{kwargs['help']} [{name}]"
        parser.add_argument(*flags, **kwargs)

    return option


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    """The options of ``serve``, which ``record`` shares."""
    option = _help_naming_variable(serve)
    option("--host", help="address to bind (default 127.0.0.1)")
    option("--port", type=int, help="port (default 8000; 0 picks a free one)")
    option("--seed", type=int, help="server seed: replies become reproducible")
    option("--validation", choices=[m.value for m in ValidationMode],
           help="strict (default): unknown fields rejected; lenient; off")
    option("--error-dialect", choices=[d.value for d in ErrorDialect],
           help="error envelope: both (default), openai, servicestack")
    option("--models", help="comma-separated models listed by /v1/models")
    option("--known-models-only", action="store_true", default=None,
           variable="MOCKLLM_ANY_MODEL=false",
           help="answer 404 for a model not in --models")
    option("--scenarios", nargs="+", type=Path, metavar="PATH",
           variable="MOCKLLM_SCENARIO_PATHS",
           help="scenario files or folders (default: the built-in ones)")
    option("--strict", action="store_true", default=None,
           help="a request no scenario matches is an error")
    option("--reload", action="store_true", default=None,
           help="reload scenario files when they change")
    option("--check-replies", action="store_true", default=None,
           help="validate each reply against the ChatResponse schema")
    option("--max-reply-chars", type=int, metavar="N",
           help="characters a scenario reply's templates may render (default 1 MiB)")
    option("--rate-limit-rpm", type=int, metavar="N",
           help="answer 429 beyond N requests a minute (per API key)")
    option("--rate-limit-tpm", type=int, metavar="N",
           help="answer 429 beyond N prompt tokens a minute (per API key)")
    option("--rate-limit-global", action="store_true", default=None,
           variable="MOCKLLM_RATE_LIMIT_PER_KEY=false",
           help="one rate-limit budget for the server, not one per API key")
    option("--admin-token", help="token for the /__mockllm/ control API")
    option("--no-cors", action="store_true", default=None, variable="MOCKLLM_CORS=false",
           help="no CORS headers or preflight answers (on by default)")
    option("--workers", metavar="N|auto",
           help="worker processes on the one port (auto: one per core); above 1 needs --state")
    option("--state", metavar="URL",
           help="shared state store, redis://HOST:PORT/DB (default: memory)")
    option("--state-prefix", metavar="PREFIX",
           help="what every key in the state store starts with (default mockllm:)")
    option("--verbose", "-v", action="store_true", default=None,
           help="log validation details of each request")
    option("--quiet", "-q", action="store_true", default=None,
           help="no access-log line per request (warnings and errors still print), "
                "as for a load test")
    option("--upstream", metavar="BASE_URL",
           help="the OpenAI-compatible API to forward to (e.g. https://api.openai.com/v1)")
    option("--upstream-key", metavar="KEY",
           help="API key sent upstream instead of the client's (never recorded)")
    option("--redact", action="append", metavar="REGEX",
           help="scrub matches from recorded files (repeatable)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    for name in ("port", "rate_limit_rpm", "rate_limit_tpm", "max_reply_chars"):
        check_range(name, getattr(args, name), source=f"--{name.replace('_', '-')}")
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
        max_reply_chars=args.max_reply_chars,
        rate_limit_rpm=args.rate_limit_rpm,
        rate_limit_tpm=args.rate_limit_tpm,
        rate_limit_per_key=False if args.rate_limit_global else None,
        admin_token=args.admin_token,
        verbose=args.verbose,
        quiet=args.quiet,
        cors=False if args.no_cors else None,
        workers=parse_value("workers", args.workers, source="--workers")
        if args.workers is not None else None,
        state=parse_value("state", args.state, source="--state")
        if args.state is not None else None,
        state_prefix=args.state_prefix,
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
    # Start-up builds long-lived objects and next to no garbage: no collections until
    # the app is built (serve_forever freezes it and turns them back on).
    gc.disable()
    try:
        return _serve_without_collections_at_first(settings)
    finally:
        gc.enable()


def _serve_without_collections_at_first(settings: Settings) -> int:
    from .http.serving import LineBatchHandler, run, serve_forever

    if settings.workers > 1:  # (multiprocessing and the supervisor only then)
        from .http.workers import workers_problem

        problem = workers_problem(settings)
        if problem is not None:
            raise ConfigError(problem)
    level = logging.DEBUG if settings.verbose else logging.INFO
    if settings.quiet and not settings.verbose:
        level = logging.WARNING
    logging.basicConfig(level=level,
                        format="%(message)s", handlers=[LineBatchHandler(sys.stderr)])

    def announce(url: str) -> None:
        print(f"mockllm serving on {url}  (OpenAI base_url: {url}/v1)  Ctrl-C stops it",
              flush=True)

    if settings.workers > 1:
        from .http.workers import serve_workers

        gc.enable()
        code = serve_workers(settings, announce)
        print("mockllm stopped", flush=True)
        return code
    with contextlib.suppress(KeyboardInterrupt):
        run(serve_forever(settings, announce))
    print("mockllm stopped", flush=True)
    return 0


def _check(paths: Sequence[Path]) -> int:
    from .scenario_engine.loader import check_paths

    problems = check_paths(paths, max_reply_chars=Settings.from_env().max_reply_chars)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(str(p) for p in paths)}")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    """``mockllm schemas``: the chat schemas from the DTO page, then each OpenAPI
    surface's from its pinned extract (from the checkout when it has one)."""
    from . import openapigen, schemagen
    from .resources import data_dir

    code = schemagen.run(args.page, args.out, args.check, overlay=args.overlay)
    source = schemagen.source_dir()
    if not (source / openapigen.ANTHROPIC.folder / "openapi.json").is_file():
        source = data_dir("schemas")
    return max(code, openapigen.run(source, args.out, args.check, refresh=args.openapi))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mockllm`` command and of ``python -m mockllm``."""
    args = _parser(argv).parse_args(argv)
    try:
        if args.command in ("serve", "record"):
            return _serve(_settings(args))
        if args.command == "check":
            return _check(args.paths)
        if args.command == "conform":
            from .conform.command import run as conform

            return conform(args)
        return _schemas(args)
    except ConfigError as exc:
        print(f"mockllm: {exc}", file=sys.stderr)
        return 2
