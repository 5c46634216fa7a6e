"""Recording a real upstream into scenarios, and replaying them (docs/recording.md).

Plain Python: what a recorded exchange becomes (``scenario``), how a relayed stream
is read and timed (``stream``), and where the scenarios are written, secrets scrubbed
(``book``). ``Recording`` ties them to one server or test: the mode, the upstream and
the book. The forwarding itself is ``mockllm.http.upstream``'s.
"""

from __future__ import annotations

from .session import Recording

__all__ = ["Recording"]
