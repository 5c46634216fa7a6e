"""Request and reply validation: every documented constraint, both paths, the error fields."""

from __future__ import annotations

import importlib
import importlib.util
import json
from typing import Any

import pytest
from jsonschema import Draft7Validator

from mockllm.config import ValidationMode
from mockllm.schemaset import SchemaSet
from mockllm.validation import RequestValidator, ResponseValidator, validate_response

DROP = object()
BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def body(**changes: Any) -> dict[str, Any]:
    out = {**BASE, **changes}
    return {k: v for k, v in out.items() if v is not DROP}


def msgs(*messages: dict[str, Any]) -> dict[str, Any]:
    return body(messages=list(messages))


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
AUDIO = {"format": "wav", "voice": "alloy"}

# (id, body, expected) with expected None for a valid body, else the ONE error expected as
# (field_name, param, error_code, code).
CASES: list[tuple[str, dict[str, Any], tuple[str, str, str, str] | None]] = [
    # temperature: Valid Range 0 - 2
    ("temperature-0", body(temperature=0), None),
    ("temperature-2", body(temperature=2), None),
    ("temperature-null", body(temperature=None), None),
    (
        "temperature-high",
        body(temperature=2.1),
        ("Temperature", "temperature", "InclusiveBetween", "decimal_above_max_value"),
    ),
    (
        "temperature-low",
        body(temperature=-0.1),
        ("Temperature", "temperature", "InclusiveBetween", "decimal_below_min_value"),
    ),
    (
        "temperature-type",
        body(temperature="hot"),
        ("Temperature", "temperature", "InvalidType", "invalid_type"),
    ),
    # top_p: Valid Range 0 - 1
    ("top_p-1", body(top_p=1), None),
    (
        "top_p-high",
        body(top_p=1.5),
        ("TopP", "top_p", "InclusiveBetween", "decimal_above_max_value"),
    ),
    # penalties: the page contradicts itself; the overlay settles on -2..2
    ("frequency-neg", body(frequency_penalty=-1.5), None),
    (
        "frequency-low",
        body(frequency_penalty=-2.5),
        ("FrequencyPenalty", "frequency_penalty", "InclusiveBetween", "decimal_below_min_value"),
    ),
    ("presence-2", body(presence_penalty=2), None),
    (
        "presence-high",
        body(presence_penalty=3),
        ("PresencePenalty", "presence_penalty", "InclusiveBetween", "decimal_above_max_value"),
    ),
    # top_logprobs 0 - 20, and logprobs must be true
    ("top_logprobs-ok", body(top_logprobs=5, logprobs=True), None),
    ("top_logprobs-null", body(top_logprobs=None), None),
    (
        "top_logprobs-high",
        body(top_logprobs=21, logprobs=True),
        ("TopLogprobs", "top_logprobs", "InclusiveBetween", "integer_above_max_value"),
    ),
    (
        "top_logprobs-needs-logprobs",
        body(top_logprobs=5),
        ("Logprobs", "logprobs", "NotNull", "missing_required_parameter"),
    ),
    (
        "top_logprobs-logprobs-false",
        body(top_logprobs=5, logprobs=False),
        ("Logprobs", "logprobs", "Equal", "invalid_value"),
    ),
    # max_completion_tokens: Valid Range 1 -
    ("max_completion-1", body(max_completion_tokens=1), None),
    ("max_completion-big", body(max_completion_tokens=10**6), None),
    (
        "max_completion-0",
        body(max_completion_tokens=0),
        (
            "MaxCompletionTokens",
            "max_completion_tokens",
            "GreaterThanOrEqual",
            "integer_below_min_value",
        ),
    ),
    (
        "max_completion-float",
        body(max_completion_tokens=1.5),
        ("MaxCompletionTokens", "max_completion_tokens", "InvalidType", "invalid_type"),
    ),
    ("max_tokens-ok", body(max_tokens=100), None),
    (
        "max_tokens-0",
        body(max_tokens=0),
        ("MaxTokens", "max_tokens", "GreaterThanOrEqual", "integer_below_min_value"),
    ),
    # n >= 1, <= 128
    ("n-1", body(n=1), None),
    ("n-128", body(n=128), None),
    ("n-0", body(n=0), ("N", "n", "InclusiveBetween", "integer_below_min_value")),
    ("n-129", body(n=129), ("N", "n", "InclusiveBetween", "integer_above_max_value")),
    # stop: "Up to 4", or a single string
    ("stop-string", body(stop="END"), None),
    ("stop-4", body(stop=["a", "b", "c", "d"]), None),
    (
        "stop-5",
        body(stop=["a", "b", "c", "d", "e"]),
        ("Stop", "stop", "MaximumLength", "array_above_max_length"),
    ),
    ("stop-item-type", body(stop=[1]), ("Stop[0]", "stop[0]", "InvalidType", "invalid_type")),
    # tools: "A max of 128", OpenAI function definitions
    ("tools-128", body(tools=[TOOL] * 128), None),
    (
        "tools-129",
        body(tools=[TOOL] * 129),
        ("Tools", "tools", "MaximumLength", "array_above_max_length"),
    ),
    (
        "tools-no-function",
        body(tools=[{"type": "function"}]),
        ("Tools[0].Function", "tools[0].function", "NotNull", "missing_required_parameter"),
    ),
    (
        "tools-bad-name",
        body(tools=[{"type": "function", "function": {"name": "get weather!"}}]),
        ("Tools[0].Function.Name", "tools[0].function.name", "RegularExpression", "invalid_value"),
    ),
    (
        "tools-type",
        body(tools=[{"type": "browser", "function": {"name": "f"}}]),
        ("Tools[0].Type", "tools[0].type", "Enum", "invalid_value"),
    ),
    # metadata: "Set of 16 key-value pairs", keys <= 64, values <= 512
    ("metadata-16", body(metadata={f"k{i}": "v" for i in range(16)}), None),
    (
        "metadata-17",
        body(metadata={f"k{i}": "v" for i in range(17)}),
        ("Metadata", "metadata", "MaximumLength", "object_above_max_length"),
    ),
    (
        "metadata-long-value",
        body(metadata={"k": "v" * 513}),
        ("Metadata[k]", "metadata.k", "MaximumLength", "string_above_max_length"),
    ),
    (
        "metadata-long-key",
        body(metadata={"k" * 65: "v"}),
        (
            f"Metadata[{'k' * 65}]",
            f"metadata.{'k' * 65}",
            "MaximumLength",
            "string_above_max_length",
        ),
    ),
    (
        "metadata-value-type",
        body(metadata={"k": 1}),
        ("Metadata[k]", "metadata.k", "InvalidType", "invalid_type"),
    ),
    # logit_bias: token ids (digit strings) -> -100..100
    ("logit_bias-ok", body(logit_bias={"50256": -100}), None),
    (
        "logit_bias-high",
        body(logit_bias={"50256": 101}),
        ("LogitBias[50256]", "logit_bias.50256", "InclusiveBetween", "integer_above_max_value"),
    ),
    (
        "logit_bias-key",
        body(logit_bias={"abc": 1}),
        ("LogitBias[abc]", "logit_bias.abc", "RegularExpression", "invalid_value"),
    ),
    # audio: "Must be one of wav, mp3, flac, opus, or pcm16" (+aac), voices (+verse..., {id})
    ("audio-ok", body(audio=AUDIO), None),
    ("audio-aac-verse", body(audio={"format": "aac", "voice": "verse"}), None),
    ("audio-voice-id", body(audio={"format": "mp3", "voice": {"id": "voice_123"}}), None),
    (
        "audio-format",
        body(audio={"format": "ogg", "voice": "alloy"}),
        ("Audio.Format", "audio.format", "Enum", "invalid_value"),
    ),
    (
        "audio-voice",
        body(audio={"format": "wav", "voice": "robot"}),
        ("Audio.Voice", "audio.voice", "Enum", "invalid_value"),
    ),
    (
        "audio-voice-missing",
        body(audio={"format": "wav"}),
        ("Audio.Voice", "audio.voice", "NotNull", "missing_required_parameter"),
    ),
    ("audio-type", body(audio="wav"), ("Audio", "audio", "InvalidType", "invalid_type")),
    # audio required with modalities: [audio]
    ("modalities-audio", body(modalities=["text", "audio"], audio=AUDIO), None),
    ("modalities-text", body(modalities=["text"]), None),
    (
        "modalities-audio-missing",
        body(modalities=["text", "audio"]),
        ("Audio", "audio", "NotNull", "missing_required_parameter"),
    ),
    (
        "modalities-audio-null",
        body(modalities=["audio"], audio=None),
        ("Audio", "audio", "NotNull", "invalid_value"),
    ),
    (
        "modalities-value",
        body(modalities=["video"]),
        ("Modalities[0]", "modalities[0]", "Enum", "invalid_value"),
    ),
    # roles (developer from the overlay)
    ("role-developer", msgs({"role": "developer", "content": "Be brief"}, user("Hi")), None),
    ("role-system", msgs({"role": "system", "content": "Be brief"}, user("Hi")), None),
    (
        "role-robot",
        msgs({"role": "robot", "content": "x"}),
        ("Messages[0].Role", "messages[0].role", "Enum", "invalid_value"),
    ),
    (
        "role-missing",
        msgs({"content": "x"}),
        ("Messages[0].Role", "messages[0].role", "NotNull", "missing_required_parameter"),
    ),
    # tool messages need tool_call_id
    (
        "tool-message",
        msgs(
            user("Hi"),
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ),
        None,
    ),
    (
        "tool-message-no-id",
        msgs({"role": "tool", "content": "sunny"}),
        (
            "Messages[0].ToolCallId",
            "messages[0].tool_call_id",
            "NotNull",
            "missing_required_parameter",
        ),
    ),
    # content: string, parts, part types
    (
        "content-parts",
        msgs(
            user(
                [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                ]
            )
        ),
        None,
    ),
    (
        "content-audio-part",
        msgs(user([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])),
        None,
    ),
    (
        "content-file-part",
        msgs(
            user(
                [
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:application/pdf;base64,AA",
                            "filename": "a.pdf",
                        },
                    }
                ]
            )
        ),
        None,
    ),
    (
        "content-null-assistant",
        msgs(user("Hi"), {"role": "assistant", "content": None, "tool_calls": [CALL]}),
        None,
    ),
    (
        "content-part-type",
        msgs(user([{"type": "video", "video": {}}])),
        ("Messages[0].Content[0].Type", "messages[0].content[0].type", "Enum", "invalid_value"),
    ),
    (
        "content-text-missing",
        msgs(user([{"type": "text"}])),
        (
            "Messages[0].Content[0].Text",
            "messages[0].content[0].text",
            "NotNull",
            "missing_required_parameter",
        ),
    ),
    (
        "content-image-url-missing",
        msgs(user([{"type": "image_url", "image_url": {}}])),
        (
            "Messages[0].Content[0].ImageUrl.Url",
            "messages[0].content[0].image_url.url",
            "NotNull",
            "missing_required_parameter",
        ),
    ),
    (
        "content-type",
        msgs(user(5)),
        ("Messages[0].Content", "messages[0].content", "InvalidType", "invalid_type"),
    ),
    # tool calls in assistant messages: OpenAI object, legacy string
    (
        "toolcall-legacy-string",
        msgs(
            user("Hi"),
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "type": "function", "function": '{"name":"f"}'}],
            },
        ),
        None,
    ),
    (
        "toolcall-name-type",
        msgs(
            user("Hi"),
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": 1, "arguments": "{}"}}
                ],
            },
        ),
        (
            "Messages[1].ToolCalls[0].Function.Name",
            "messages[1].tool_calls[0].function.name",
            "InvalidType",
            "invalid_type",
        ),
    ),
    # response_format: OpenAI forms and the page's legacy form
    ("response_format-text", body(response_format={"type": "text"}), None),
    ("response_format-json_object", body(response_format={"type": "json_object"}), None),
    (
        "response_format-json_schema",
        body(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            }
        ),
        None,
    ),
    ("response_format-legacy", body(response_format={"response_format": "json_object"}), None),
    (
        "response_format-type",
        body(response_format={"type": "xml"}),
        ("ResponseFormat.Type", "response_format.type", "Enum", "invalid_value"),
    ),
    (
        "response_format-no-schema",
        body(response_format={"type": "json_schema"}),
        (
            "ResponseFormat.JsonSchema",
            "response_format.json_schema",
            "NotNull",
            "missing_required_parameter",
        ),
    ),
    (
        "response_format-empty",
        body(response_format={}),
        ("ResponseFormat.Type", "response_format.type", "NotNull", "missing_required_parameter"),
    ),
    (
        "response_format-string",
        body(response_format="json"),
        ("ResponseFormat", "response_format", "InvalidType", "invalid_type"),
    ),
    # tool_choice forms
    ("tool_choice-auto", body(tool_choice="auto", tools=[TOOL]), None),
    ("tool_choice-required", body(tool_choice="required", tools=[TOOL]), None),
    (
        "tool_choice-named",
        body(tool_choice={"type": "function", "function": {"name": "get_weather"}}, tools=[TOOL]),
        None,
    ),
    (
        "tool_choice-word",
        body(tool_choice="sometimes"),
        ("ToolChoice", "tool_choice", "Enum", "invalid_value"),
    ),
    (
        "tool_choice-no-function",
        body(tool_choice={"type": "function"}),
        ("ToolChoice.Function", "tool_choice.function", "NotNull", "missing_required_parameter"),
    ),
    (
        "tool_choice-type",
        body(tool_choice=5),
        ("ToolChoice", "tool_choice", "InvalidType", "invalid_type"),
    ),
    # other enums
    ("reasoning_effort-xhigh", body(reasoning_effort="xhigh"), None),
    (
        "reasoning_effort-bad",
        body(reasoning_effort="extreme"),
        ("ReasoningEffort", "reasoning_effort", "Enum", "invalid_value"),
    ),
    ("service_tier-flex", body(service_tier="flex"), None),
    (
        "service_tier-bad",
        body(service_tier="turbo"),
        ("ServiceTier", "service_tier", "Enum", "invalid_value"),
    ),
    ("verbosity-bad", body(verbosity="loud"), ("Verbosity", "verbosity", "Enum", "invalid_value")),
    ("stream_options-ok", body(stream=True, stream_options={"include_usage": True}), None),
    (
        "stream_options-type",
        body(stream_options={"include_usage": "yes"}),
        (
            "StreamOptions.IncludeUsage",
            "stream_options.include_usage",
            "InvalidType",
            "invalid_type",
        ),
    ),
    # unknown fields (strict) and wrong types
    (
        "unknown-field",
        body(temprature=1),
        ("Temprature", "temprature", "UnknownField", "unknown_parameter"),
    ),
    ("model-type", body(model=5), ("Model", "model", "InvalidType", "invalid_type")),
    (
        "model-missing",
        body(model=DROP),
        ("Model", "model", "NotNull", "missing_required_parameter"),
    ),
    ("messages-type", body(messages="Hi"), ("Messages", "messages", "InvalidType", "invalid_type")),
    ("messages-empty", body(messages=[]), ("Messages", "messages", "NotEmpty", "empty_array")),
    (
        "messages-missing",
        body(messages=DROP),
        ("Messages", "messages", "NotNull", "missing_required_parameter"),
    ),
    ("stream-type", body(stream="true"), ("Stream", "stream", "InvalidType", "invalid_type")),
    ("seed-type", body(seed=1.5), ("Seed", "seed", "InvalidType", "invalid_type")),
    ("bool-is-not-int", body(n=True), ("N", "n", "InvalidType", "invalid_type")),
]


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load()


