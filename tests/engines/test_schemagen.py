"""The generated schemas stay in step with the DTO page, the overlay and the generator."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mockllm.errors import OverlayError, PageStructureError
from mockllm.resources import data_dir
from mockllm.schemagen import (
    OVERLAY_FILE,
    PAGE_FILE,
    check_schemas,
    generate_schemas,
    load_overlay,
    run,
    write_schemas,
)

SCHEMAS = data_dir("schemas")
SHARED_PAGE = Path("/work/shared/reference/chat-completion-api.md")
EXPECTED = {
    "ChatCompletion",
    "AiMessage",
    "AiContent",
    "ToolCall",
    "AiChatAudio",
    "AiResponseFormat",
    "Tool",
    "ChatResponse",
    "Choice",
    "ChoiceMessage",
    "ChoiceAnnotation",
    "UrlCitation",
    "ChoiceAudio",
    "AiUsage",
    "AiCompletionUsage",
    "AiPromptUsage",
    "ResponseStatus",
    "ResponseError",
}


@pytest.fixture(scope="module")
def page() -> str:
    return (SCHEMAS / PAGE_FILE).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def overlay() -> dict[str, Any]:
    return load_overlay(SCHEMAS / OVERLAY_FILE)


def test_the_shipped_schemas_are_what_the_generator_makes(
    page: str, overlay: dict[str, Any]
) -> None:
    schemas = generate_schemas(page, overlay)
    assert {name.removesuffix(".schema.json") for name in schemas} == EXPECTED
    assert check_schemas(SCHEMAS, schemas) == [], "run `mockllm schemas` and commit the result"


@pytest.mark.skipif(
    not SHARED_PAGE.exists(), reason="the shared reference page is not on this machine"
)
def test_the_repo_page_is_the_reference_page() -> None:
    assert (SCHEMAS / PAGE_FILE).read_bytes() == SHARED_PAGE.read_bytes()


def test_output_is_deterministic(page: str, overlay: dict[str, Any], tmp_path: Path) -> None:
    first = generate_schemas(page, overlay)
    assert generate_schemas(page, copy.deepcopy(overlay)) == first
    written = write_schemas(tmp_path, first)
    assert len(written) == len(first)
    assert write_schemas(tmp_path, first) == []  # same bytes: nothing rewritten
    text = (tmp_path / "ChatCompletion.schema.json").read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_schemas_are_draft7_with_ids_and_file_refs(page: str, overlay: dict[str, Any]) -> None:
    schemas = generate_schemas(page, overlay)
    refs: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for name, schema in schemas.items():
        assert schema["$id"] == name
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        collect(schema)
    assert refs and refs <= set(schemas)


def test_json_names_come_from_the_samples(page: str, overlay: dict[str, Any]) -> None:
    schemas = generate_schemas(page, overlay)
    # camelCase as the response sample spells it, not the snake_case conversion
    assert "responseStatus" in schemas["ChatResponse.schema.json"]["properties"]
    assert "max_completion_tokens" in schemas["ChatCompletion.schema.json"]["properties"]
    assert schemas["ChatCompletion.schema.json"]["additionalProperties"] is False


def test_check_and_run_report_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (PAGE_FILE, OVERLAY_FILE):
        (tmp_path / name).write_bytes((SCHEMAS / name).read_bytes())
    assert run(out=tmp_path, check=True) == 1  # nothing generated yet
    assert run(out=tmp_path) == 0
    assert run(out=tmp_path, check=True) == 0
    target = tmp_path / "AiMessage.schema.json"
    target.write_text(target.read_text().replace('"developer"', '"robot"'))
    capsys.readouterr()
    assert run(out=tmp_path, check=True) == 1
    assert "AiMessage.schema.json" in capsys.readouterr().out


# --- a small page of the same form, to test the rules and the structure checks


def _mini_page(
    *,
    description: str = "Valid Range: 5 - 9",
    extra_table: bool = False,
    route: bool = True,
    samples: bool = True,
) -> str:
    lines = []
    if route:
        lines += ["| POST | /v1/chat/completions |", "|---|"]
    lines += [
        "| Name | Parameter | Data Type | Required | Description |",
        "|---|---|---|---|---|",
        "| Items | body | List<Item> | Yes | The items. Up to 3 items. |",
        f"| Level | body | int? | No | A level.{description} |",
        "| Name | Parameter | Data Type | Required | Description |",
        "|---|---|---|---|---|",
        "| Kind | form | string | Yes | The kind. Must be one of a, b, or c. |",
        "| Name | Parameter | Data Type | Required | Description |",
        "|---|---|---|---|---|",
        "| Id | form | string | Yes | The id. |",
    ]
    if extra_table:
        lines += ["| Name | Value | |", "|---|---|---|", "| X | x | |"]
    if samples:
        lines += ['{"items":[{"kind":"String"}],"level":0}', '{"id":"String"}']
    return "\n".join(lines) + "\n"


MINI_OVERLAY = {"response_dto": {"name": "Reply", "reason": "not on the page"}, "entries": []}


def test_rules_read_the_constraints_stated_in_words() -> None:
    schemas = generate_schemas(_mini_page(), MINI_OVERLAY)
    request = schemas["ChatCompletion.schema.json"]["properties"]
    assert (request["level"]["minimum"], request["level"]["maximum"]) == (5, 9)
    assert request["level"]["type"] == ["integer", "null"]
    assert request["items"]["maxItems"] == 3
    assert schemas["Item.schema.json"]["properties"]["kind"]["enum"] == ["a", "b", "c"]
    assert schemas["Reply.schema.json"]["required"] == ["id"]


def test_an_open_range_has_no_maximum() -> None:
    schemas = generate_schemas(_mini_page(description="Valid Range: 1 - "), MINI_OVERLAY)
    level = schemas["ChatCompletion.schema.json"]["properties"]["level"]
    assert level["minimum"] == 1 and "maximum" not in level


def test_two_different_ranges_must_be_settled_by_the_overlay() -> None:
    page = _mini_page(description="Between `-2.0` and `2.0`, between -2 and 2.Valid Range: 0 - 2")
    with pytest.raises(OverlayError, match=r"ChatCompletion\.level"):
        generate_schemas(page, MINI_OVERLAY)
    settled = {
        **MINI_OVERLAY,
        "entries": [
            {
                "schema": "ChatCompletion",
                "property": "level",
                "set": {"minimum": -2},
                "reason": "why",
            }
        ],
    }
    level = generate_schemas(page, settled)["ChatCompletion.schema.json"]["properties"]["level"]
    assert (level["minimum"], level["maximum"]) == (-2, 2)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda p: p.replace(
                "| Kind | form | string | Yes | The kind. Must be one of a, b, or c. |\n", ""
            ).replace(
                "| Name | Parameter | Data Type | Required | Description |\n|---|---|---|---|---|\n"
                "| Id |",
                "| Id |",
            ),
            r"table",
        ),
        (lambda p: _mini_page(extra_table=True), r"left over"),
        (lambda p: _mini_page(route=False), r"route line"),
        (lambda p: _mini_page(samples=False), r"sample"),
        (
            lambda p: "Some text\n" + p.replace("|---|\n", "|---|\nintro\n", 1),
            r"does not follow the route",
        ),
        (
            lambda p: p.replace('{"items":[{"kind":"String"}]', '{"items":[{"id":"String"}]'),
            r"not in the expected order",
        ),
        (
            lambda p: p.replace(
                "| Kind | form | string | Yes |", "| Kind | form | string | Maybe |"
            ),
            r"Required",
        ),
        (lambda p: p.replace("| A level.", "| A level. | extra |"), r"cells"),
    ],
    ids=[
        "missing-table",
        "extra-table",
        "no-route",
        "no-samples",
        "text-before-first-table",
        "tables-out-of-order",
        "bad-required",
        "too-many-cells",
    ],
)
def test_a_broken_page_fails_loudly(mutate: Any, message: str) -> None:
    with pytest.raises(PageStructureError, match=message):
        generate_schemas(mutate(_mini_page()), MINI_OVERLAY)


def test_every_overlay_entry_has_a_reason(overlay: dict[str, Any]) -> None:
    assert overlay["response_dto"]["reason"].strip()
    for entry in overlay["entries"]:
        assert isinstance(entry.get("reason"), str) and entry["reason"].strip(), entry


@pytest.mark.parametrize(
    "entry",
    [
        {"schema": "ChatCompletion", "property": "n", "set": {"minimum": 1}},
        {"schema": "ChatCompletion", "property": "n", "set": {"minimum": 1}, "reason": "  "},
        {
            "schema": "ChatCompletion",
            "property": "n",
            "set": {},
            "replace": {},
            "reason": "two ops",
        },
        {"schema": "Nope", "property": "n", "set": {}, "reason": "unknown schema"},
        {"schema": "ChatCompletion", "property": "nope", "set": {}, "reason": "unknown property"},
        {"schema": "ChatCompletion", "property": "model", "define": {}, "reason": "already there"},
    ],
    ids=[
        "no-reason",
        "blank-reason",
        "two-operations",
        "unknown-schema",
        "unknown-property",
        "define-existing",
    ],
)
def test_a_bad_overlay_entry_is_refused(
    page: str, overlay: dict[str, Any], entry: dict[str, Any]
) -> None:
    broken = {**overlay, "entries": [*overlay["entries"], entry]}
    with pytest.raises(OverlayError):
        generate_schemas(page, broken)


def test_the_page_contradiction_needs_the_overlay(page: str, overlay: dict[str, Any]) -> None:
    entries = [e for e in overlay["entries"] if e.get("property") != "frequency_penalty"]
    with pytest.raises(OverlayError, match="frequency_penalty"):
        generate_schemas(page, {**overlay, "entries": entries})


def test_a_table_missing_from_the_real_page_is_caught(page: str, overlay: dict[str, Any]) -> None:
    content_table = (
        "| Name | Parameter | Data Type | Required | Description |\n|---|---|---|---|---|\n"
        "| Type | form | string | Yes | The type of the content part. |\n"
    )
    assert content_table in page
    with pytest.raises(PageStructureError, match="ToolCall .* does not fit the sample"):
        generate_schemas(page.replace(content_table, ""), overlay)
