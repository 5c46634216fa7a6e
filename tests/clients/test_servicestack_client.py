"""ServiceStack's own Python client (``servicestack.JsonServiceClient``) against mockllm.

mockllm serves the ServiceStack routes of the ChatCompletion operation, so a ServiceStack
client with hand-declared DTOs (as "Add ServiceStack Reference" generates them) posts
to ``/api/ChatCompletion`` and reads the documented ChatResponse; errors come back as
ServiceStack's ``WebServiceException`` carrying the ``ResponseStatus`` field errors.
"""

# ServiceStack's client resolves DTO field types itself and understands typing.Optional,
# not ``X | None``: the DTOs keep Optional, as ServiceStack's generated DTOs do.
# ruff: noqa: UP045

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pytest
from dataclasses_json import LetterCase, Undefined, config, dataclass_json
from servicestack import IPost, IReturn, JsonServiceClient, WebServiceException

from mockllm.pytest_plugin import MockLLM

# The wire names are snake_case (DataMember names on the DTO page); ServiceStack's
# generated Python DTOs say so per field, as here.
_SNAKE = dataclass_json(letter_case=LetterCase.SNAKE, undefined=Undefined.EXCLUDE)


def _wire(name: str) -> dict:
    return field(default=None, metadata=config(field_name=name))


@_SNAKE
@dataclass
class Message:
    """A chat message of the request."""

    role: Optional[str] = None
    content: Optional[str] = None


@_SNAKE
@dataclass
class ChoiceMessage(Message):
    """The assistant message of a choice."""

    refusal: Optional[str] = None


@_SNAKE
@dataclass
class Choice:
    """One choice of the reply."""

    index: Optional[int] = None
    finish_reason: Optional[str] = _wire("finish_reason")
    message: Optional[ChoiceMessage] = None


@_SNAKE
@dataclass
class AiUsage:
    """Token usage of the reply."""

    completion_tokens: Optional[int] = _wire("completion_tokens")
    prompt_tokens: Optional[int] = _wire("prompt_tokens")
    total_tokens: Optional[int] = _wire("total_tokens")


@_SNAKE
@dataclass
class ChatResponse:
    """The ChatCompletion operation's response DTO."""

    id: Optional[str] = None
    object: Optional[str] = None
    created: Optional[int] = None
    model: Optional[str] = None
    choices: Optional[list[Choice]] = None
    usage: Optional[AiUsage] = None


@_SNAKE
@dataclass
class ChatCompletion(IReturn[ChatResponse], IPost):
    """The request DTO; its class name is the operation name in the URL."""

    model: Optional[str] = None
    messages: Optional[list[Message]] = None
    temperature: Optional[float] = None
    max_completion_tokens: Optional[int] = _wire("max_completion_tokens")
    seed: Optional[int] = None


# ServiceStack clients post to /api/{Operation}, or to the older /json/reply/{Operation}.
ROUTES = {"api": "/api/ChatCompletion", "": "/json/reply/ChatCompletion"}


@pytest.fixture(params=list(ROUTES), ids=["api-route", "json-reply-route"])
def client(request: pytest.FixtureRequest, mockllm: MockLLM) -> JsonServiceClient:
    """ServiceStack's client on the plugin's server, on each of its base paths."""
    sdk = JsonServiceClient(mockllm.url)
    sdk.set_base_path(request.param)
    return sdk


def test_chat_completion_dto_gets_the_documented_reply(
    mockllm: MockLLM, client: JsonServiceClient
) -> None:
    mockllm.add(
        {
            "name": "greet",
            "when": {"path": {"endswith": "/ChatCompletion"}},
            "reply": {"content": "Hello from mockllm."},
        }
    )
    request = ChatCompletion(
        model="gpt-4o-mini", seed=1, messages=[Message(role="user", content="Hi there")]
    )
    response = client.post(request)
    assert isinstance(response, ChatResponse)
    assert response.object == "chat.completion"
    assert response.model == "gpt-4o-mini-2024-07-18"  # the alias answers with its snapshot
    [choice] = response.choices
    assert isinstance(choice, Choice) and isinstance(choice.message, ChoiceMessage)
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert (choice.message.role, choice.message.content) == ("assistant", "Hello from mockllm.")
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    [exchange] = mockllm.assert_called("greet", 1)
    assert exchange.path in ROUTES.values()
    assert exchange.body["messages"] == [{"role": "user", "content": "Hi there"}]


def test_snake_case_fields_reach_the_server(mockllm: MockLLM, client: JsonServiceClient) -> None:
    response = client.post(
        ChatCompletion(
            model="gpt-4o",
            max_completion_tokens=2,
            messages=[Message(role="user", content="Go on")],
        )
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 2
    assert mockllm.last_request.body["max_completion_tokens"] == 2


@pytest.mark.mockllm(fail_on_invalid=False)
@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"temperature": 3.5}, "Temperature"),
        # The client drops empty lists, so the server sees no messages at all.
        ({"messages": []}, "Messages"),
    ],
    ids=["temperature-out-of-range", "messages-missing"],
)
def test_invalid_request_raises_web_service_exception_with_field_errors(
    mockllm: MockLLM, client: JsonServiceClient, changes: dict, field_name: str
) -> None:
    request = ChatCompletion(model="gpt-4o", messages=[Message(role="user", content="Hi")])
    for name, value in changes.items():
        setattr(request, name, value)
    with pytest.raises(WebServiceException) as info:
        client.post(request)
    error = info.value
    assert error.status_code == 400
    status = error.response_status
    assert status is not None and status.message
    assert field_name in [e.field_name for e in status.errors]
    assert status.error_code == status.errors[0].error_code
    # The client keeps working after the error.
    assert (
        client.post(ChatCompletion(model="gpt-4o", messages=[Message(role="user", content="Hi")]))
        .choices[0]
        .finish_reason
        == "stop"
    )


