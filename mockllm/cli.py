"""The ``mockllm`` command: ``serve``, ``check``, ``schemas`` and ``conform``.

Settings come from defaults, then ``MOCKLLM_*`` environment variables, then flags.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .config import OPTIONS, RecordMode, Settings
from .errors import ConfigError

__all__ = ["main"]


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``conform``'s options only when ``argv`` asks for it
    (they import the whole checker, which ``serve`` would wait for)."""
    parser = argparse.ArgumentParser(
        prog="mockllm",
        description="A validating mock of the chat completions API, for tests and local dev.",
    )
    parser.add_argument("--version", action="version", version=f"mockllm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (built-in scenarios by default)")

    _serve_arguments(serve, serve_only=True)
    record = sub.add_parser(
        "record",
        help="forward every request to an upstream and record each exchange as a scenario file",
    )
    _serve_arguments(record)
    record.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=Path("recordings"),
        help="folder for the recorded scenarios (default: recordings)",
    )

    check = sub.add_parser("check", help="validate scenario files; non-zero exit on problems")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    schemas = sub.add_parser("schemas", help="generate schemas/ from the DTO reference page")
    schemas.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 when schemas/ differs from the page",
    )
    schemas.add_argument(
        "--page",
        type=Path,
        help="the API page (default: schemas/ of the checkout you are in, else the shipped copy)",
    )
    schemas.add_argument(
        "--overlay", type=Path, help="the overlay (default: beside the default page)"
    )
    schemas.add_argument(
        "--out", type=Path, help="folder to write or --check (default: where the page is read)"
    )
    schemas.add_argument(
        "--openapi",
        type=Path,
        metavar="FILE",
        help="a newer copy of Anthropic's whole OpenAPI document: take a new "
        "pinned extract (schemas/anthropic/openapi.json) from it first",
    )
    conform = sub.add_parser(
        "conform",
        help="check any chat completions server against the wire format (one line per check)",
    )
    words = sys.argv[1:] if argv is None else argv
    if "conform" in words:
        from .conform.command import add_arguments

        add_arguments(conform)
    return parser


def _serve_arguments(parser: argparse.ArgumentParser, *, serve_only: bool = False) -> None:
    """The options of ``serve`` (``record`` shares all but the ``serve_only`` ones), one per
    row of ``config.OPTIONS``; each help names its MOCKLLM_* variable (the flag wins)."""
    for option in OPTIONS:
        if not option.flags or (option.serve_only and not serve_only):
            continue
        text = option.help.replace("`", "")
        default = option.default.replace("`", "")
        kwargs: dict[str, Any] = {
            "dest": option.name,
            "default": None,
            "help": f"{text} (default: {default}) [{option.variable_hint}]",
        }
        if option.switch is not None:
            kwargs["action"] = "store_const"
            kwargs["const"] = option.switch
        else:
            kwargs["metavar"] = option.metavar
            if option.many == "append":
                kwargs["action"] = "append"
            elif option.many:
                kwargs["nargs"] = option.many
        parser.add_argument(*option.flags, **kwargs)


def _settings(args: argparse.Namespace) -> Settings:
    """Defaults, then the MOCKLLM_* variables, then the flags given."""
    overrides: dict[str, Any] = {}
    for option in OPTIONS:
        given = getattr(args, option.name, None)
        if given is None:
            continue
        if option.switch is not None:
            overrides[option.name] = given
            continue
        raw = option.separator.join(given) if option.many else given
        overrides[option.name] = option.parse(raw, option.flags[0])
    if args.command == "record":
        if not args.upstream:
            raise ConfigError("mockllm record needs --upstream BASE_URL")
        overrides.update(record=RecordMode.ALL, record_dir=args.out)
    return Settings.from_env().with_overrides(**overrides)


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
    if settings.state:  # said at start: a store that does not answer, or one to empty
        import asyncio

        from .state import prepare_store

        asyncio.run(
            prepare_store(settings.state, prefix=settings.state_prefix, reset=settings.state_reset)
        )
    level = logging.DEBUG if settings.verbose else logging.INFO
    if settings.quiet and not settings.verbose:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", handlers=[LineBatchHandler(sys.stderr)])

    from .recording import Recording

    recording = Recording.from_settings(settings)

    def announce(url: str, scenarios: int | None = None) -> None:
        print(f"mockllm serving on {url}  (OpenAI base_url: {url}/v1)  Ctrl-C stops it", flush=True)
        print(f"  browser view: {url}/__mockllm/ui", flush=True)
        print(f"  scenarios: {_scenarios_line(settings, scenarios)}", flush=True)
        if recording is not None:
            print(
                f"  recording ({recording.mode.value}): forwards to {recording.upstream}, "
                f"writes scenarios into {recording.source}",
                flush=True,
            )

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


def _scenarios_line(settings: Settings, count: int | None) -> str:
    """How many scenarios the server loaded, and from where (the start banner's line)."""
    where = (
        ", ".join(str(p) for p in settings.scenario_paths)
        if settings.scenario_paths
        else "the built-in ones (--scenarios PATH for yours)"
    )
    if count is None:
        return f"from {where}"
    return f"{count} from {where}" + ("; reloaded when a file changes" if settings.reload else "")


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
