"""Stored completions (``store: true``) through the openai SDK, with its strict response
validation on: list, retrieve, update, messages, delete."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI

from mockllm import MockLLMServer, Settings


@pytest.fixture()
def client() -> Iterator[OpenAI]:
    with MockLLMServer(Settings(port=0, seed=3, journal_size=50)) as server:
        yield OpenAI(
            base_url=server.base_url,
            api_key="sk-test",
            max_retries=0,
            _strict_response_validation=True,
        )


def _create(client: OpenAI, text: str, model: str = "gpt-4o-mini", **metadata: str) -> str:
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        store=True,
        metadata=metadata or None,
    )
    return reply.id


def test_a_stored_completion_is_retrieved_as_it_was_answered(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        store=True,
        metadata={"case": "one"},
    )
    got = client.chat.completions.retrieve(reply.id)
    assert got.id == reply.id and got.choices[0].message.content == reply.choices[0].message.content
    assert got.usage == reply.usage
    raw = client.chat.completions.with_raw_response.retrieve(reply.id).http_response.json()
    assert raw["metadata"] == {"case": "one"}


def test_without_store_nothing_is_kept(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.retrieve(reply.id)
    assert "store: true" in str(caught.value)
    assert client.chat.completions.list().data == []


def test_the_list_filters_pages_and_orders(client: OpenAI) -> None:
    ids = [
        _create(
            client, f"q{n}", model="gpt-4o" if n % 2 else "gpt-4o-mini", team="a" if n < 3 else "b"
        )
        for n in range(5)
    ]
    assert [c.id for c in client.chat.completions.list()] == ids
    assert [c.id for c in client.chat.completions.list(model="gpt-4o")] == [ids[1], ids[3]]
    assert [c.id for c in client.chat.completions.list(metadata={"team": "b"})] == ids[3:]
    page = client.chat.completions.list(limit=2, order="desc")
    assert [c.id for c in page.data] == [ids[4], ids[3]] and page.has_more
    # The SDK follows the cursor (`after`) through every page.
    assert [c.id for c in client.chat.completions.list(limit=2)] == ids
    assert [c.id for c in client.chat.completions.list(after=ids[2])] == ids[3:]


def test_metadata_is_updated(client: OpenAI) -> None:
    made = _create(client, "hello", stage="draft")
    updated = client.chat.completions.update(made, metadata={"stage": "final"})
    assert updated.id == made
    assert client.chat.completions.list(metadata={"stage": "final"}).data[0].id == made
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.update(made, metadata={"k": "x" * 600})
    assert caught.value.body is not None


def test_the_request_messages_are_listed(client: OpenAI) -> None:
    made = _create(client, "what is up")
    # The API answers each message with its own role; the SDK's generated type says
    # "assistant" only, so its strict (test-only) validation is off for this call.
    lenient = client.with_options()
    lenient._strict_response_validation = False
    messages = lenient.chat.completions.messages.list(made)
    assert [m.role for m in messages.data] == ["system", "user"]
    assert [m.content for m in messages.data] == ["be brief", "what is up"]
    assert len({m.id for m in messages.data}) == 2 and not messages.has_more


def test_a_deleted_completion_is_gone(client: OpenAI) -> None:
    made = _create(client, "bye")
    deleted = client.chat.completions.delete(made)
    assert deleted.deleted and deleted.id == made and deleted.object == "chat.completion.deleted"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(made)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.delete(made)


def test_streamed_completions_are_stored_too(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], store=True, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    stored = client.chat.completions.retrieve(chunks[0].id)
    assert stored.choices[0].message.content == text