def test_scripted_error_surfaces_its_error_code(
    mockllm: MockLLM, client: JsonServiceClient
) -> None:
    mockllm.add(
        {
            "name": "limited",
            "reply": {
                "error": {
                    "status": 429,
                    "message": "Rate limit reached",
                    "errorCode": "TooManyRequests",
                }
            },
        }
    )
    with pytest.raises(WebServiceException) as info:
        client.post(ChatCompletion(model="gpt-4o", messages=[Message(role="user", content="x")]))
    assert info.value.status_code == 429
    assert info.value.response_status.error_code == "TooManyRequests"
    assert info.value.response_status.message == "Rate limit reached"


# The Python DTOs "Add ServiceStack Reference" generates use dataclasses_json's camelCase,
# as servicestack's own types do: the same operation, its keys sent as camelCase.
_CAMEL = dataclass_json(letter_case=LetterCase.CAMEL, undefined=Undefined.EXCLUDE)


@_CAMEL
@dataclass
class CamelMessage(Message):
    """A chat message, camelCase on the wire (``toolCallId``)."""

    tool_call_id: Optional[str] = None


@_CAMEL
@dataclass
class CamelResponseFormat:
    """response_format, camelCase on the wire."""

    type: Optional[str] = None


@_CAMEL
@dataclass
class CamelChatCompletion(IReturn[ChatResponse], IPost):
    """The request DTO with camelCase keys (``maxCompletionTokens``, ``topLogprobs``...)."""

    model: Optional[str] = None
    messages: Optional[list[CamelMessage]] = None
    max_completion_tokens: Optional[int] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = None
    response_format: Optional[CamelResponseFormat] = None
    tool_choice: Optional[str] = None
    seed: Optional[int] = None


CamelChatCompletion.__name__ = "ChatCompletion"  # the operation name in the URL


def test_camel_case_dto_keys_bind_as_the_documented_fields(
    mockllm: MockLLM, client: JsonServiceClient
) -> None:
    mockllm.add(
        {
            "name": "json-only",
            "when": {"response_format": "json_object"},
            "reply": {"content": '{"ok": true}'},
        }
    )
    response = client.post(
        CamelChatCompletion(
            model="gpt-4o",
            seed=1,
            max_completion_tokens=50,
            logprobs=True,
            top_logprobs=2,
            response_format=CamelResponseFormat(type="json_object"),
            tool_choice="none",
            messages=[CamelMessage(role="user", content="Hi")],
        )
    )
    assert response.choices[0].message.content == '{"ok": true}'
    exchange = mockllm.last_request
    assert exchange.scenario == "json-only"
    assert exchange.body == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_completion_tokens": 50,
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_object"},
        "tool_choice": "none",
        "seed": 1,
    }


@pytest.mark.mockllm(fail_on_invalid=False)
def test_camel_case_dto_errors_name_the_dto_field(
    mockllm: MockLLM, client: JsonServiceClient
) -> None:
    with pytest.raises(WebServiceException) as info:
        client.post(
            CamelChatCompletion(
                model="gpt-4o",
                logprobs=True,
                top_logprobs=50,
                messages=[CamelMessage(role="user", content="Hi")],
            )
        )
    assert info.value.status_code == 400
    [error] = info.value.response_status.errors
    assert (error.field_name, error.error_code) == ("TopLogprobs", "InclusiveBetween")


@pytest.mark.mockllm(fail_on_invalid=False)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/ChatCompletion"])
def test_pascal_case_keys_over_raw_http(mockllm: MockLLM, path: str) -> None:
    import requests  # what servicestack's client is built on

    def post(body: dict) -> tuple[int, dict]:
        answer = requests.post(mockllm.url + path, json=body, timeout=30)
        return answer.status_code, answer.json()

    status, reply = post(
        {
            "Model": "gpt-4o",
            "MaxCompletionTokens": 2,
            "Seed": 4,
            "Messages": [{"Role": "user", "Content": "Go on"}],
        }
    )
    assert status == 200, reply
    assert (reply["choices"][0]["finish_reason"], reply["usage"]["completion_tokens"]) == (
        "length",
        2,
    )
    assert mockllm.last_request.body == {
        "model": "gpt-4o",
        "max_completion_tokens": 2,
        "seed": 4,
        "messages": [{"role": "user", "content": "Go on"}],
    }
    status, reply = post(
        {
            "Model": "gpt-4o",
            "Messages": [{"Role": "user", "Content": "x"}],
            "MaxCompletionTokenz": 2,
        }
    )
    assert status == 400
    [error] = reply["responseStatus"]["errors"]
    assert (error["fieldName"], error["errorCode"]) == ("MaxCompletionTokenz", "UnknownField")
