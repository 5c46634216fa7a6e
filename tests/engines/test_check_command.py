"""``mockllm check`` reports every problem of a file, each with file:line and a
did-you-mean, knows Faker's names at load, and says "tab" for a tab-indented file (it
stopped at the first problem, passed ``faker.weather_city()`` and spoke of tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockllm.cli import main
from mockllm.errors import ScenarioLoadError
from mockllm.scenario_engine.loader import load_scenario_data

BROKEN = """\
scenarios:
  - name: one
    whn: {last_user_message: hi}
    reply:
      contnet: "hello"
  - name: two
    when:
      modle: gpt-4o
    reply:
      content: "{{ faker.weather_city() }}"
  - name: three
    reply: {content: "{{ faker.cty() }}"}
  - name: fine
    reply: {content: "{{ faker.city() }}"}
"""


def _check(capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[int, list[str]]:
    code = main(["check", *map(str, files)])
    return code, capsys.readouterr().err.splitlines()


def test_every_problem_of_a_file_with_its_line_and_a_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(BROKEN)
    code, lines = _check(capsys, file)
    assert code == 1
    assert lines[-1] == "5 problem(s) found"
    problems = lines[:-1]
    assert [p.split(": ", 1)[0] for p in problems] == [f"{file}:{n}" for n in (3, 5, 8, 10, 12)]
    assert "unknown key 'whn' (did you mean 'when'?)" in problems[0]
    assert "unknown key 'contnet' (did you mean 'content'?)" in problems[1]
    assert "unknown condition 'modle' (did you mean 'model'?)" in problems[2]
    assert "faker has no 'weather_city' in locale en_US" in problems[3]
    assert "faker has no 'cty' in locale en_US (did you mean 'city'?)" in problems[4]


def test_an_unknown_faker_name_is_refused_at_load() -> None:
    with pytest.raises(ScenarioLoadError, match="faker has no 'weather_city'"):
        load_scenario_data({"name": "w", "reply": {"content": "{{ faker.weather_city() }}"}})
    # What the locale has, and the proxy's own names, load.
    assert load_scenario_data(
        {
            "name": "ok",
            "reply": {
                "content": "{{ faker.city() }} {{ faker.unique.pyint() }} {{ faker.pyint(1, 5) }}"
            },
        }
    )


def test_a_tab_indented_file_is_told_about_the_tab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "tabbed.yaml"
    file.write_text("name: tabbed\nreply:\n\tcontent: hi\n")
    code, lines = _check(capsys, file)
    assert code == 1
    assert lines[0].startswith(f"{file}:3: a tab indents this line")
    assert "spaces" in lines[0]


def test_duplicate_names_within_and_across_files_are_all_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text("- name: x\n- name: x\n")
    (tmp_path / "b.yaml").write_text("name: x\n")
    code, lines = _check(capsys, tmp_path)
    assert code == 1 and lines[-1] == "2 problem(s) found"
    assert all("duplicate scenario name 'x'" in line for line in lines[:-1])