@pytest.fixture(scope="module")
def strict(schemas: SchemaSet) -> RequestValidator:
    return RequestValidator(schemas, ValidationMode.STRICT)


@pytest.mark.parametrize(("case", "request_body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_documented_constraints(
    strict: RequestValidator,
    case: str,
    request_body: dict[str, Any],
    expected: tuple[str, str, str, str] | None,
) -> None:
    errors = strict.validate(request_body)
    if expected is None:
        assert errors == []
        return
    got = [(e.field_name, e.param, e.error_code, e.code) for e in errors]
    assert got == [expected]
    # the message names the field: DTO path, JSON name, or (for dictionary keys) the DTO field
    top, leaf = expected[0].split(".")[0].split("[")[0], expected[1].split(".")[-1].split("[")[0]
    assert any(f"'{name}" in errors[0].message for name in (expected[0], leaf, top))


@pytest.mark.parametrize(("case", "request_body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fast_and_detailed_paths_agree(
    schemas: SchemaSet, case: str, request_body: dict[str, Any], expected: Any
) -> None:
    for lenient, fast in (
        (False, schemas.fast_request_strict),
        (True, schemas.fast_request_lenient),
    ):
        detailed = Draft7Validator(
            schemas.request_schema(lenient=lenient), registry=schemas.registry
        )
        assert fast.is_valid(request_body) == detailed.is_valid(request_body), (case, lenient)


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (body(temperature=3), "'Temperature' must be between 0 and 2. You entered 3."),
        (
            msgs({"role": "robot", "content": "x"}),
            "'Messages[0].Role' must be one of system, user, assistant, tool, developer."
            " You entered 'robot'.",
        ),
        (body(temprature=1), "'temprature' is not a known field of ChatCompletion."),
        (body(n=0), "'N' must be between 1 and 128. You entered 0."),
        (body(stop=list("abcde")), "'Stop' must have at most 4 items. You entered 5 items."),
        (body(top_logprobs=2), "'logprobs' must be true when 'top_logprobs' is used."),
        (body(tool_choice=5), "'ToolChoice' must be a string or an object. You entered 5."),
    ],
)
def test_messages_name_the_field_and_the_problem(
    strict: RequestValidator, request_body: dict[str, Any], message: str
) -> None:
    assert [e.message for e in strict.validate(request_body)] == [message]


