"""Settings from the environment and the command line, and the README's table of them."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from mockllm.cli import _parser, _settings, main
from mockllm.config import (
    OPTIONS,
    ErrorDialect,
    Option,
    Settings,
    ValidationMode,
    settings_markdown,
)
from mockllm.errors import ConfigError
from mockllm.http.serving import LineBatchHandler
from mockllm.resources import data_dir

README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "MOCKLLM_PORT": "9000",
            "MOCKLLM_SEED": "7",
            "MOCKLLM_VALIDATION": "Lenient",
            "MOCKLLM_ERROR_DIALECT": "openai",
            "MOCKLLM_MODELS_FILE": "m.yaml",
            "MOCKLLM_STRICT_MODELS": "yes",
            "MOCKLLM_SCENARIO_PATHS": "x.yaml",
            "MOCKLLM_STRICT": "true",
            "MOCKLLM_RATE_LIMIT_RPM": "3",
            "UNRELATED": "1",
        }
    )
    assert (settings.port, settings.seed) == (9000, 7)
    assert settings.validation is ValidationMode.LENIENT
    assert settings.error_dialect is ErrorDialect.OPENAI
    assert settings.models_file == Path("m.yaml")
    assert settings.strict_models is True and settings.strict is True
    assert settings.scenario_paths == (Path("x.yaml"),)
    assert settings.rate_limit_rpm == 3
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MOCKLLM_VALIDATION", "loose", "strict, lenient, off"),
        ("MOCKLLM_PORT", "eighty", "not an integer"),
        ("MOCKLLM_STRICT", "maybe", "not a boolean"),
    ],
)
def test_bad_env_values_name_the_variable(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and needle in str(info.value)


def test_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKLLM_PORT", "9000")
    monkeypatch.setenv("MOCKLLM_SEED", "1")
    args = _parser().parse_args(
        [
            "serve",
            "--port",
            "9001",
            "--validation",
            "off",
            "--strict-models",
            "--models",
            "m.yaml",
            "--scenarios",
            "a",
            "b",
        ]
    )
    settings = _settings(args)
    assert settings.port == 9001 and settings.seed == 1
    assert settings.validation is ValidationMode.OFF and settings.strict_models is True
    assert settings.models_file == Path("m.yaml")
    assert settings.scenario_paths == (Path("a"), Path("b"))


def test_bad_env_makes_serve_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCKLLM_ERROR_DIALECT", "xml")
    assert main(["serve"]) == 2
    assert "MOCKLLM_ERROR_DIALECT" in capsys.readouterr().err


def test_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: ok\nreply: {content: hi}\n")
    assert main(["check", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nwhen:\n  modle: gpt-4o\n")
    assert main(["check", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "modle" in err


def test_schemas_check_command_passes_on_the_shipped_schemas() -> None:
    assert main(["schemas", "--check"]) == 0


def _documented_settings_table() -> str:
    """The settings table between its markers, in the README or a page of docs/."""
    for page in [README, *sorted((README.parent / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        match = re.search(r"<!-- settings-table[^>]*-->\n(.*?)<!-- /settings-table -->", text, re.S)
        if match:
            return match.group(1)
    raise AssertionError("no <!-- settings-table --> section in README.md or docs/")


def test_documented_settings_table_is_the_one_options_generates() -> None:
    assert _documented_settings_table() == settings_markdown(), (
        "the docs' settings table differs from config.OPTIONS; paste this in its place:\n"
        + settings_markdown()
    )


def test_every_setting_has_exactly_one_row_in_the_table() -> None:
    assert sorted(o.name for o in OPTIONS) == sorted(f.name for f in fields(Settings))


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.flags], ids=lambda o: o.name)
def test_each_flag_sets_what_its_variable_sets(
    option: Option, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One sample text per kind of setting: the flag and the variable must agree on it.
    samples = {
        "host": "0.0.0.0",
        "port": "9001",
        "seed": "7",
        "validation": "lenient",
        "error_dialect": "openai",
        "models_file": "m.yaml",
        "auto_tools": "fit",
        "api_keys": "sk-a,sk-b",
        "max_reply_chars": "99",
        "rate_limit_rpm": "5",
        "rate_limit_tpm": "6",
        "admin_token": "t0k",
        "workers": "2",
        "state": "redis://127.0.0.1:1/0",
        "state_prefix": "p:",
        "record": "missing",
        "upstream": "http://127.0.0.1:9/v1",
        "upstream_key": "sk-x",
        "record_dir": "somewhere",
        "redact": "secret-[0-9]+",
        "scenario_paths": "one.yaml",
    }
    captured: list[Settings] = []
    monkeypatch.setattr("mockllm.cli._serve", lambda settings: captured.append(settings) or 0)
    if option.switch is not None:
        argv = [option.flags[0]]
        monkeypatch.setenv(option.variable, "true" if option.switch else "false")
    else:
        argv = [option.flags[0], samples[option.name]]
        monkeypatch.setenv(option.variable, samples[option.name])
    assert main(["serve"]) == 0
    monkeypatch.delenv(option.variable)
    assert main(["serve", *argv]) == 0
    from_variable, from_flag = captured
    assert getattr(from_flag, option.name) == getattr(from_variable, option.name)
    assert getattr(from_flag, option.name) != getattr(Settings(), option.name)


def test_serve_refuses_a_broken_scenario_file_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nwhen:\n  modle: gpt-4o\n")
    assert main(["serve", "--port", "0", "--scenarios", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "unknown condition 'modle'" in err


# --- startup problems: one `mockllm: ...` line and exit status 2, never a traceback


@pytest.mark.parametrize(
    ("env", "argv", "needle"),
    [
        (
            {},
            ["--port", "99999"],
            "--port: 99999 is out of range (use a whole number from 0 to 65535)",
        ),
        ({"MOCKLLM_PORT": "-1"}, [], "MOCKLLM_PORT: -1 is out of range"),
        (
            {"MOCKLLM_MAX_BODY_BYTES": "-1"},
            [],
            "MOCKLLM_MAX_BODY_BYTES: -1 is out of range (use a whole number of at least 1)",
        ),
        ({"MOCKLLM_MAX_REPLY_CHARS": "0"}, [], "MOCKLLM_MAX_REPLY_CHARS: 0 is out of range"),
        ({"MOCKLLM_JOURNAL_SIZE": "-5"}, [], "MOCKLLM_JOURNAL_SIZE: -5 is out of range"),
        ({"MOCKLLM_RATE_LIMIT_RPM": "0"}, [], "MOCKLLM_RATE_LIMIT_RPM: 0 is out of range"),
        ({}, ["--rate-limit-tpm", "-3"], "--rate-limit-tpm: -3 is out of range"),
        ({}, ["--max-reply-chars", "0"], "--max-reply-chars: 0 is out of range"),
    ],
)
def test_numeric_settings_out_of_range_are_refused_at_startup(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    argv: list[str],
    needle: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", *argv]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith(f"mockllm: {needle}")
    assert captured.out == ""


def test_settings_refuse_out_of_range_values_in_python_too() -> None:
    with pytest.raises(ConfigError, match="port: 70000 is out of range"):
        Settings(port=70000)
    with pytest.raises(ConfigError, match="max_body_bytes: 0 is out of range"):
        Settings().with_overrides(max_body_bytes=0)
    assert Settings(port=0, journal_size=0).port == 0


def _serve_fails(*argv: str, timeout: float = 120) -> str:
    """Run `mockllm serve` in a subprocess that must fail: its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "mockllm", "serve", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mockllm: "), result.stderr
    return lines[0]


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _serve_fails("--port", str(port))
    assert line.startswith(f"mockllm: cannot listen on 127.0.0.1:{port}: the port is in use")
    assert "--port" in line


def test_an_unresolvable_host_is_one_line_and_exit_2() -> None:
    line = _serve_fails("--host", "no-such-host.invalid", "--port", "0")
    assert line.startswith(
        "mockllm: cannot listen on no-such-host.invalid:0: the host "
        "'no-such-host.invalid' does not resolve"
    )
    assert "--host" in line


def test_the_background_server_raises_the_same_clear_error() -> None:
    from mockllm.server import MockLLMServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MockLLMServer(Settings(port=taken.getsockname()[1]))
        with pytest.raises(ConfigError, match="the port is in use"):
            server.start()


def test_serve_help_names_the_variable_of_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    entries = re.split(r"\n  (?=-)", text.split("options:", 1)[1])[1:]
    names = {f"MOCKLLM_{f.name.upper()}" for f in fields(Settings)}
    assert len(entries) >= 18
    for entry in entries:
        if entry.startswith("-h, --help"):
            continue
        variables = re.findall(r"\[(MOCKLLM_[A-Z_]+)(?:=\w+)?\]", " ".join(entry.split()))
        assert len(variables) == 1 and variables[0] in names, entry


# --- mockllm schemas: the page and overlay come from the checkout, --out is only the output


def test_schemas_out_writes_elsewhere_from_the_usual_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not a checkout: the shipped page and overlay
    out = tmp_path / "generated"
    assert main(["schemas", "--out", str(out)]) == 0
    assert (out / "ChatCompletion.schema.json").is_file()
    assert not (out / "overlay.yaml").exists()
    assert main(["schemas", "--check", "--out", str(out)]) == 0


