"""Run the battery against one server: choose the checks, run each, decide what is required.

``select(only)`` keeps the checks whose names start with one of the prefixes;
``run_checks(...)`` runs them in battery order on one ``Session`` (so checks share the
answers they read) and returns a ``Report``. A check that raises ``Mismatch`` fails, one
that raises ``NotOffered`` is unsupported, and one that gets no answer at all (refused,
timed out) or an answer it cannot read fails with that said. An optional check the
server does not support stays "unsupported" unless ``require`` names it; then it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..schemaset import SchemaSet
from ..validation import ResponseValidator
from .battery import CHECKS, Check, Mismatch, NotOffered, Session, Status, Verdict
from .client import Client, ClientError

__all__ = ["Report", "Result", "matching", "run_checks", "select"]


@dataclass(frozen=True, slots=True)
class Result:
    """One check's outcome in a run."""

    name: str
    description: str
    status: Status
    required: bool
    expected: str
    got: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Report:
    """Every result of one run against ``base_url``."""

    base_url: str
    model: str
    results: tuple[Result, ...]

    @property
    def passed(self) -> bool:
        """True when no check failed (unsupported optional checks do not count)."""
        return all(result.status is not Status.FAIL for result in self.results)

    def count(self, status: Status) -> int:
        """How many results have ``status``."""
        return sum(result.status is status for result in self.results)


def matching(prefixes: Iterable[str], what: str) -> Callable[[Check], bool]:
    """A test of checks by name prefix; a prefix that names no check is a ConfigError."""
    wanted = [p.strip() for p in prefixes if p.strip()]
    unknown = [p for p in wanted if not any(c.name.startswith(p) for c in CHECKS)]
    if unknown:
        names = ", ".join(c.name for c in CHECKS)
        raise ConfigError(
            f"{what} {', '.join(map(repr, unknown))} names no check; the checks are: {names}"
        )
    return lambda check: any(check.name.startswith(p) for p in wanted)


def select(only: Sequence[str] = ()) -> tuple[Check, ...]:
    """The checks whose names start with one of ``only`` (all of them when it is empty)."""
    if not [p for p in only if p.strip()]:
        return CHECKS
    chosen = matching(only, "--only")
    return tuple(check for check in CHECKS if chosen(check))


def _verdict(check: Check, session: Session) -> Verdict:
    try:
        return check.run(session)
    except NotOffered as exc:
        return Verdict(Status.UNSUPPORTED, exc.expected, exc.got)
    except Mismatch as exc:
        return Verdict(Status.FAIL, exc.expected, exc.got)
    except ClientError as exc:
        return Verdict(Status.FAIL, check.description, f"no answer: {exc}")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # A body of a shape the check did not foresee: report it, keep checking.
        return Verdict(
            Status.FAIL,
            check.description,
            f"an answer the check cannot read ({type(exc).__name__}: {exc})",
        )


def run_checks(
    client: Client,
    model: str,
    *,
    only: Sequence[str] = (),
    require: Sequence[str] = (),
    validator: ResponseValidator | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> Report:
    """Run the chosen checks in order; ``on_result`` hears of each as it completes."""
    checks = select(only)
    required_by_name = matching(require, "--require") if require else (lambda _: False)
    session = Session(client, model, validator or ResponseValidator(SchemaSet.load()))
    results = []
    for check in checks:
        started = time.perf_counter()
        verdict = _verdict(check, session)
        required = not check.optional or required_by_name(check)
        status, got = verdict.status, verdict.got
        if status is Status.UNSUPPORTED and required:
            status, got = Status.FAIL, f"unsupported, but required: {got}"
        result = Result(
            check.name,
            check.description,
            status,
            required,
            verdict.expected,
            got,
            time.perf_counter() - started,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return Report(client.base_url, model, tuple(results))