def test_all_problems_are_reported_at_once_in_document_order(strict: RequestValidator) -> None:
    request_body = {
        "messages": [{"role": "robot", "content": "x"}, {"role": "tool", "content": "y"}],
        "temperature": 3,
        "temprature": 1,
        "n": "two",
    }  # and model is missing
    names = [e.field_name for e in strict.validate(request_body)]
    assert names == [
        "Messages[0].Role",
        "Messages[1].ToolCallId",
        "Temperature",
        "Temprature",
        "N",
        "Model",
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (ValidationMode.STRICT, ["Temprature"]),
        (ValidationMode.LENIENT, []),
        (ValidationMode.OFF, []),
    ],
)
def test_unknown_fields_by_mode(
    schemas: SchemaSet, mode: ValidationMode, expected: list[str]
) -> None:
    validator = RequestValidator(schemas, mode)
    assert [e.field_name for e in validator.validate(body(temprature=1))] == expected


def test_lenient_still_checks_known_fields(schemas: SchemaSet) -> None:
    validator = RequestValidator(schemas, ValidationMode.LENIENT)
    errors = validator.validate(body(temprature=1, temperature=5))
    assert [(e.field_name, e.error_code) for e in errors] == [("Temperature", "InclusiveBetween")]


def structured(schema: Any) -> dict[str, Any]:
    return body(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )


