"""Request + reply spec + seed -> a ChatResponse dict (OpenAI's ``chat.completion``).

:class:`Generator` is built once per app (tokenizer, sentence pool) and turns the
rendered reply spec of docs/design.md ("The reply spec") into the body of a
successful reply, or raises :class:`~mockllm.errors.ScriptedError` for a reply that
scripts an error. Every key of the spec is optional; what is absent follows the
request, as a real model would (issue 4):

* ``tool_choice`` ``required`` or ``{type: function, function: {name}}`` calls a tool
  (several with ``required`` and ``parallel_tool_calls`` not false), with arguments
  generated from the tool's ``parameters`` schema; the finish reason is ``tool_calls``,
  except for a function that ``tool_choice`` names, where OpenAI answers ``stop``;
* ``response_format`` ``json_object`` / ``json_schema`` gives JSON content (an instance
  of the schema);
* ``modalities: [..., "audio"]`` gives ``message.audio`` (a real file, see
  :mod:`mockllm.reply_engine.audio`) with ``content`` null;
* ``logprobs`` / ``top_logprobs`` give per-token logprobs whose tokens concatenate to
  the content; each token's ``top_logprobs`` start with the token itself and are a
  distribution: sorted, their probabilities summing to at most 1;
* ``reasoning_effort`` above minimal, or ``enable_thinking``, gives ``message.reasoning``
  whose length follows the effort;
* ``stop`` cuts the content before the first stop sequence (``finish_reason: stop``);
  ``max_completion_tokens`` / ``max_tokens`` cut reasoning plus content to that many
  tokens (``finish_reason: length``), scripted content included.

Annotations are ``url_citation`` objects whose ``end_index`` is exclusive, as on
OpenAI: ``content[start_index:end_index]`` is the cited text.

Determinism: one ``random.Random(seed)`` drives every choice, in a fixed order, and
Faker is re-seeded with the same seed the first time a reply needs it, so the same
inputs give an equal dict, ids included. ``system_fingerprint`` is derived from the
model name, so one model keeps one fingerprint, as on OpenAI.

The model catalog (:mod:`mockllm.catalog`) shapes the reply of a model it knows: the
dated snapshot in ``model``, a fingerprint or ``null``, the tokenizer, reasoning that a
reasoning model always does (counted, not shown: see ``_reasoning``), no ``logprobs``
key for models that return none, usage split by modality for audio models.
"""

from __future__ import annotations

import base64
import http
import json
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import expm1, floor, log
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog, ModelCard
from ..chatbody import message_text, tool_name
from ..errors import BadRequestError, FieldError, ScriptedError
from ..memo import keep
from ..naming import to_snake
from .lexicon import Lexicon, Lexicons
from .seeding import DeferredFaker, LazySeededFaker
from .tokens import PromptCount, Tokenizer, count_prompt_tokens

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["CACHE_MIN_TOKENS", "Generator", "PromptCache", "cacheable_tokens", "scripted_error"]

# 256 byte values -> alphanumerics: random ids from one randbytes() call.
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ID_TABLE = bytes.maketrans(bytes(range(256)), bytes(ord(_ALNUM[i % 62]) for i in range(256)))
_HEX = "0123456789abcdef"
_HEX_TABLE = bytes.maketrans(bytes(range(256)), bytes(ord(_HEX[i % 16]) for i in range(256)))

# Reasoning length by effort, in sentences (three to a paragraph). The ranges do not
# overlap in words, so a higher effort always reasons longer.
_EFFORT_SENTENCES: Mapping[str, int] = MappingProxyType(
    {"low": 2, "medium": 6, "high": 18, "xhigh": 24, "max": 30}
)
_NO_REASONING = frozenset({"none", "minimal"})
_SERVICE_TIERS = frozenset({"default", "flex", "scale", "priority"})
# Output audio tokens per second of speech (gpt-4o-audio bills about this).
_AUDIO_TOKENS_PER_SECOND = 10
_AUDIO_TTL_S = 3600
# Request keys that change the default reply; without any of them it is plain text.
_PLAIN_BLOCKERS = frozenset(
    {
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
        "tool_choice",
        "response_format",
        "modalities",
        "reasoning_effort",
        "enable_thinking",
        "function_call",
    }
)
_SENTENCE = re.compile(r"[^\s][^.!?\n]*[.!?]?")
# Words of a message and of a tool's name and description, for tool_choice auto.
_WORD = re.compile(r"[a-z0-9]{3,}")
# The model of a request that names none (the validator normally refuses one).
_DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class _Body:
    """Text of one message field with its tokens (``None`` until someone needs them)."""

    text: str
    count: int
    tokens: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _Choice:
    """One built choice and its share of the completion usage."""

    body: dict[str, Any]
    tokens: int
    reasoning_tokens: int
    audio_tokens: int


