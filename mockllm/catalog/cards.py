"""What one model does (a :class:`ModelCard`) and the :class:`Catalog` of them.

Plain data, read by the reply engine (which snapshot a reply names, its tokenizer,
fingerprint, reasoning and logprobs), by the request checks of ``--strict-models``
(refused parameters, roles and values, the context window) and by ``GET /v1/models``.
A model the catalog does not know has no card: it is answered as before the catalog
existed (its name echoed, a fingerprint derived from it, the encoding tiktoken gives it).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Catalog", "ModelCard", "Refusals"]


@dataclass(frozen=True, slots=True)
class Refusals:
    """What a model refuses: parameters it does not take at all (400
    ``unsupported_parameter``), parameters whose only accepted values are listed, and
    message roles (both 400 ``unsupported_value``)."""

    parameters: frozenset[str] = frozenset()
    values: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One model of the catalog (docs/models.md names every key)."""

    id: str
    # What a reply's `model` says: the dated snapshot of an alias, else the id itself.
    snapshot: str
    # Which API serves it: `chat` (OpenAI's) or `messages` (Anthropic's).
    api: str = "chat"
    owned_by: str = "system"
    display_name: str | None = None
    # The day the snapshot came out (YYYY-MM-DD): `created` of /v1/models.
    released: str | None = None
    # The encoding its usage is counted in (o200k_base, cl100k_base or approximate).
    tokenizer: str = "o200k_base"
    # True: `system_fingerprint` is `fp_` and 10 hex digits; False: null.
    fingerprint: bool = True
    # A reasoning model: always reasons (reasoning tokens inside completion_tokens).
    reasoning: bool = False
    # Its reasoning comes back as text (`message.reasoning`), as thinking providers do.
    thinking_text: bool = False
    # Whether its choices carry a `logprobs` key at all.
    logprobs: bool = True
    input: tuple[str, ...] = ("text",)
    output: tuple[str, ...] = ("text",)
    # Usage splits prompt and completion into text, image and audio tokens.
    usage_details: bool = False
    context_window: int = 128000
    max_output_tokens: int = 16384
    refuses: Refusals = field(default_factory=Refusals)

    @property
    def created(self) -> int:
        """``released`` as a Unix time (midnight UTC), or 0 when not known."""
        if not self.released:
            return 0
        return calendar.timegm(time.strptime(self.released, "%Y-%m-%d"))

    def openai_object(self) -> dict[str, Any]:
        """This model as ``GET /v1/models`` lists it (OpenAI's ``Model``)."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }

    def anthropic_object(self) -> dict[str, Any]:
        """This model as Anthropic's ``GET /v1/models`` lists it (``ModelInfo``)."""
        released = self.released or "1970-01-01"
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name or self.id,
            "created_at": f"{released}T00:00:00Z",
            "max_input_tokens": self.context_window,
            "max_tokens": self.max_output_tokens,
        }


class Catalog:
    """The models a server knows, by id (aliases and their snapshots alike), in the
    order their file lists them; ``strict``: refuse what the real API refuses."""

    __slots__ = ("_cards", "strict")

    def __init__(
        self, cards: Mapping[str, ModelCard] | None = None, *, strict: bool = False
    ) -> None:
        self._cards: Mapping[str, ModelCard] = MappingProxyType(dict(cards or {}))
        self.strict = strict

    def with_strict(self, strict: bool) -> Catalog:
        """This catalog with model errors on (``strict``) or off."""
        return Catalog(self._cards, strict=strict)

    def get(self, model: Any) -> ModelCard | None:
        """The card of ``model`` (a request's ``model`` value), or None for one the
        catalog does not know."""
        return self._cards.get(model) if isinstance(model, str) else None

    def __contains__(self, model: object) -> bool:
        return model in self._cards

    def __iter__(self) -> Iterator[ModelCard]:
        return iter(self._cards.values())

    def __len__(self) -> int:
        return len(self._cards)

    def for_api(self, api: str) -> list[ModelCard]:
        """The cards one API serves (``chat`` or ``messages``), in catalog order."""
        return [card for card in self._cards.values() if card.api == api]