@pytest.mark.parametrize(
    ("schema", "context"),
    [
        ({"type": "bogus"}, "In context=('type',), 'bogus' is not valid under any of the given"),
        (
            {"type": "object", "properties": {"a": {"type": "strin"}}},
            "In context=('properties', 'a', 'type'), 'strin' is not valid",
        ),
        ({"type": "object", "required": "a"}, "In context=('required',), 'a' is not of type"),
        # The $schema it names decides the metaschema.
        (
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "minProperties": -1,
            },
            "In context=('minProperties',), -1 is less than the minimum",
        ),
    ],
)
@pytest.mark.parametrize("mode", [ValidationMode.STRICT, ValidationMode.LENIENT])
def test_a_json_schema_that_is_not_a_json_schema_is_refused(
    schemas: SchemaSet, mode: ValidationMode, schema: dict[str, Any], context: str
) -> None:
    # Before: accepted, and the reply's content was "null".
    [error] = RequestValidator(schemas, mode).validate(structured(schema))
    assert (error.field_name, error.param, error.error_code, error.code) == (
        "ResponseFormat.JsonSchema.Schema",
        "response_format.json_schema.schema",
        "Predicate",
        "invalid_json_schema",
    )
    assert error.message.startswith(f"Invalid schema for response_format 'x': {context}")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object"},
        {
            "type": "object",
            "properties": {"a": {"type": ["string", "null"]}},
            "required": ["a"],
            "additionalProperties": False,
        },
        {"$defs": {"n": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/$defs/n"}},
    ],
)
def test_valid_json_schemas_pass(strict: RequestValidator, schema: dict[str, Any]) -> None:
    assert strict.validate(structured(schema)) == []
    assert strict.validate(structured(schema)) == []  # the remembered verdict