class _Request:
    """Per-request state: the request, the rng, the lexicon of its model's encoding,
    and Faker seeded on first use."""

    __slots__ = (
        "request",
        "rng",
        "seed",
        "created",
        "faker",
        "tools",
        "lexicon",
        "tokenizer",
        "card",
    )

    def __init__(
        self,
        request: Mapping[str, Any],
        rng: random.Random,
        seed: int,
        created: int,
        faker: Faker | DeferredFaker,
        lexicon: Lexicon,
        card: ModelCard | None,
    ) -> None:
        self.request = request
        # The catalog's card of the request's model (None: a model it does not know).
        self.card = card
        self.rng = rng
        self.seed = seed
        self.created = created
        self.lexicon = lexicon
        # Counts through the lexicon's memo: a canned reply's text is counted once, not
        # on every request (tiktoken takes ~40 us per KB); splitting passes through.
        self.tokenizer: Tokenizer = lexicon.counter
        # The app's Faker, seeded with this request's seed before its first use here.
        self.faker: Any = LazySeededFaker(faker, seed)
        self.tools = _offered_tools(request)


class Generator:
    """Builds ChatResponse dicts; one per app (see the module docstring)."""

    def __init__(
        self,
        faker: Faker | DeferredFaker,
        *,
        lexicons: Lexicons | None = None,
        catalog: Catalog | None = None,
        auto_tools: str = "never",
    ) -> None:
        self.faker = faker
        # What tool_choice auto does with offered tools: never, always or fit
        # (config.AutoTools; _auto_tool).
        self.auto_tools = str(auto_tools)
        # What each known model does (mockllm/catalog); empty: every model alike.
        self.catalog = catalog if catalog is not None else Catalog()
        # Tokenizers and sentence pools by encoding, loaded when a model first needs one.
        self.lexicons = lexicons or Lexicons()
        # What unseeded replies draw from (seeded once, from the OS).
        self._running = random.Random()
        # system_fingerprint by model name (one model keeps one, as on OpenAI).
        self._fingerprints: dict[str, str] = {}

    def tokenizer_for(self, model: Any) -> Tokenizer:
        """The tokenizer of ``model``'s encoding (a request's ``model``; None: the default),
        through its memo: a stream of a generated reply splits it without tokenising."""
        return self._lexicon({"model": model}).counter

    def count_prompt(self, request: Mapping[str, Any]) -> PromptCount:
        """The prompt tokens of ``request`` in its model's encoding, with the memo of texts
        already counted (system prompts repeat), so the rate limiter and the usage block
        share the work."""
        return count_prompt_tokens(request, self._lexicon(request).counter)

    def _fingerprint(self, model: str) -> str:
        found = self._fingerprints.get(model)
        if found is None:  # clients may send any model name: the table is bounded
            found = keep(self._fingerprints, model, _fingerprint(model), _MODELS_REMEMBERED)
        return found

    def _lexicon(self, request: Mapping[str, Any]) -> Lexicon:
        model = request.get("model") or _DEFAULT_MODEL
        card = self.catalog.get(model)
        if card is not None:
            return self.lexicons.for_encoding(card.tokenizer)
        return self.lexicons.for_model(str(model))

    def generate(
        self,
        request: Mapping[str, Any],
        reply: Mapping[str, Any] | None,
        *,
        seed: int,
        created: int,
        seeded: bool = True,
        cache: PromptCache | None = None,
    ) -> dict[str, Any]:
        """The ChatResponse body for ``request`` as ``reply`` scripts it.

        ``cache``: what the prompt cache did with this prompt (``cached_tokens`` read,
        ``cache_write_tokens`` written), decided by the caller through the state store.

        ``seeded`` False: nobody can ask for these bytes again (the request had no seed),
        so the reply draws from the generator's running stream instead of a
        ``Random(seed)`` of its own, which costs more to set up than the reply to build.

        Raises ``ScriptedError`` when the reply scripts an error and
        ``BadRequestError`` when it calls a tool the request did not offer.
        """
        reply = reply or {}
        if reply.get("error"):
            raise scripted_error(reply["error"])
        rng = random.Random(seed) if seeded else self._running
        lexicon = self._lexicon(request)
        card = self.catalog.get(request.get("model"))
        model = str(
            reply.get("model")
            or (card.snapshot if card is not None else None)
            or request.get("model")
            or _DEFAULT_MODEL
        )
        fingerprint = reply.get("system_fingerprint")
        if fingerprint is None and (card is None or card.fingerprint):
            fingerprint = self._fingerprint(model)
        body: dict[str, Any] = {
            "id": "chatcmpl-" + _random_id(rng, 29),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [],
            "usage": None,
            "service_tier": reply.get("service_tier") or _service_tier(request),
            "system_fingerprint": fingerprint,
        }
        if reply.get("provider") is not None:
            body["provider"] = reply["provider"]
        per_choice = reply.get("choices")
        n = request.get("n") or 1
        completion = reasoning = audio = 0
        choices = body["choices"]
        if (
            _PLAIN_BLOCKERS.isdisjoint(request)
            and (not reply or _canned(reply))
            and (card is None or not card.reasoning)
            and (
                self.auto_tools == "never" or not (request.get("tools") or request.get("functions"))
            )
        ):
            # The common cases, kept cheap: plain text that nothing in the request shapes,
            # generated or a scenario's canned `content` (counted once, by the memo).
            canned = reply.get("content")
            streamed = request.get("stream")
            for index in range(n):
                if canned is None:
                    text = lexicon.text.paragraph(rng)
                    if streamed:  # the stream cuts it into these tokens next
                        lexicon.counter.remember(text.text, text.parts)
                    content, count = text.text, text.count
                else:
                    content, count = canned, lexicon.counter.count(canned)
                choice: dict[str, Any] = {
                    "index": index,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                if card is not None and not card.logprobs:
                    del choice["logprobs"]
                choices.append(choice)
                completion += count
            n = 0
        ctx = _Request(request, rng, seed, created, self.faker, lexicon, card) if n else None
        for index in range(n):
            assert ctx is not None
            spec = reply
            if per_choice:
                spec = {k: v for k, v in reply.items() if k != "choices"}
                spec.update(per_choice[index % len(per_choice)] or {})
            built = self._choice(ctx, index, spec)
            choices.append(built.body)
            completion += built.tokens
            reasoning += built.reasoning_tokens
            audio += built.audio_tokens
        prompt = count_prompt_tokens(request, lexicon.counter)
        body["usage"] = _usage(
            prompt,
            completion,
            reasoning,
            audio,
            reply.get("usage"),
            details=card is not None and card.usage_details,
            cache=cache,
        )
        moderation = request.get("moderation")
        if isinstance(moderation, Mapping) or moderation is True:
            body["moderation"] = _moderation(moderation, reply.get("moderation"), rng)
        return body

    # ----------------------------------------------------------------- one choice

    def _choice(self, ctx: _Request, index: int, spec: Mapping[str, Any]) -> _Choice:
        request = ctx.request
        tokenizer = ctx.tokenizer
        refusal = spec.get("refusal")
        calls = self._tool_calls(ctx, spec)
        reasoning, shown = self._reasoning(ctx, spec)
        budget = request.get("max_completion_tokens") or request.get("max_tokens")
        truncated = False
        if reasoning is not None and budget is not None and reasoning.count > budget:
            reasoning = _cut(reasoning, budget, tokenizer)
            truncated = True
        spent = reasoning.count if reasoning is not None else 0

        wants_audio = (
            (spec.get("audio") or "audio" in (request.get("modalities") or ()))
            and refusal is None
            and calls is None
            and spec.get("audio") is not False
        )
        scripted_lp = _mapping(spec.get("logprobs"))
        scripted_tokens = scripted_lp.get("tokens")

        content: _Body | None = None
        if refusal is not None:
            pass
        elif "content" in spec:
            if spec["content"] is not None or scripted_tokens:
                content = _scripted(spec["content"], scripted_tokens, tokenizer)
        elif scripted_tokens:
            content = _scripted(None, scripted_tokens, tokenizer)
        elif calls is None and not wants_audio:
            content = self._default_content(ctx)

        audio_obj: dict[str, Any] | None = None
        audio_tokens = 0
        transcript_tokens = 0
        if wants_audio:
            audio_obj, audio_tokens, transcript_tokens = self._audio(ctx, spec, content)
            if "content" not in spec:
                content = None

        finish = "stop"
        if content is not None:
            stopped = _apply_stop(content, request.get("stop"), tokenizer)
            if stopped is not None:
                content = stopped
            if truncated:
                content = _Body("", 0, ())
            elif budget is not None and spent + content.count > budget:
                content = _cut(content, max(budget - spent, 0), tokenizer)
                truncated = True
        if refusal is not None and budget is not None:
            words = tokenizer.split(str(refusal))
            if spent + len(words) > budget:
                refusal = "".join(words[: max(budget - spent, 0)])
                truncated = True
        if calls and budget is not None:
            room = budget - spent - (content.count if content is not None else 0)
            calls, cut_calls = _fit_calls(calls, room, tokenizer)
            truncated = truncated or cut_calls
        if calls:
            # A function named by tool_choice is forced, not chosen: OpenAI then answers
            # "stop"; "auto" and "required" calls answer "tool_calls".
            finish = "stop" if _named_tool(request.get("tool_choice")) else "tool_calls"
        if truncated:
            finish = "length"
        finish = spec.get("finish_reason") or finish

        message: dict[str, Any] = {
            "role": "assistant",
            "content": content.text if content is not None else None,
            "refusal": refusal,
            "annotations": self._annotations(ctx, spec, content),
        }
        if reasoning is not None and shown:
            message["reasoning"] = reasoning.text
        if audio_obj is not None:
            message["audio"] = audio_obj
        if calls and ctx.tools[_call_name(calls[0])].kind == "legacy":
            # The 2023 form: one function_call, no tool_calls (and its finish reason).
            message["function_call"] = calls[0]["function"]
            if finish == "tool_calls":
                finish = "function_call"
        elif calls:
            message["tool_calls"] = calls

        logprobs = self._logprobs(ctx, spec, content, refusal)
        tokens = spent + transcript_tokens + audio_tokens
        if content is not None:
            tokens += content.count
        if refusal is not None:
            tokens += tokenizer.count(str(refusal))
        tokens += sum(_call_tokens(call, tokenizer) for call in calls or ())
        choice = {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}
        if ctx.card is not None and not ctx.card.logprobs:
            del choice["logprobs"]  # the API sends no logprobs key for these models
        return _Choice(choice, tokens, spent, audio_tokens)

    # ----------------------------------------------------------------- content

    def _default_content(self, ctx: _Request) -> _Body:
        fmt = _mapping(ctx.request.get("response_format"))
        kind = fmt.get("type")
        if kind == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            return _scripted(_dump(self._instance(ctx, schema)), None, ctx.tokenizer)
        if kind == "json_object":
            schema = {
                "type": "object",
                "properties": {
                    "answer": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["answer", "confidence"],
            }
            return _scripted(_dump(self._instance(ctx, schema)), None, ctx.tokenizer)
        text = ctx.lexicon.text.paragraph(ctx.rng)
        return _Body(text.text, text.count, text.tokens)

    def _instance(self, ctx: _Request, schema: Mapping[str, Any]) -> Any:
        from .instances import generate_instance  # loaded with the first generated value

        return generate_instance(schema, ctx.rng, ctx.faker)

    # ----------------------------------------------------------------- reasoning

    def _reasoning(self, ctx: _Request, spec: Mapping[str, Any]) -> tuple[_Body | None, bool]:
        """The reasoning of a choice, and whether it shows as ``message.reasoning``.

        A scenario's ``reasoning:`` always shows. A model the catalog knows reasons when
        it is a reasoning model (always, at ``medium`` effort unless the request says
        otherwise; ``none``/``minimal`` reason not at all), and its reasoning shows only
        when the catalog says the model returns thinking text: OpenAI's reasoning
        models only count it (``reasoning_tokens``). A model the catalog does not know
        reasons, shown, when the request asks (``reasoning_effort``, ``enable_thinking``).
        """
        given = spec.get("reasoning")
        if isinstance(given, str):
            return _Body(given, ctx.tokenizer.count(given), None), True
        if given is False:
            return None, False
        effort = ctx.request.get("reasoning_effort")
        card = ctx.card
        shown = True
        if given is not True:
            thinking = ctx.request.get("enable_thinking")
            if card is not None and card.reasoning:
                if effort in _NO_REASONING:
                    return None, False
                shown = card.thinking_text
            elif card is not None and not card.thinking_text:
                return None, False
            elif effort in _NO_REASONING or (effort is None and not thinking):
                return None, False
        sentences = _EFFORT_SENTENCES.get(str(effort), _EFFORT_SENTENCES["medium"])
        text = ctx.lexicon.text.paragraphs(
            ctx.rng, -(-sentences // 3), (min(sentences, 3), min(sentences, 3))
        )
        return _Body(text.text, text.count, text.tokens), shown

    # ----------------------------------------------------------------- tools

    def _tool_calls(self, ctx: _Request, spec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        given = spec.get("tool_calls")
        request = ctx.request
        choice = request.get("tool_choice")
        named = _named_tool(choice)
        if given is None:
            if "content" in spec or spec.get("refusal") is not None or not ctx.tools:
                return None
            legacy = request.get("function_call")
            if named is None and isinstance(legacy, Mapping) and "tools" not in request:
                named = tool_name(legacy)  # the 2023 form of naming the function
            if named is not None:
                names = [self._check_tool(ctx, named, "tool_choice")]
            elif choice == "required":
                names = self._required_tools(ctx)
            elif choice in (None, "auto") and legacy in (None, "auto"):
                picked = self._auto_tool(ctx)
                if picked is None:
                    return None
                names = [picked]
            else:
                return None
            return [self._call(ctx, name, None, None) for name in names]
        if given == "auto":
            if choice == "none":  # the request forbids tool calls: answer in text
                return None
            if not ctx.tools:
                raise BadRequestError(
                    "The reply asks for a tool call (tool_calls: auto) but the request "
                    "offered no tools",
                    param="tools",
                )
            name = named if named is not None else next(iter(ctx.tools))
            return [self._call(ctx, self._check_tool(ctx, name, "tool_choice"), None, None)]
        if not given:
            return None
        calls = []
        for item in given:
            item = item if isinstance(item, Mapping) else {"name": item}
            name = self._check_tool(ctx, str(item.get("name")), "tools")
            calls.append(self._call(ctx, name, item.get("arguments"), item.get("id")))
        return calls

    def _auto_tool(self, ctx: _Request) -> str | None:
        """The tool a ``tool_choice: auto`` request calls, by the server's ``auto_tools``
        setting: ``never`` none; ``always`` the best fit (any, when none fits);
        ``fit`` the best fit when some tool's name or description shares a word with
        the last user message, else none. Only when a user message is last (a tool
        result last is answered in text). Ties are broken by the request's seed."""
        if self.auto_tools == "never":
            return None
        messages = ctx.request.get("messages") or ()
        last = messages[-1] if messages else None
        if not isinstance(last, Mapping) or last.get("role") != "user":
            return None
        words = set(_WORD.findall((message_text(last) or "").lower()))
        scores: dict[str, int] = {}
        for name, tool in ctx.tools.items():
            about = f"{name} {tool.spec.get('description') or ''}".replace("_", " ")
            scores[name] = len(words & set(_WORD.findall(about.lower())))
        best = max(scores.values())
        if best == 0 and self.auto_tools == "fit":
            return None
        top = [name for name, score in scores.items() if score == best]
        return top[0] if len(top) == 1 else ctx.rng.choice(top)

    def _required_tools(self, ctx: _Request) -> list[str]:
        names = list(ctx.tools)
        if ctx.request.get("parallel_tool_calls") is False or len(names) == 1:
            return names[:1]
        extra = ctx.rng.randrange(min(3, len(names)))
        return [names[0], *ctx.rng.sample(names[1:], extra)]

    def _check_tool(self, ctx: _Request, name: str, param: str) -> str:
        if name not in ctx.tools:
            offered = ", ".join(ctx.tools) or "none"
            raise BadRequestError(
                f"The reply calls the tool {name!r}, which the request did not offer "
                f"(offered: {offered})",
                param=param,
            )
        return name

    def _call(self, ctx: _Request, name: str, arguments: Any, call_id: Any) -> dict[str, Any]:
        tool = ctx.tools[name]
        call_id = str(call_id) if call_id else "call_" + _random_id(ctx.rng, 24)
        if tool.kind == "custom":
            if arguments is None:
                arguments = self._custom_input(ctx, tool.spec)
            text = arguments if isinstance(arguments, str) else _dump(arguments)
            return {"id": call_id, "type": "custom", "custom": {"name": name, "input": text}}
        if arguments is None:
            schema = tool.spec.get("parameters") or {"type": "object", "properties": {}}
            arguments = self._instance(ctx, schema)
        text = arguments if isinstance(arguments, str) else _dump(arguments)
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}

    def _custom_input(self, ctx: _Request, spec: Mapping[str, Any]) -> str:
        """Free-form input for a custom tool: a string matching a ``regex`` grammar when
        one is given and mockllm can satisfy it, else a sentence (a ``lark`` grammar is
        not followed: script the input with ``tool_calls: [{name, arguments}]``)."""
        fmt = _mapping(spec.get("format"))
        grammar = _mapping(fmt.get("grammar")) or fmt
        if fmt.get("type") == "grammar" and grammar.get("syntax") == "regex":
            from ..errors import UnsupportedPattern

            try:
                value = self._instance(
                    ctx, {"type": "string", "pattern": str(grammar.get("definition"))}
                )
            except UnsupportedPattern:
                pass
            else:
                return str(value)
        return ctx.lexicon.text.paragraph(ctx.rng, (1, 1)).text

    # ----------------------------------------------------------------- audio

    def _audio(
        self, ctx: _Request, spec: Mapping[str, Any], content: _Body | None
    ) -> tuple[dict[str, Any], int, int]:
        options = _mapping(spec.get("audio"))
        requested = _mapping(ctx.request.get("audio"))
        fmt = str(options.get("format") or requested.get("format") or "wav")
        transcript = options.get("transcript")
        if transcript is None:
            transcript = (
                content.text
                if content is not None and content.text
                else ctx.lexicon.text.paragraph(ctx.rng, (1, 3)).text
            )
        transcript = str(transcript)
        from . import audio as audio_files  # loaded with the first audio reply

        duration = audio_files.duration_for_text(transcript)
        data = audio_files.encode_audio(fmt, duration, ctx.rng)
        obj = {
            "id": "audio_" + _hex_id(ctx.rng, 32),
            "data": base64.b64encode(data).decode("ascii"),
            "expires_at": ctx.created + _AUDIO_TTL_S,
            "transcript": transcript,
        }
        return (
            obj,
            max(1, round(duration * _AUDIO_TOKENS_PER_SECOND)),
            ctx.tokenizer.count(transcript),
        )

    # ----------------------------------------------------------------- annotations

    def _annotations(
        self, ctx: _Request, spec: Mapping[str, Any], content: _Body | None
    ) -> list[dict[str, Any]]:
        given = spec.get("annotations")
        if not given or content is None:
            return []
        text = content.text
        if isinstance(given, int) and not isinstance(given, bool):
            spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
            chosen = sorted(ctx.rng.sample(spans, min(given, len(spans))))
            return [self._citation(ctx, start, end, {}) for start, end in chosen]
        out = []
        for item in given:
            if "text" in item:
                start = text.find(str(item["text"]))
                if start < 0:
                    raise ScriptedError(
                        f"The reply cites {item['text']!r}, which is not in the content",
                        status=500,
                        error_code="ScenarioError",
                        openai_code="server_error",
                    )
                end = start + len(str(item["text"]))
            else:
                start = int(item.get("start_index", 0))
                end = int(item.get("end_index", len(text)))
            out.append(self._citation(ctx, start, end, item))
        return out

    def _citation(
        self, ctx: _Request, start: int, end: int, item: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "type": "url_citation",
            "url_citation": {
                "end_index": end,
                "start_index": start,
                "title": str(item.get("title") or ctx.lexicon.text.words(ctx.rng, 4)),
                "url": str(item.get("url") or ctx.faker.uri()),
            },
        }

    # ----------------------------------------------------------------- logprobs

    def _logprobs(
        self, ctx: _Request, spec: Mapping[str, Any], content: _Body | None, refusal: Any
    ) -> dict[str, Any] | None:
        option = spec.get("logprobs")
        request = ctx.request
        if option is None:
            option = bool(request.get("logprobs"))
        if not option:
            return None
        top = request.get("top_logprobs") or 0
        scripted: Sequence[Any] = ()
        if isinstance(option, Mapping):
            top = option.get("top", top)
            scripted = option.get("tokens") or ()
        if content is not None:
            if scripted and content.tokens is not None and len(scripted) == content.count:
                entries = [_scripted_entry(t) for t in scripted]
            else:
                entries = self._entries(ctx, _tokens(content, ctx.tokenizer), int(top))
            return {"content": entries, "refusal": None}
        if refusal is not None:
            tokens = ctx.tokenizer.split(str(refusal))
            return {"content": None, "refusal": self._entries(ctx, tokens, int(top))}
        return None

    def _entries(self, ctx: _Request, tokens: Sequence[str], top: int) -> list[dict[str, Any]]:
        """Per-token logprobs whose ``top_logprobs`` are a distribution (module docstring)."""
        # The sampled token is the likeliest: its logprob is a scaled exponential draw
        # (log(1 - U) / 5, inlined: this loop runs per token), at most -1e-6 so some
        # probability is left for the alternatives. Each alternative then takes a share
        # (30-90 %) of the probability still unassigned, capped at the one before it:
        # the list is sorted, and it sums to at most 1 with something left over.
        draw = ctx.rng.random
        alternatives = ctx.lexicon.alternatives
        pool = len(alternatives)
        out = []
        for token in tokens:
            logprob = _floor6(min(log(1.0 - draw()) / 5.0, -1e-6))
            raw = list(token.encode("utf-8"))
            ranked: list[dict[str, Any]] = []
            if top:
                ranked.append({"token": token, "logprob": logprob, "bytes": raw})
                seen = {token}
                previous = logprob
                unassigned = log(-expm1(logprob))  # log(1 - p(token))
                while len(ranked) < top:
                    alt = alternatives[int(draw() * pool)]
                    if alt in seen:
                        continue
                    seen.add(alt)
                    share = 0.3 + 0.6 * draw()
                    current = min(_floor6(unassigned + log(share)), previous)
                    unassigned += log(1.0 - share)
                    previous = current
                    ranked.append(
                        {"token": alt, "logprob": current, "bytes": list(alt.encode("utf-8"))}
                    )
            out.append({"token": token, "logprob": logprob, "bytes": raw, "top_logprobs": ranked})
        return out


# --------------------------------------------------------------------------- errors


def scripted_error(spec: Mapping[str, Any]) -> ScriptedError:
    """The ScriptedError a reply's ``error:`` mapping describes (docs/design.md)."""
    status = int(spec.get("status", 500))
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    field_errors = [
        FieldError(
            field_name=str(fe.get("fieldName") or fe.get("field_name") or ""),
            param=str(fe.get("param") or to_snake(str(fe.get("fieldName") or ""))),
            error_code=str(fe.get("errorCode") or fe.get("error_code") or "Invalid"),
            code=str(fe.get("code") or "invalid_value"),
            message=str(fe.get("message") or f"'{fe.get('fieldName')}' is not valid."),
        )
        for fe in spec.get("field_errors") or ()
    ]
    openai_code = spec.get("code")
    if openai_code is None and status == 429:
        openai_code = "rate_limit_exceeded"
    error = ScriptedError(
        str(spec.get("message") or phrase),
        status=status,
        error_code=str(spec.get("errorCode") or phrase.replace(" ", "").replace("-", "")),
        openai_type=spec.get("type"),
        openai_code=openai_code,
        field_errors=field_errors,
        headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
    )
    if "param" in spec:
        # An explicit `param: null` wins over the first field error's param.
        error.param = spec["param"]
    return error


# --------------------------------------------------------------------------- helpers


# Model names whose system_fingerprint is remembered.
_MODELS_REMEMBERED = 1024
# Reply keys that shape only how the body is sent, not what it says.
_DELIVERY_KEYS = frozenset({"headers", "timing", "fault"})


def _canned(reply: Mapping[str, Any]) -> bool:
    """A reply that is only a canned text ``content`` (plus how to send it)."""
    return isinstance(reply.get("content"), str) and all(
        key == "content" or key in _DELIVERY_KEYS for key in reply
    )


def _random_id(rng: random.Random, length: int) -> str:
    return rng.randbytes(length).translate(_ID_TABLE).decode("ascii")


def _hex_id(rng: random.Random, length: int) -> str:
    return rng.randbytes(length).translate(_HEX_TABLE).decode("ascii")


def _fingerprint(model: str) -> str:
    raw = model.encode("utf-8")
    return f"fp_{zlib.crc32(raw):08x}{zlib.adler32(raw) & 0xFF:02x}"


def _service_tier(request: Mapping[str, Any]) -> str:
    tier = request.get("service_tier")
    return tier if tier in _SERVICE_TIERS else "default"


# Tokens a tool call costs beyond its name and arguments (OpenAI counts a few).
_CALL_FRAMING_TOKENS = 3


@dataclass(frozen=True, slots=True)
class _Tool:
    """An offered tool: ``kind`` is ``function``, ``custom`` (free-form input, maybe
    with a grammar) or ``legacy`` (the 2023 ``functions`` list); ``spec`` is its
    definition (``name``, ``description``, ``parameters`` or ``format``)."""

    kind: str
    spec: Mapping[str, Any]


def _offered_tools(request: Mapping[str, Any]) -> dict[str, _Tool]:
    """The tools of the request by name, in the order offered, named as scenario
    conditions name them (``matching.tool_name``; the DTO page's ``function: "name"``
    string form is a function without parameters); the legacy ``functions`` when the
    request offers no ``tools``."""
    tools: dict[str, _Tool] = {}
    for tool in request.get("tools") or ():
        if not isinstance(tool, Mapping):
            continue
        name = tool_name(tool)
        if not name:
            continue
        if tool.get("type") == "custom" or "custom" in tool:
            custom = tool.get("custom")
            tools[name] = _Tool("custom", custom if isinstance(custom, Mapping) else {})
        else:
            function = tool.get("function")
            tools[name] = _Tool(
                "function", function if isinstance(function, Mapping) else {"name": name}
            )
    if not tools:
        for function in request.get("functions") or ():
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                tools[function["name"]] = _Tool("legacy", function)
    return tools


def _named_tool(choice: Any) -> str | None:
    return tool_name(choice) if isinstance(choice, Mapping) else None


def _call_name(call: Mapping[str, Any]) -> str:
    return str(call[_call_text(call)[0]]["name"])


def _call_text(call: Mapping[str, Any]) -> tuple[str, str]:
    """Where a call keeps its name and text: (``function``, ``arguments``) or, for a
    custom tool, (``custom``, ``input``)."""
    return ("custom", "input") if call.get("type") == "custom" else ("function", "arguments")


def _call_tokens(call: Mapping[str, Any], tokenizer: Tokenizer) -> int:
    """What one tool call costs in completion tokens: name, arguments, framing."""
    key, text = _call_text(call)
    inner = call[key]
    return tokenizer.count(inner["name"]) + tokenizer.count(inner[text]) + _CALL_FRAMING_TOKENS


def _fit_calls(
    calls: list[dict[str, Any]],
    room: int,
    tokenizer: Tokenizer,
) -> tuple[list[dict[str, Any]], bool]:
    """The calls that fit in ``room`` tokens, the last one's arguments cut mid-JSON as a
    model that hits its token limit leaves them; True when something was cut."""
    kept: list[dict[str, Any]] = []
    for call in calls:
        cost = _call_tokens(call, tokenizer)
        if cost <= room:
            kept.append(call)
            room -= cost
            continue
        key, text = _call_text(call)
        inner = call[key]
        budget = room - tokenizer.count(inner["name"]) - _CALL_FRAMING_TOKENS
        if budget > 0 or not kept:
            pieces = tokenizer.split(inner[text])[: max(budget, 0)]
            kept.append({**call, key: {**inner, text: "".join(pieces)}})
        return kept, True
    return kept, False


def _scripted(value: Any, tokens: Sequence[Any] | None, tokenizer: Tokenizer) -> _Body:
    """Scripted content (a string, or JSON of an object), with the scripted logprobs
    tokens when they spell it."""
    if tokens:
        pieces = tuple(
            str(t.get("token", "")) if isinstance(t, Mapping) else str(t) for t in tokens
        )
        text = "".join(pieces) if value is None else _as_text(value)
        if "".join(pieces) == text:
            return _Body(text, len(pieces), pieces)
        return _Body(text, tokenizer.count(text), None)
    text = _as_text(value)
    return _Body(text, tokenizer.count(text), None)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_text(value: Any) -> str:
    # A scripted object or list is structured output: send it as JSON text.
    return value if isinstance(value, str) else _dump(value)


def _tokens(body: _Body, tokenizer: Tokenizer) -> tuple[str, ...]:
    return body.tokens if body.tokens is not None else tuple(tokenizer.split(body.text))


def _cut(body: _Body, limit: int, tokenizer: Tokenizer) -> _Body:
    """The first ``limit`` tokens of ``body``."""
    tokens = _tokens(body, tokenizer)[:limit]
    return _Body("".join(tokens), len(tokens), tokens)


def _apply_stop(body: _Body, stop: Any, tokenizer: Tokenizer) -> _Body | None:
    """``body`` cut before its first stop sequence, or None when none occurs."""
    if not stop:
        return None
    sequences = [stop] if isinstance(stop, str) else [s for s in stop if s]
    text = body.text
    cut = min((i for i in (text.find(s) for s in sequences) if i >= 0), default=-1)
    if cut < 0:
        return None
    kept: list[str] = []
    length = 0
    for token in _tokens(body, tokenizer):
        if length + len(token) > cut:
            if cut > length:
                kept.append(token[: cut - length])  # the stop sequence began mid-token
            break
        kept.append(token)
        length += len(token)
    return _Body(text[:cut], len(kept), tuple(kept))


def _floor6(logprob: float) -> float:
    """``logprob`` rounded down to six decimals: rounding never adds probability."""
    return floor(logprob * 1e6) / 1e6


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one: an absent or odd option reads as unset."""
    return value if isinstance(value, Mapping) else {}


def _scripted_entry(item: Any) -> dict[str, Any]:
    item = item if isinstance(item, Mapping) else {"token": str(item)}
    token = str(item.get("token", ""))
    entry = {
        "token": token,
        "logprob": float(item.get("logprob", -0.01)),
        "bytes": list(token.encode("utf-8")),
    }
    tops: list[dict[str, Any]] = []
    for alt in item.get("top_logprobs") or ():
        alt_token = str(alt.get("token", ""))
        tops.append(
            {
                "token": alt_token,
                "logprob": float(alt.get("logprob", -1.0)),
                "bytes": list(alt_token.encode("utf-8")),
            }
        )
    tops.sort(key=lambda e: -e["logprob"])
    return {**entry, "top_logprobs": tops}


@dataclass(frozen=True, slots=True)
class PromptCache:
    """What the prompt cache did with one prompt: tokens ``read`` from it
    (``cached_tokens``), and tokens ``written`` (``cache_write_tokens``, reported only
    when the request asked with ``prompt_cache_options``; None otherwise)."""

    read: int = 0
    written: int | None = None


# Prompts shorter than this are never cached; longer ones in steps of _CACHE_STEP.
CACHE_MIN_TOKENS = 1024
_CACHE_STEP = 128


def cacheable_tokens(prompt_tokens: int) -> int:
    """How much of a prompt of ``prompt_tokens`` the cache holds: nothing below 1,024
    tokens, then 1,024 and each further whole 128 (as OpenAI caches prefixes)."""
    if prompt_tokens < CACHE_MIN_TOKENS:
        return 0
    return CACHE_MIN_TOKENS + (prompt_tokens - CACHE_MIN_TOKENS) // _CACHE_STEP * _CACHE_STEP


# omni-moderation's categories, and those that also read images.
_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_IMAGE_CATEGORIES = frozenset(
    {
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "violence",
        "violence/graphic",
    }
)


def _moderation(option: Any, scripted: Any, rng: random.Random) -> dict[str, Any]:
    """The ``moderation`` object of a moderated completion: results for the input and
    the output, flagged where the reply's ``moderation: {input: [...], output: [...]}``
    names categories (scores seeded, high for those, tiny for the rest)."""
    model = str(_mapping(option).get("model") or "omni-moderation-latest")
    flags = _mapping(scripted)

    def results(kind: str) -> dict[str, Any]:
        flagged = {str(c) for c in flags.get(kind) or ()}
        scores = {
            c: round(0.9 + 0.09 * rng.random(), 6)
            if c in flagged
            else round(1e-6 + 1e-3 * rng.random() ** 3, 8)
            for c in _MODERATION_CATEGORIES
        }
        return {
            "type": "moderation_results",
            "model": model,
            "results": [
                {
                    "type": "moderation_result",
                    "model": model,
                    "flagged": bool(flagged),
                    "categories": {c: c in flagged for c in _MODERATION_CATEGORIES},
                    "category_scores": scores,
                    "category_applied_input_types": {
                        c: ["text", "image"] if c in _IMAGE_CATEGORIES else ["text"]
                        for c in _MODERATION_CATEGORIES
                    },
                }
            ],
        }

    return {"input": results("input"), "output": results("output")}


def _usage(
    prompt: PromptCount,
    completion: int,
    reasoning: int,
    audio: int,
    overrides: Any,
    *,
    details: bool = False,
    cache: PromptCache | None = None,
) -> dict[str, Any]:
    """The usage block; ``details``: prompt and completion split into text, image and
    audio tokens, as the API reports them for its audio models; ``cache``: the prompt
    cache's reads and writes."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt.total,
        "completion_tokens": completion,
        "total_tokens": prompt.total + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": prompt.audio},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": audio,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if cache is not None:
        usage["prompt_tokens_details"]["cached_tokens"] = cache.read
        if cache.written is not None:
            usage["prompt_tokens_details"]["cache_write_tokens"] = cache.written
    if details:
        usage["prompt_tokens_details"].update(
            text_tokens=prompt.total - prompt.audio - prompt.image, image_tokens=prompt.image
        )
        usage["completion_tokens_details"]["text_tokens"] = completion - audio - reasoning
    if not isinstance(overrides, Mapping) or not overrides:
        return usage
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(usage.get(key), dict):
            usage[key].update(value)
        else:
            usage[key] = value
    if "total_tokens" not in overrides:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage
