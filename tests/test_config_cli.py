"""Settings from the environment and the command line, and the README's table of them."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from mockllm.cli import _parser, _settings, main
from mockllm.config import ErrorDialect, Settings, ValidationMode
from mockllm.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_settings_from_env() -> None:
    settings = Settings.from_env({
        "MOCKLLM_PORT": "9000", "MOCKLLM_SEED": "7", "MOCKLLM_VALIDATION": "Lenient",
        "MOCKLLM_ERROR_DIALECT": "openai", "MOCKLLM_MODELS": "a, b,", "MOCKLLM_ANY_MODEL": "no",
        "MOCKLLM_SCENARIO_PATHS": "x.yaml", "MOCKLLM_STRICT": "true",
        "MOCKLLM_RATE_LIMIT_RPM": "3", "UNRELATED": "1",
    })
    assert (settings.port, settings.seed) == (9000, 7)
    assert settings.validation is ValidationMode.LENIENT
    assert settings.error_dialect is ErrorDialect.OPENAI
    assert settings.models == ("a", "b")
    assert settings.any_model is False and settings.strict is True
    assert settings.scenario_paths == (Path("x.yaml"),)
    assert settings.rate_limit_rpm == 3
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("MOCKLLM_VALIDATION", "loose", "strict, lenient, off"),
    ("MOCKLLM_PORT", "eighty", "not an integer"),
    ("MOCKLLM_STRICT", "maybe", "not a boolean"),
])
def test_bad_env_values_name_the_variable(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and needle in str(info.value)


def test_flags_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKLLM_PORT", "9000")
    monkeypatch.setenv("MOCKLLM_SEED", "1")
    args = _parser().parse_args(["serve", "--port", "9001", "--validation", "off",
                                 "--known-models-only", "--scenarios", "a", "b"])
    settings = _settings(args)
    assert settings.port == 9001 and settings.seed == 1
    assert settings.validation is ValidationMode.OFF and settings.any_model is False
    assert settings.scenario_paths == (Path("a"), Path("b"))


def test_bad_env_makes_serve_exit_2(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
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


def _readme_config_rows() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text[text.index("## Configuration"):text.index("## Performance")]
    rows = re.findall(r"^\| (`--[^|]*`)? ?\| (`MOCKLLM_[^|]*`) \|", section, re.M)
    return rows


def test_readme_configuration_table_is_true(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _readme_config_rows()
    assert len(rows) >= 15
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    options = set(re.findall(r"--[a-z-]+", capsys.readouterr().out))
    names = {f"MOCKLLM_{f.name.upper()}" for f in fields(Settings)}
    for flags, env in rows:
        for flag in re.findall(r"--[a-z-]+", flags):
            assert flag in options, flag
        for variable in re.findall(r"MOCKLLM_[A-Z_]+", env):
            if variable.endswith("_"):  # "MOCKLLM_RATE_LIMIT_RPM / _TPM"
                continue
            assert variable in names, variable


def test_serve_refuses_a_broken_scenario_file_before_binding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nwhen:\n  modle: gpt-4o\n")
    assert main(["serve", "--port", "0", "--scenarios", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "unknown condition 'modle'" in err


def test_workers_and_state_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({"MOCKLLM_WORKERS": "auto",
                                  "MOCKLLM_STATE": "redis://127.0.0.1:6379/2",
                                  "MOCKLLM_STATE_PREFIX": "team-a:"})
    assert settings.workers >= 1 and settings.state == "redis://127.0.0.1:6379/2"
    assert settings.state_prefix == "team-a:"
    assert Settings.from_env({"MOCKLLM_STATE": "memory"}).state is None
    args = _parser().parse_args(["serve", "--workers", "3", "--state", "redis://h:1/0",
                                 "--state-prefix", "x:"])
    assert (_settings(args).workers, _settings(args).state_prefix) == (3, "x:")


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("MOCKLLM_WORKERS", "many", "number of workers"),
    ("MOCKLLM_WORKERS", "0", "number of workers"),
    ("MOCKLLM_STATE", "postgres://db/1", "redis://HOST:PORT/DB"),
])
def test_bad_worker_and_state_values_name_the_variable(name: str, value: str,
                                                       needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value) and needle in str(info.value)


def test_several_workers_without_a_state_store_refuse_to_start(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2 needs a shared state store" in err
    assert "--state redis://" in err and "times: 1" in err


def test_the_default_server_never_imports_the_redis_client() -> None:
    import subprocess
    import sys

    code = ("import sys; from mockllm.http.app import create_app; create_app(); "
            "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')"
            " or m.endswith('redis_store')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