def test_off_does_not_check_the_json_schema_either(schemas: SchemaSet) -> None:
    validator = RequestValidator(schemas, ValidationMode.OFF)
    assert validator.validate(structured({"type": "bogus"})) == []


def test_off_checks_nothing(schemas: SchemaSet) -> None:
    assert RequestValidator(schemas, ValidationMode.OFF).validate({"model": 5}) == []


def _sdk_body(**kwargs: Any) -> dict[str, Any]:
    """The JSON body the openai SDK really sends for ``chat.completions.create(**kwargs)``."""
    import openai

    # The HTTP client the installed SDK is built on (httpx2 in openai 3.x, httpx before).
    httpx: Any = next(
        (
            importlib.import_module(name)
            for name in ("httpx2", "httpx")
            if importlib.util.find_spec(name)
        ),
        None,
    )
    assert httpx is not None, "the openai SDK ships with an httpx-style client"
    seen: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        seen.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": "ok", "refusal": None},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client.chat.completions.create(**kwargs)
    return seen[0]


def test_a_realistic_openai_sdk_body_validates(strict: RequestValidator) -> None:
    sent = _sdk_body(
        model="gpt-4o",
        messages=[
            {"role": "developer", "content": "You are a weather bot."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the weather where this photo was taken?"},
                    {
                        "type": "image_url",
                        "image_url": {
                            "url": "data:image/png;base64,iVBORw0KGgo=",
                            "detail": "auto",
                        },
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc", "content": '{"temp_c": 21}'},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "strict": True,
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                },
            }
        ],
        tool_choice="auto",
        parallel_tool_calls=True,
        temperature=0.2,
        max_completion_tokens=300,
        stop=["\n\n"],
        seed=7,
        metadata={"suite": "weather"},
        logprobs=True,
        top_logprobs=2,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}},
        },
        user="u-1",
    )
    assert sent["messages"][1]["content"][1]["type"] == "image_url"
    assert strict.validate(sent) == []


