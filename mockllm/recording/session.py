"""``Recording``: what one server (or one test) does with an upstream.

The mode says when a request goes upstream (``all``: always; ``missing``: when no
scenario matches; ``none``: never), the book where its scenario is written. The key
sent upstream lives only here and in the outgoing request: it is scrubbed from every
recorded string and kept out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..config import RecordMode, Settings
from ..errors import ConfigError

if TYPE_CHECKING:  # the book and the scenario writer load when something records
    from .book import RecordingBook

__all__ = ["Recording"]

# Upstream statuses that say the recording is set up wrong, and the likely mistake.
_SETUP_MISTAKES: Mapping[int, str] = MappingProxyType(
    {
        401: "is the key right? --upstream-key, or the client's own",
        403: "has the key access to this model and project?",
        404: "does --upstream end in /v1?",
    }
)


@dataclass(slots=True)
class Recording:
    """The recording setup of a server or a test."""

    mode: RecordMode
    upstream: str | None = None
    key: str | None = field(default=None, repr=False)
    book: RecordingBook | None = None
    # What a replay miss names: the file or folder the recordings come from.
    source: str = ""
    # Record the upstream's 401/403/404 too (setup mistakes are not recorded otherwise).
    keep_setup_errors: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Recording | None:
        """The server's recording, from ``--record``/``--upstream``/``--record-dir``
        (None when it neither records nor forwards)."""
        mode = settings.record
        if mode is RecordMode.NONE:
            return None
        if not settings.upstream:
            raise ConfigError(f"--record {mode.value} needs --upstream BASE_URL (MOCKLLM_UPSTREAM)")
        folder = settings.record_dir
        if folder is None:
            folders = [p for p in settings.scenario_paths if not p.suffix]
            if not folders:
                raise ConfigError(
                    f"--record {mode.value} needs a folder to write to: "
                    "--record-dir DIR, or a --scenarios folder"
                )
            folder = folders[0]
        from .book import RecordingBook, Redactor

        book = RecordingBook(
            folder,
            single_file=False,
            fresh=mode is RecordMode.ALL,
            redactor=Redactor(settings.redact),
        )
        return cls(
            mode,
            settings.upstream,
            settings.upstream_key,
            book,
            str(folder),
            settings.record_setup_errors,
        )

    @classmethod
    def for_test(
        cls,
        file: Path,
        mode: RecordMode,
        upstream: str | None,
        key: str | None,
        redact: Iterable[str] = (),
    ) -> Recording:
        """One test's recording: every scenario of the test in one file."""
        from .book import RecordingBook, Redactor

        book = (
            RecordingBook(
                file, single_file=True, fresh=mode is RecordMode.ALL, redactor=Redactor(redact)
            )
            if mode is not RecordMode.NONE
            else None
        )
        return cls(mode, upstream, key, book, str(file))

    @property
    def replays(self) -> bool:
        """Whether recorded scenarios answer (all modes but ``all``)."""
        return self.mode is not RecordMode.ALL

    def miss_message(self, count: int) -> str:
        """Why a replayed test fails: requests no recording matched (never forwarded)."""
        where = Path(self.source)
        if not where.exists():
            why = (
                f"there is no recording {where}: record it with --mockllm-record=missing "
                "(and mockllm_upstream)"
            )
        else:
            why = (
                f"the recording {where} has no scenario for them (re-record with "
                "--mockllm-record=missing, or edit the file)"
            )
        return (
            f"mockllm (replay): {count} request(s) matched no recording and were not "
            f"sent upstream; {why}:"
        )

    def describe(self) -> dict[str, Any]:
        """The mode, upstream and where recordings go, for the control API (no key)."""
        return {"mode": self.mode.value, "upstream": self.upstream, "to": self.source}

    def forwards(self, matched: bool) -> bool:
        """Whether a request goes upstream (``matched``: a scenario answers it)."""
        mode = self.mode
        return mode is RecordMode.ALL or (mode is RecordMode.MISSING and not matched)

    @property
    def endpoint(self) -> str:
        """The upstream's chat completions URL (the base URL, as an SDK takes it)."""
        return f"{(self.upstream or '').rstrip('/')}/chat/completions"

    def setup_mistake(self, status: int) -> str | None:
        """Why an upstream answer of ``status`` is not recorded: a 401, 403 or 404 says
        the setup is wrong (a bad key, a base URL without /v1), not what the API does;
        None when it is recorded (any other status, or ``keep_setup_errors``)."""
        if self.keep_setup_errors or status not in _SETUP_MISTAKES:
            return None
        return (
            f"the upstream {self.endpoint} answered {status} "
            f"({_SETUP_MISTAKES[status]}): not recorded (--record-setup-errors records it)"
        )

    def authorization(self, client: str | None) -> str | None:
        """The Authorization header sent upstream: ``--upstream-key`` when given, else
        the client's own."""
        return f"Bearer {self.key}" if self.key else client

    def save(
        self,
        request: Mapping[str, Any],
        reply: Mapping[str, Any],
        secrets: Iterable[str | None] = (),
    ) -> tuple[Path, dict[str, Any]] | None:
        """Write the scenario of one exchange; its file and the scenario as written."""
        if self.book is None:
            return None
        from .scenario import scenario_for

        scrub = [s for s in (self.key, *secrets) if s]
        return self.book.add(scenario_for(request, reply), scrub)

    @staticmethod
    def reply_for(
        request: Mapping[str, Any], status: int, body: Any, raw: bytes, headers: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """The reply spec of an upstream answer: the completion (a parsed ``body``), or
        a scripted error for a status of 400 and up; None for anything else."""
        from .scenario import error_reply, reply_from_completion

        if status >= 400:
            return error_reply(status, raw, headers)
        if isinstance(body, Mapping) and isinstance(body.get("choices"), list):
            return reply_from_completion(request, body)
        return None
