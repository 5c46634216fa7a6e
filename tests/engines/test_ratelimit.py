"""The RPM/TPM rate limiter: budgets, refills, Retry-After, per-key buckets, headers."""

from __future__ import annotations

import re

import pytest

from mockllm.config import ErrorDialect
from mockllm.errors import ConfigError
from mockllm.http.wire import error_body
from mockllm.ratelimit import (
    RateLimiter,
    bearer_token,
    format_duration,
)
from mockllm.state import MemoryStore, run_now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1, "0s"),
        (0.0004, "1ms"),  # rounded up: waiting the advertised time must be enough
        (0.12, "120ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (20, "20s"),
        (2.194, "2.194s"),
        (8.6, "8.6s"),
        (59.9995, "1m0s"),
        (90.857, "1m30.857s"),
        (360, "6m0s"),
        (3600, "1h0m0s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_durations_use_openais_go_style_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer sk-abc", "sk-abc"),
        ("bearer   sk-abc  ", "sk-abc"),
        ("Basic dXNlcjpwdw==", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_api_key_comes_from_a_bearer_authorization(header: str | None, key: str | None) -> None:
    assert bearer_token(header) == key


def _remaining(decision, kind: str) -> int:  # noqa: ANN001 - test helper
    return int(decision.headers[f"x-ratelimit-remaining-{kind}"])


@pytest.mark.parametrize(
    ("rpm", "tpm", "tokens", "allowed_count", "binding"),
    [
        (3, None, 10, 3, "requests"),
        (None, 100, 30, 3, "tokens"),  # 30+30+30 fits, a fourth 30 does not
        (10, 100, 25, 4, "tokens"),  # tokens run out before requests
        (2, 1000, 25, 2, "requests"),  # requests run out before tokens
        (5, 50, 0, 5, "requests"),  # a free request still spends a request
    ],
)
def test_remaining_goes_down_until_the_budget_refuses(
    rpm: int | None,
    tpm: int | None,
    tokens: int,
    allowed_count: int,
    binding: str,
) -> None:
    limiter = RateLimiter(rpm, tpm, per_key=False)
    decisions = [
        run_now(limiter.check("sk-a", tokens, now=100.0)) for _ in range(allowed_count + 1)
    ]
    assert [d.allowed for d in decisions] == [True] * allowed_count + [False]
    for kind, limit, cost in (("requests", rpm, 1), ("tokens", tpm, tokens)):
        if limit is None:
            assert f"x-ratelimit-limit-{kind}" not in decisions[0].headers
            continue
        assert decisions[0].headers[f"x-ratelimit-limit-{kind}"] == str(limit)
        remaining = [_remaining(d, kind) for d in decisions[:allowed_count]]
        assert remaining == [limit - cost * (i + 1) for i in range(allowed_count)]
    refusal = decisions[-1].error
    assert refusal is not None
    assert refusal.openai_type == binding


def test_a_refused_request_gets_retry_after_and_openais_message() -> None:
    limiter = RateLimiter(3, None, per_key=False)
    for _ in range(3):
        assert run_now(limiter.check(None, 1, now=0.0)).allowed
    decision = run_now(limiter.check(None, 1, now=0.0, model="gpt-4o-mini"))
    error = decision.error
    assert not decision.allowed and error is not None
    # 3 RPM refills one request every 20 s (OpenAI's own example message).
    assert error.headers["retry-after"] == "20"
    assert error.headers["retry-after-ms"] == "20000"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert decision.headers == error.headers
    assert (error.status, error.error_code, error.openai_code, error.openai_type) == (
        429,
        "TooManyRequests",
        "rate_limit_exceeded",
        "requests",
    )
    assert "Rate limit reached for gpt-4o-mini on requests per min (RPM): " in error.message
    assert "Limit 3, Used 3, Requested 1. Please try again in 20s." in error.message
    with pytest.raises(type(error)):
        decision.raise_if_refused()


@pytest.mark.parametrize(
    ("spent", "requested", "retry_after", "retry_after_ms"),
    [
        (900, 300, "12", "12000"),  # 200 tokens short at 1000/60 a second
        (1000, 1, "1", "60"),  # 60 ms, but Retry-After is a whole number of seconds
        (950, 60, "1", "600"),
    ],
)
def test_token_refusal_waits_for_exactly_the_missing_tokens(
    spent: int,
    requested: int,
    retry_after: str,
    retry_after_ms: str,
) -> None:
    limiter = RateLimiter(None, 1000, per_key=False)
    assert run_now(limiter.check(None, spent, now=0.0)).allowed
    decision = run_now(limiter.check(None, requested, now=0.0))
    assert decision.error is not None
    assert decision.error.openai_type == "tokens"
    assert decision.headers["retry-after"] == retry_after
    assert decision.headers["retry-after-ms"] == retry_after_ms
    wait = int(retry_after_ms) / 1000
    assert not run_now(limiter.check(None, requested, now=wait - 0.01)).allowed
    assert run_now(limiter.check(None, requested, now=wait)).allowed


def test_refusals_spend_nothing() -> None:
    limiter = RateLimiter(2, 100, per_key=False)
    assert run_now(limiter.check(None, 90, now=0.0)).allowed
    for _ in range(5):
        assert not run_now(limiter.check(None, 50, now=0.0)).allowed
    # Still one request and ten tokens left: the refusals took none of them.
    decision = run_now(limiter.check(None, 10, now=0.0))
    assert decision.allowed
    assert _remaining(decision, "requests") == 0
    assert _remaining(decision, "tokens") == 0


def test_the_window_frees_up_as_time_passes() -> None:
    limiter = RateLimiter(6, None, per_key=False)
    for _ in range(6):
        assert run_now(limiter.check(None, 0, now=10.0)).allowed
    assert not run_now(limiter.check(None, 0, now=10.0)).allowed
    # One request comes back every 10 s.
    assert not run_now(limiter.check(None, 0, now=19.9)).allowed
    after_one = run_now(limiter.check(None, 0, now=20.0))
    assert after_one.allowed
    assert _remaining(after_one, "requests") == 0
    # A full minute after the last spend, the whole budget is back.
    full = run_now(limiter.check(None, 0, now=80.0))
    assert _remaining(full, "requests") == 5
    assert full.headers["x-ratelimit-reset-requests"] == "10s"


def test_per_key_budgets_are_independent_and_global_ones_shared() -> None:
    per_key = RateLimiter(1, None, per_key=True)
    assert run_now(per_key.check("sk-a", 0, now=0.0)).allowed
    assert not run_now(per_key.check("sk-a", 0, now=0.0)).allowed
    assert run_now(per_key.check("sk-b", 0, now=0.0)).allowed
    assert run_now(per_key.check(None, 0, now=0.0)).allowed  # no key: the anonymous bucket
    shared = RateLimiter(1, None, per_key=False)
    assert run_now(shared.check("sk-a", 0, now=0.0)).allowed
    assert not run_now(shared.check("sk-b", 0, now=0.0)).allowed


def test_reset_refills_every_bucket() -> None:
    store = MemoryStore()
    limiter = RateLimiter(1, None, store=store)
    assert run_now(limiter.check("sk-a", 0, now=0.0)).allowed
    assert not run_now(limiter.check("sk-a", 0, now=0.0)).allowed
    run_now(store.reset())
    assert run_now(limiter.check("sk-a", 0, now=0.0)).allowed


def test_idle_keys_are_forgotten_without_changing_any_answer() -> None:
    store = MemoryStore(max_budget_keys=3)
    limiter = RateLimiter(1, None, store=store)
    for i in range(20):
        # Each key spends its one request 100 s after the previous one: the
        # earlier keys are full again (idle) by then and may be dropped.
        assert run_now(limiter.check(f"sk-{i}", 0, now=100.0 * i)).allowed
        assert not run_now(limiter.check(f"sk-{i}", 0, now=100.0 * i + 1)).allowed
    assert len(store._full_at) <= 4  # bounded memory under many keys
    # The active key kept its state.
    assert not run_now(limiter.check("sk-19", 0, now=1910.0)).allowed
    assert run_now(limiter.check("sk-0", 0, now=1910.0)).allowed


def test_a_request_larger_than_the_whole_budget_says_retrying_cannot_help() -> None:
    limiter = RateLimiter(None, 1000, per_key=False)
    decision = run_now(limiter.check(None, 1500, now=0.0, model="gpt-4o"))
    assert decision.error is not None
    assert decision.headers["x-should-retry"] == "false"
    assert "retry-after" not in decision.headers
    assert (
        "Request too large for gpt-4o on tokens per min (TPM): Limit 1000, Requested 1500."
        in decision.error.message
    )
    assert not run_now(limiter.check(None, 1500, now=10_000.0)).allowed


def test_headers_and_message_agree_with_each_other() -> None:
    limiter = RateLimiter(30, 6000)
    run_now(limiter.check("k", 5000, now=0.0))
    decision = run_now(limiter.check("k", 2000, now=1.0))
    assert decision.error is not None
    match = re.search(
        r"Limit (\d+), Used (\d+), Requested (\d+)\. Please try again in ([\d.]+)s",
        decision.error.message,
    )
    assert match is not None
    limit, used, requested = (int(g) for g in match.groups()[:3])
    assert limit == int(decision.headers["x-ratelimit-limit-tokens"])
    assert limit - used == int(decision.headers["x-ratelimit-remaining-tokens"])
    assert float(match.group(4)) == int(decision.headers["retry-after-ms"]) / 1000


def test_the_error_renders_as_an_openai_rate_limit_body() -> None:
    limiter = RateLimiter(1, None)
    run_now(limiter.check(None, 0, now=0.0))
    error = run_now(limiter.check(None, 0, now=0.0)).error
    assert error is not None
    body = error_body(error, ErrorDialect.BOTH)
    assert body["error"]["type"] == "requests"
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["responseStatus"]["errorCode"] == "TooManyRequests"


@pytest.mark.parametrize(("rpm", "tpm"), [(0, None), (None, -5), (True, None), (1.5, None)])
def test_a_budget_must_be_a_positive_whole_number(rpm: object, tpm: object) -> None:
    with pytest.raises(ConfigError):
        RateLimiter(rpm, tpm)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rpm", "tpm", "enabled", "counts_tokens"),
    [
        (None, None, False, False),
        (5, None, True, False),
        (None, 1, True, True),
        (5, 100, True, True),
    ],
)
def test_enabled_and_counts_tokens_follow_the_budgets(
    rpm: int | None,
    tpm: int | None,
    enabled: bool,
    counts_tokens: bool,
) -> None:
    limiter = RateLimiter(rpm, tpm)
    assert (limiter.enabled, limiter.counts_tokens) == (enabled, counts_tokens)
