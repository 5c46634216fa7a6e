"""Request- and token-per-minute budgets that answer 429 the way OpenAI does.

A :class:`RateLimiter` holds up to two budgets (requests per minute, tokens per
minute), either one global pair or one pair per API key (the ``Authorization:
Bearer`` value). Each budget is a token bucket that refills continuously at
``limit / 60`` units a second, which is how OpenAI enforces its limits too (a
3 RPM key that spent its three requests may send the next one 20 s later, not
at the top of the next minute). The bucket is kept in GCRA form: one float per
budget and key, the instant at which the bucket will be full again, so a check is
a few arithmetic operations and an idle key costs nothing. The buckets live in the
state store (:meth:`mockllm.state.StateStore.spend`), so workers sharing a store share
the budgets; this module decides what a spend means on the wire.

:meth:`RateLimiter.check` never reads a clock: the caller passes ``now`` (the app
passes ``time.monotonic()``), so tests are deterministic and instant. A refusal
consumes nothing. The decision carries the ``x-ratelimit-*`` headers OpenAI sends
(wire-format.md 5.4) and, on refusal, the :class:`RateLimitExceededError` to
raise, with ``retry-after``/``retry-after-ms`` and OpenAI's message text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, RateLimitExceededError
from .state import BudgetSpend, MemoryStore, StateStore

__all__ = [
    "RateDecision",
    "RateLimiter",
    "bearer_token",
    "format_duration",
]

# Float slack in bucket arithmetic: refills are fractions (e.g. 3/60 per second),
# and a client that waits exactly the advertised time must get in.
_EPSILON = 1e-9
_LIMITS_URL = "https://platform.openai.com/account/rate-limits"


def format_duration(seconds: float) -> str:
    """A wait in OpenAI's header format (Go's duration string, to the millisecond).

    ``0.12 -> "120ms"``, ``20 -> "20s"``, ``2.194 -> "2.194s"``, ``360 -> "6m0s"``,
    ``3600 -> "1h0m0s"``. Rounded up, so waiting the advertised time is enough.
    """
    ms = max(0, math.ceil(seconds * 1000 - _EPSILON))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    secs = f"{whole}.{frac:03d}".rstrip("0") if frac else str(whole)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def bearer_token(header: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <key>`` header (the API key for rate
    budgets, the admin token for the control API), else ``None``."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


@dataclass(frozen=True, slots=True)
class RateDecision:
    """What a check decided: allowed or not, the headers to send, the error to raise."""

    allowed: bool
    # x-ratelimit-* headers, lower-case as OpenAI sends them; on a refusal the same
    # dict as ``error.headers`` (with retry-after), which the error middleware sends.
    headers: Mapping[str, str]
    error: RateLimitExceededError | None = None

    def raise_if_refused(self) -> None:
        """Raise the 429 error when the request was refused."""
        if self.error is not None:
            raise self.error


@dataclass(frozen=True, slots=True)
class _Budget:
    """One per-minute budget: its name on the wire and its refill interval."""

    kind: str  # "requests" or "tokens": the header suffix and the OpenAI error type
    unit: str  # "RPM" / "TPM" in the message
    limit: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds for one unit to come back."""
        return self.period / self.limit

    def used(self, full_at: float, now: float) -> float:
        """Units in use at ``now`` for a bucket that is full again at ``full_at``."""
        return max(0.0, full_at - now) / self.interval


@dataclass(frozen=True, slots=True)
class _Verdict:
    """One budget's view of one request."""

    budget: _Budget
    used: float  # before this request
    cost: int
    wait: float  # seconds until the request would fit; 0 when it fits now

    @property
    def fits(self) -> bool:
        return self.wait <= 0.0

    @property
    def never_fits(self) -> bool:
        return self.cost > self.budget.limit


class RateLimiter:
    """Optional RPM/TPM budgets, global or per API key (see the module docstring)."""

    def __init__(
        self,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        per_key: bool = True,
        *,
        period: float = 60.0,
        store: StateStore | None = None,
    ) -> None:
        budgets: list[_Budget] = []
        for kind, unit, limit in (
            ("requests", "RPM", requests_per_minute),
            ("tokens", "TPM", tokens_per_minute),
        ):
            if limit is None:
                continue
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ConfigError(f"rate limit {unit}: {limit!r} is not a positive whole number")
            budgets.append(_Budget(kind, unit, limit, period))
        self._budgets: tuple[_Budget, ...] = tuple(budgets)
        self.per_key = per_key
        self._store: StateStore = store if store is not None else MemoryStore()

    @property
    def enabled(self) -> bool:
        """Whether any budget is configured (no budget: the app may skip the check)."""
        return bool(self._budgets)

    @property
    def counts_tokens(self) -> bool:
        """Whether a token budget is set (if not, callers need not count prompt tokens)."""
        return any(b.kind == "tokens" for b in self._budgets)

    async def check(
        self, key: str | None, tokens: int, now: float, *, model: str = ""
    ) -> RateDecision:
        """Spend one request and ``tokens`` tokens for ``key`` at ``now``, if they fit.

        ``key`` is the API key (ignored unless ``per_key``); ``now`` is seconds on a
        monotonic clock. A refused request spends nothing.
        """
        costs = [1 if b.kind == "requests" else max(0, int(tokens)) for b in self._budgets]
        spent = await self._store.spend(
            (key or "") if self.per_key else "",
            [
                BudgetSpend(b.limit, b.interval, cost)
                for b, cost in zip(self._budgets, costs, strict=True)
            ],
            now,
        )
        verdicts = []
        for budget, cost, used in zip(self._budgets, costs, spent.used, strict=True):
            over = used + cost - budget.limit
            verdicts.append(
                _Verdict(budget, used, cost, over * budget.interval if over > _EPSILON else 0.0)
            )
        if spent.allowed:
            return RateDecision(True, _headers(verdicts, spent=True))
        error = _refusal(verdicts, model)
        return RateDecision(False, error.headers, error)


def _headers(verdicts: list[_Verdict], *, spent: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for v in verdicts:
        budget = v.budget
        used = v.used + v.cost if spent else v.used
        kind = budget.kind
        headers[f"x-ratelimit-limit-{kind}"] = str(budget.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(
            max(0, math.floor(budget.limit - used + _EPSILON))
        )
        # Time until the bucket is full again, OpenAI's "reset".
        headers[f"x-ratelimit-reset-{kind}"] = format_duration(used * budget.interval)
    return headers


def _refusal(verdicts: list[_Verdict], model: str) -> RateLimitExceededError:
    for_model = f" for {model}" if model else ""
    too_large = next((v for v in verdicts if v.never_fits), None)
    headers = _headers(verdicts, spent=False)
    if too_large is not None:
        budget = too_large.budget
        headers["x-should-retry"] = "false"  # waiting cannot help
        return RateLimitExceededError(
            f"Request too large{for_model} on {budget.kind} per min ({budget.unit}): "
            f"Limit {budget.limit}, Requested {too_large.cost}. The input or output tokens "
            f"must be reduced in order to run successfully. Visit {_LIMITS_URL} to learn more.",
            headers=headers,
            openai_type=budget.kind,
            details=_details(too_large, None),
        )
    # The longest wait is the one that matters; its budget names the error.
    worst = max(verdicts, key=lambda v: v.wait)
    wait = worst.wait
    headers["retry-after"] = str(max(1, math.ceil(wait - _EPSILON)))
    headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000 - _EPSILON)))
    budget = worst.budget
    return RateLimitExceededError(
        f"Rate limit reached{for_model} on {budget.kind} per min ({budget.unit}): "
        f"Limit {budget.limit}, Used {math.ceil(worst.used - _EPSILON)}, "
        f"Requested {worst.cost}. Please try again in {format_duration(wait)}. "
        f"Visit {_LIMITS_URL} to learn more.",
        headers=headers,
        openai_type=budget.kind,
        details=_details(worst, wait),
    )


def _details(verdict: _Verdict, wait: float | None) -> dict[str, Any]:
    """Machine-readable facts for the journal."""
    return {
        "rate_limit": {
            "budget": verdict.budget.kind,
            "limit": verdict.budget.limit,
            "used": math.ceil(verdict.used - _EPSILON),
            "requested": verdict.cost,
            "retry_after_s": wait,
        }
    }