REPLY: dict[str, Any] = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"location":"Boston, MA"}',
                        },
                    }
                ],
            },
        },
        {
            "index": 1,
            "finish_reason": "stop",
            "logprobs": {
                "content": [
                    {
                        "token": "Hi",
                        "logprob": -0.3,
                        "bytes": [72, 105],
                        "top_logprobs": [{"token": "Hi", "logprob": -0.3, "bytes": [72, 105]}],
                    }
                ],
                "refusal": None,
            },
            "message": {
                "role": "assistant",
                "content": "Hi",
                "reasoning": "short",
                "annotations": [
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "start_index": 0,
                            "end_index": 2,
                            "title": "Hi",
                            "url": "https://example.com",
                        },
                    }
                ],
                "audio": {
                    "id": "audio_1",
                    "data": "UklGRg==",
                    "expires_at": 1700000000,
                    "transcript": "Hi",
                },
            },
        },
    ],
    "usage": {
        "prompt_tokens": 82,
        "completion_tokens": 17,
        "total_tokens": 99,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
}


def test_real_replies_validate(schemas: SchemaSet) -> None:
    assert ResponseValidator(schemas).validate(REPLY) == []
    refusal = {
        **REPLY,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": "I can't help with that.",
                },
            }
        ],
    }
    assert validate_response(schemas, refusal) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"choices": DROP}, ("Choices", "NotNull")),
        ({"object": "chat.completion.chunk"}, ("Object", "Enum")),
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "done",
                        "message": {"role": "assistant", "content": "x"},
                    }
                ]
            },
            ("Choices[0].FinishReason", "Enum"),
        ),
        (
            {
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": "x",
                            "tool_calls": [{"id": "c", "type": "function"}],
                        },
                    }
                ]
            },
            ("Choices[0].Message.ToolCalls[0].Function", "NotNull"),
        ),
        ({"usage": {"prompt_tokens": 1}}, ("Usage.CompletionTokens", "NotNull")),
    ],
)
def test_broken_replies_are_named(
    schemas: SchemaSet, change: dict[str, Any], expected: tuple[str, str]
) -> None:
    reply = {k: v for k, v in {**REPLY, **change}.items() if v is not DROP}
    errors = ResponseValidator(schemas).validate(reply)
    assert (errors[0].field_name, errors[0].error_code) == expected


def test_a_body_that_is_not_an_object_is_named_after_the_dto(strict: RequestValidator) -> None:
    errors = strict.validate(["not", "an", "object"])
    assert [(e.field_name, e.param, e.error_code) for e in errors] == [
        ("ChatCompletion", "", "InvalidType")
    ]


@pytest.fixture(scope="module")
def generator() -> Any:
    from faker import Faker

    from mockllm.reply_engine.generate import Generator

    return Generator(Faker())


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.mark.parametrize(
    ("changes", "reply"),
    [
        ({}, None),
        ({"n": 3, "logprobs": True, "top_logprobs": 2}, None),
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, None),
        ({"modalities": ["text", "audio"], "audio": {"format": "wav", "voice": "alloy"}}, None),
        ({"reasoning_effort": "high", "max_completion_tokens": 5}, None),
        ({"response_format": {"type": "json_object"}}, None),
        ({}, {"refusal": "I can't help with that."}),
        ({}, {"annotations": 2}),
    ],
)
def test_mockllm_replies_fit_the_response_schema(
    schemas: SchemaSet,
    strict: RequestValidator,
    generator: Any,
    changes: dict[str, Any],
    reply: dict[str, Any] | None,
) -> None:
    request_body = body(**changes)
    assert strict.validate(request_body) == []
    generated = generator.generate(request_body, reply, seed=3, created=1_700_000_000)
    assert ResponseValidator(schemas).validate(generated) == []


# --- ServiceStack binds DTO properties case-insensitively: camelCase and PascalCase keys

SNAKE = {
    "model": "gpt-4o",
    "messages": [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y"}}]},
    ],
    "max_completion_tokens": 5,
    "top_logprobs": 2,
    "logprobs": True,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object", "additionalProperties": False}},
    },
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    # open objects (a JSON schema, metadata) keep their keys as sent
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"cityName": {}}},
            },
        }
    ],
    "stream_options": {"include_usage": True},
    "stream": True,
    "metadata": {"traceId": "t"},
}
_OPEN = frozenset({"parameters", "schema", "metadata"})


