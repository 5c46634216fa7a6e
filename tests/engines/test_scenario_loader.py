"""Loading scenario files: shapes, broken files (file, line, key), shipped scenarios,
the documentation's examples, check_paths and the reload watcher."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mockllm.errors import ScenarioLoadError
from mockllm.resources import data_dir
from mockllm.scenario_engine.conditions import RequestView
from mockllm.scenario_engine.loader import (
    ScenarioLoader,
    ScenarioWatcher,
    check_paths,
    load_scenario_data,
    load_scenarios,
)
from mockllm.scenario_engine.scenarioset import ScenarioSet
from mockllm.state import run_now

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text",
    [
        "name: one\nreply: {content: hi}\n",
        "- name: one\n- name: two\n",
        "scenarios:\n  - name: one\n  - name: two\n",
        "",  # an empty file holds no scenarios
    ],
)
def test_file_shapes(tmp_path: Path, text: str) -> None:
    names = [s.name for s in load_scenarios([write(tmp_path, text)])]
    assert names == re.findall(r"name: (\w+)", text)


# (file text, line, key, message fragment)
BROKEN = [
    ("name: a\nreply: {content: [unclosed\n", 3, "", "bad YAML"),
    (
        "name: a\nwhen:\n  modle: gpt-4o\n",
        3,
        "when.modle",
        "unknown condition 'modle' (did you mean 'model'?) (known: any_message, headers, json_path",
    ),
    ("- name: a\n- name: b\n  times: three\n", 3, "[1].times", "'three' is not of type 'integer'"),
    ("name: a\npriority: 1.5\n", 2, "priority", "is not of type 'integer'"),
    (
        "name: a\nwhen:\n  last_user_message:\n    regex: 'weather ('\n",
        4,
        "when.last_user_message.regex",
        "bad regex 'weather ('",
    ),
    ("name: a\nwhen:\n  model: {like: gpt}\n", 3, "when.model.like", "unknown lookup 'like'"),
    ("name: a\nwhen:\n  turn: {gt: many}\n", 3, "when.turn.gt", "'many' is not of type 'number'"),
    ("name: a\nreply:\n  content: '{{ city '\n", 3, "reply.content", "bad template syntax"),
    (
        "name: a\nreply:\n  content: '{{ citty }}'\n",
        3,
        "reply.content",
        "unknown template variable 'citty' (available: call, faker, headers, request",
    ),
    ("name: a\nreply:\n  contnet: hi\n", 3, "reply.contnet", "unknown key 'contnet'"),
    (
        "name: a\nreply:\n  tool_calls:\n    - {arguments: {}}\n",
        4,
        "reply.tool_calls[0]",
        "'name' is required",
    ),
    ("name: a\nreply:\n  error: {status: 200}\n", 3, "reply.error.status", "less than the minimum"),
    (
        "scenarios:\n  - name: a\n    sequence:\n"
        "      - content: x\n      - {timing: {chunk: words}}\n",
        5,
        "scenarios[0].sequence[1].timing.chunk",
        "'words' is not one of",
    ),
    ("name: a\nname: b\n", 2, "name", "duplicate key 'name' (first at line 1)"),
    ("- name: a\n- name: a\n", 2, "[1].name", "duplicate scenario name 'a' (also at"),
    ("name: a\nreply: {}\nsequence: [{}]\n", 3, "sequence", "either `reply` or `sequence`"),
    ("name: a\nconversation: {key: header}\n", 2, "conversation", "needs `header: <name>`"),
    (
        "name: a\nwhen:\n  last_user_message: {regex: '(?P<faker>x)'}\n",
        2,
        "when",
        "regex group name 'faker' is reserved",
    ),
    ("when: {model: x}\n", 1, "", "'name' is required"),
    ("42\n", None, "", "a scenario file holds a scenario"),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), BROKEN)
def test_broken_files_name_file_line_and_key(
    tmp_path: Path, text: str, line: int | None, key: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioLoadError) as info:
        load_scenarios([path])
    error = info.value
    assert (error.path, error.line, error.key) == (str(path), line, key)
    assert message in error.reason
    assert str(error).startswith(f"{path}:{line}" if line else f"{path}: ")


def test_large_batches_give_the_same_errors(tmp_path: Path) -> None:
    """Big files go through the fast schema check first; errors must not change."""
    good = "".join(f"- name: s{i}\n  reply: {{content: x}}\n" for i in range(60))
    path = write(tmp_path, good + "- name: bad\n  times: 0\n")
    with pytest.raises(ScenarioLoadError) as info:
        load_scenarios([path])
    assert (info.value.line, info.value.key) == (122, "[60].times")
    assert "less than the minimum of 1" in info.value.reason


def test_data_without_lines_names_source_and_key() -> None:
    with pytest.raises(ScenarioLoadError) as info:
        load_scenario_data({"name": "a", "when": {"stream": {"regex": "["}}}, "control API")
    assert str(info.value).startswith("control API: when.stream.regex: bad regex")


def test_yaml_string_data_has_lines() -> None:
    with pytest.raises(ScenarioLoadError) as info:
        load_scenario_data("name: a\ntimes: -1\n", "http")
    assert (info.value.path, info.value.line) == ("http", 2)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ScenarioLoadError, match="bad YAML"):
        load_scenarios([path])


def test_scenarios_are_frozen() -> None:
    (scenario,) = load_scenario_data({"name": "a"})
    with pytest.raises(AttributeError):
        scenario.name = "b"  # type: ignore[misc]


def test_every_shipped_scenario_file_loads() -> None:
    files = sorted(data_dir("scenarios").glob("*.yaml"))
    assert files
    for file in files:
        assert load_scenarios([file]), file
    assert check_paths([data_dir("scenarios")]) == []
    # No arguments: the built-in defaults, whose last resort matches anything.
    builtin = ScenarioSet(load_scenarios(None))
    assert run_now(builtin.resolve(RequestView({"messages": []}))).scenario_name == "default"


def _doc_examples() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)


def test_docs_have_examples() -> None:
    assert len(_doc_examples()) >= 20


@pytest.mark.parametrize("index", range(len(_doc_examples()) if DOCS.exists() else 0))
def test_doc_example_loads(index: int) -> None:
    assert load_scenario_data(_doc_examples()[index], f"docs/scenarios.md example {index}")


def test_docs_mention_every_condition_and_reply_key() -> None:
    import json

    text = DOCS.read_text(encoding="utf-8")
    schema = json.loads((data_dir("schemas") / "scenario.schema.json").read_text())
    keys = [
        *schema["$defs"]["when"]["properties"],
        *schema["$defs"]["reply"]["properties"],
        *schema["$defs"]["scenario"]["properties"],
    ]
    missing = [k for k in keys if f"`{k}`" not in text]
    assert missing == []


def test_check_paths_reports_each_broken_file(tmp_path: Path) -> None:
    write(tmp_path, "name: ok\n", "a.yaml")
    write(tmp_path, "name: bad\ntimes: x\n", "b.yaml")
    write(tmp_path, "name: ok\n", "c.yaml")
    problems = check_paths([tmp_path, tmp_path / "missing.yaml"])
    assert len(problems) == 3
    assert problems[0].startswith(f"{tmp_path / 'b.yaml'}:2")
    assert "duplicate scenario name 'ok'" in problems[1]
    assert "missing.yaml" in problems[2] and "no such file" in problems[2]


def test_watcher_reloads_changes_and_keeps_last_good_set(tmp_path: Path) -> None:
    path = write(
        tmp_path, "- {name: a, times: 1, reply: {content: a}}\n- {name: b, reply: {content: b1}}\n"
    )
    loader = ScenarioLoader()
    scenario_set = ScenarioSet(loader.load_paths([tmp_path]))
    watcher = ScenarioWatcher([tmp_path], loader)
    assert watcher.changed_files() == []
    view = RequestView({"messages": []})
    assert run_now(scenario_set.resolve(view)).scenario_name == "a"

    path.write_text(
        "- {name: a, times: 1, reply: {content: a}}\n- {name: b, reply: {content: b2}}\n"
    )
    os.utime(path, ns=(1, 1))  # mtime granularity must not hide the change
    assert watcher.changed_files() == [path]
    assert run_now(watcher.reload(scenario_set)) is None
    resolution = run_now(scenario_set.resolve(view))
    assert resolution.scenario_name == "b"  # `a` kept its use count
    assert resolution.render(None) == {"content": "b2"}

    path.write_text("- {name: a, times: oops}\n")
    error = run_now(watcher.reload(scenario_set))
    assert isinstance(error, ScenarioLoadError) and error.line == 1
    assert [s.name for s in scenario_set.scenarios] == ["a", "b"]

    new = write(tmp_path, "name: c\n", "c.yaml")
    path.unlink()
    assert set(watcher.changed_files()) == {path, new}


def test_watcher_sees_added_and_removed_files_and_survives_a_vanished_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    first = folder / "a.yaml"
    first.write_text("name: a\n")
    watcher = ScenarioWatcher([folder, tmp_path / "missing.yaml"])
    assert watcher.changed_files() == []
    second = folder / "b.yml"
    second.write_text("name: b\n")
    notes = folder / "notes.txt"
    notes.write_text("not a scenario")
    assert watcher.changed_files() == [second]
    first.unlink()
    assert watcher.changed_files() == [first]
    second.unlink()
    notes.unlink()
    folder.rmdir()
    assert watcher.changed_files() == [second]
    assert watcher.changed_files() == []