def test_schemas_check_in_a_checkout_compares_that_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "other-checkout"
    (checkout / "mockllm").mkdir(parents=True)
    (checkout / "mockllm" / "schemagen.py").write_text("")
    shipped = data_dir("schemas")
    (checkout / "schemas").mkdir()
    for name in ("chat-completion-api.md", "overlay.yaml"):
        (checkout / "schemas" / name).write_bytes((shipped / name).read_bytes())
    monkeypatch.chdir(checkout / "mockllm")  # anywhere inside the checkout
    capsys.readouterr()
    assert main(["schemas", "--check"]) == 1  # this checkout has no schemas generated yet
    assert f"out of date: {checkout / 'schemas' / 'AiMessage.schema.json'}" in (
        capsys.readouterr().out
    )
    assert main(["schemas"]) == 0
    assert main(["schemas", "--check"]) == 0
    assert (checkout / "schemas" / "ChatCompletion.schema.json").read_bytes() == (
        shipped / "ChatCompletion.schema.json"
    ).read_bytes()


def test_workers_and_state_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env(
        {
            "MOCKLLM_WORKERS": "auto",
            "MOCKLLM_STATE": "redis://127.0.0.1:6379/2",
            "MOCKLLM_STATE_PREFIX": "team-a:",
        }
    )
    assert settings.workers >= 1 and settings.state == "redis://127.0.0.1:6379/2"
    assert settings.state_prefix == "team-a:"
    assert Settings.from_env({"MOCKLLM_STATE": "memory"}).state is None
    args = _parser().parse_args(
        ["serve", "--workers", "3", "--state", "redis://h:1/0", "--state-prefix", "x:"]
    )
    assert (_settings(args).workers, _settings(args).state_prefix) == (3, "x:")


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MOCKLLM_WORKERS", "many", "number of workers"),
        ("MOCKLLM_WORKERS", "0", "number of workers"),
        ("MOCKLLM_STATE", "postgres://db/1", "redis://HOST:PORT/DB"),
    ],
)
def test_bad_worker_and_state_values_name_the_variable(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and needle in str(info.value)


def test_several_workers_without_a_state_store_refuse_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--port", "0", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2 needs a shared state store" in err
    assert "--state redis://" in err and "times: 1" in err


def test_the_default_server_never_imports_the_redis_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from mockllm.http.app import create_app; create_app(); "
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')"
        " or m.endswith('redis_store')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_access_log_writes_the_lines_of_one_loop_turn_at_once() -> None:
    stream = io.StringIO()
    handler = LineBatchHandler(stream)
    logger = logging.Logger("mockllm-test-batch")
    logger.addHandler(handler)

    def line(n: int) -> str:
        return f"POST /v1/chat/completions 200 scenario=s{n} 100%"

    async def serve() -> list[str]:
        logger.info(line(1))
        logger.info(line(2))
        held = stream.getvalue()  # nothing written before the loop turns
        await asyncio.sleep(0)
        return [held, stream.getvalue()]

    held, written = asyncio.run(serve())
    assert held == ""
    assert written == f"{line(1)}\n{line(2)}\n"
    logger.info(line(3))  # outside a loop: written at once
    assert stream.getvalue().endswith(f"{line(3)}\n")