def _spelt(node: Any, *, pascal: bool) -> Any:
    """``node`` with its DTO keys in camelCase (``toolCallId``) or PascalCase (``ToolCallId``)."""
    if isinstance(node, list):
        return [_spelt(item, pascal=pascal) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        words = key.split("_")
        first = words[0].capitalize() if pascal else words[0]
        out[first + "".join(w.capitalize() for w in words[1:])] = (
            value if key in _OPEN else _spelt(value, pascal=pascal)
        )
    return out


@pytest.mark.parametrize("mode", list(ValidationMode))
@pytest.mark.parametrize(
    "spelt",
    [_spelt(SNAKE, pascal=False), _spelt(SNAKE, pascal=True)],
    ids=["camelCase", "PascalCase"],
)
def test_other_spellings_bind_to_the_canonical_body(
    schemas: SchemaSet, mode: ValidationMode, spelt: dict[str, Any]
) -> None:
    sent = json.loads(json.dumps(spelt))
    assert RequestValidator(schemas, mode).validate(sent) == []
    assert sent == SNAKE
    assert list(sent) == list(SNAKE)  # renamed in place, in the order sent


def test_a_snake_case_body_is_left_alone(strict: RequestValidator) -> None:
    sent = json.loads(json.dumps(SNAKE))
    messages = sent["messages"]
    assert strict.validate(sent) == []
    assert sent == SNAKE and sent["messages"] is messages


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        (
            body(topLogprobs=50, logprobs=True),
            (
                "TopLogprobs",
                "top_logprobs",
                "InclusiveBetween",
                "'TopLogprobs' must be between 0 and 20. You entered 50.",
            ),
        ),
        (
            body(MaxCompletionTokens=0),
            (
                "MaxCompletionTokens",
                "max_completion_tokens",
                "GreaterThanOrEqual",
                "'MaxCompletionTokens' must be greater than or equal to 1. You entered 0.",
            ),
        ),
        (
            body(toolChoice=5),
            (
                "ToolChoice",
                "tool_choice",
                "InvalidType",
                "'ToolChoice' must be a string or an object. You entered 5.",
            ),
        ),
        (
            msgs({"Role": "tool", "Content": "x"}),
            (
                "Messages[0].ToolCallId",
                "messages[0].tool_call_id",
                "NotNull",
                "'tool_call_id' is required when 'role' is 'tool'.",
            ),
        ),
        (
            body(responseFormat={"Type": "json_schema"}),
            (
                "ResponseFormat.JsonSchema",
                "response_format.json_schema",
                "NotNull",
                "'ResponseFormat.JsonSchema' is required.",
            ),
        ),
        (
            body(topLogprobz=2),
            (
                "TopLogprobz",
                "topLogprobz",
                "UnknownField",
                "'topLogprobz' is not a known field of ChatCompletion.",
            ),
        ),
        (
            body(top_logprobs=2, topLogprobs=3, logprobs=True),
            (
                "TopLogprobs",
                "top_logprobs",
                "DuplicateField",
                "'TopLogprobs' is sent twice, as 'topLogprobs' and 'top_logprobs'; send it once.",
            ),
        ),
        (
            msgs(
                user("a"), {"role": "tool", "tool_call_id": "a", "ToolCallId": "b", "content": "x"}
            ),
            (
                "Messages[1].ToolCallId",
                "messages[1].tool_call_id",
                "DuplicateField",
                "'Messages[1].ToolCallId' is sent twice, as 'ToolCallId' and 'tool_call_id'; "
                "send it once.",
            ),
        ),
    ],
    ids=[
        "range",
        "minimum",
        "type",
        "nested-required",
        "nested-dto",
        "unknown",
        "twice",
        "twice-nested",
    ],
)
def test_other_spellings_get_the_same_validation_and_dto_names(
    strict: RequestValidator, request_body: dict[str, Any], expected: tuple[str, ...]
) -> None:
    errors = strict.validate(request_body)
    assert [(e.field_name, e.param, e.error_code, e.message) for e in errors] == [expected]


def test_a_valid_body_sent_again_is_not_checked_again(schemas: SchemaSet) -> None:
    validator = RequestValidator(schemas, ValidationMode.STRICT, remember=2)
    checked: list[Any] = []
    real = validator._checker.check  # type: ignore[union-attr]
    validator._checker.check = lambda body: checked.append(body) or real(body)  # type: ignore

    def send(body: dict[str, Any]) -> list[Any]:
        raw = json.dumps(body).encode()
        return validator.validate(json.loads(raw), raw)

    good = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    camel = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "topLogprobs": 2,
        "logprobs": True,
    }
    bad = {"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]}
    bound: list[Any] = []
    binder = validator._binder

    class Counting:
        def bind(self, body: Any) -> bool:
            bound.append(body)
            return binder.bind(body)

    validator._binder = Counting()  # type: ignore[assignment]
    assert send(good) == [] and send(good) == []
    assert len(checked) == 1  # the second time, from the memo
    assert len(bound) == 1  # and with no key to rename, not walked for keys either
    again = json.dumps(camel).encode()
    for _ in range(2):  # remembered or not, the keys are renamed each time
        parsed = json.loads(again)
        assert validator.validate(parsed, again) == [] and "top_logprobs" in parsed
    assert len(checked) == 2 and len(bound) == 3
    assert send(bad) and send(bad)  # an invalid body is checked (and refused) each time
    assert len(checked) == 4
    for n in range(3):  # beyond `remember` bodies the memo starts again
        send({**good, "seed": n})
    assert send(good) == [] and len(checked) == 8
