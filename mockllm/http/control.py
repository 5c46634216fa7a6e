"""The control API under ``/__mockllm/``: read the journal, change scenarios, reset.

Routes (JSON in and out; errors in the app's usual error envelope)::

    GET    /__mockllm/health               {"status": "ok", scenarios, journal counts}
    GET    /__mockllm/requests             newest first; ?scenario= &model= &path= &status=
                                           &method= &limit=
    DELETE /__mockllm/requests             forget the journal
    GET    /__mockllm/scenarios            the scenarios in resolution order, with use counts
    POST   /__mockllm/scenarios            add scenarios: a JSON or YAML scenario document
    DELETE /__mockllm/scenarios            back to the loaded scenarios (drops added ones)
    DELETE /__mockllm/scenarios/{name}     remove one scenario
    POST   /__mockllm/reset                journal, use counts, sequences, conversations

Who may call it: a server bound to a loopback address serves it to anyone who can
connect (that is the machine's own user). Bound beyond loopback it is off (404) unless
``Settings.admin_token`` is set. With a token set, every call must send
``Authorization: Bearer <token>`` (else 401), on loopback too.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import hdrs, web

from ..config import Settings
from ..errors import BadRequestError, ConfigError, NotFoundError, UnauthorizedError
from ..journal import JournalQuery
from ..ratelimit import bearer_token
from ..scenario_engine.loader import load_scenario_data
from ..scenario_engine.scenarioset import Scenario, ScenarioSet
from . import wire

if TYPE_CHECKING:
    from .app import ServerState

__all__ = ["ADMIN_PREFIX", "admin_enabled", "is_loopback", "scenario_summary", "setup_admin"]

ADMIN_PREFIX = "/__mockllm"
# Content types read as YAML; everything else must be JSON.
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
                         "text/plain"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StateHandler = Callable[[web.Request, "ServerState"], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def admin_enabled(settings: Settings) -> bool:
    """Whether the control API answers at all for a server with these settings."""
    return bool(settings.admin_token) or is_loopback(settings.host)


def scenario_summary(scenario: Scenario, uses: int) -> dict[str, Any]:
    """The JSON view of one scenario in ``GET /__mockllm/scenarios``."""
    return {
        "name": scenario.name,
        "description": scenario.description,
        "source": scenario.source,
        "priority": scenario.priority,
        "times": scenario.times,
        "uses": uses,
        "sequence": len(scenario.replies) if scenario.sequence else None,
        "conditions": [c.name for c in scenario.conditions],
    }


def setup_admin(app: web.Application) -> None:
    """Mount the control API on ``app`` (built by ``create_app``, which holds the state)."""
    # Imported here: app.py imports this module to mount it, and the state key lives there.
    from .app import STATE

    def guarded(handler: StateHandler) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            _authorize(request, state.settings)
            return await handler(request, state)

        run.__doc__ = handler.__doc__
        return run

    routes = [
        ("GET", "/health", _health),
        ("GET", "/requests", _list_requests),
        ("DELETE", "/requests", _clear_requests),
        ("GET", "/scenarios", _list_scenarios),
        ("POST", "/scenarios", _add_scenarios),
        ("DELETE", "/scenarios", _reset_scenarios),
        ("DELETE", "/scenarios/{name}", _remove_scenario),
        ("POST", "/reset", _reset),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, ADMIN_PREFIX + path, guarded(handler))


def _authorize(request: web.Request, settings: Settings) -> None:
    token = settings.admin_token
    if not token:
        if not is_loopback(settings.host):
            # Off, and indistinguishable from an unknown path, so it cannot be probed.
            raise NotFoundError(
                f"No route for {request.method} {request.path}. The control API is off on a "
                "server bound beyond loopback; set MOCKLLM_ADMIN_TOKEN (--admin-token) to "
                "enable it.")
        return
    sent = request.headers.get(hdrs.AUTHORIZATION, "")
    credential = bearer_token(sent) or ""
    # compare_digest: the time taken must not reveal how much of the token was right.
    if not hmac.compare_digest(credential.encode(), token.encode()):
        raise UnauthorizedError(
            "The control API needs Authorization: Bearer <admin token>"
            + (" (the token sent is wrong)." if sent else "."),
            headers={"WWW-Authenticate": 'Bearer realm="mockllm"'})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=wire.dumps(data), status=status, content_type="application/json")


async def _health(request: web.Request, state: ServerState) -> web.Response:
    """Liveness, with how many scenarios and journal entries the server holds."""
    return _json({"status": "ok", "scenarios": len(state.scenarios.scenarios),
                  "journal": len(state.journal), "journal_size": state.journal.size,
                  "strict": state.scenarios.strict, "seed": state.settings.seed})


async def _list_requests(request: web.Request, state: ServerState) -> web.Response:
    """The journal, newest first, filtered by the query parameters."""
    query = JournalQuery.from_params(request.query)
    limit_text = request.query.get("limit")
    if limit_text is not None and not limit_text.isdigit():
        raise BadRequestError(f"limit must be a whole number, not {limit_text!r}.",
                              param="limit")
    found = state.journal.query(query, newest_first=True,
                                limit=int(limit_text) if limit_text is not None else None)
    return _json({"requests": [e.to_json() for e in found], "count": len(found),
                  "total": len(state.journal)})


async def _clear_requests(request: web.Request, state: ServerState) -> web.Response:
    """Forget every journal entry."""
    return _json({"cleared": state.journal.clear()})


async def _list_scenarios(request: web.Request, state: ServerState) -> web.Response:
    """The scenarios in resolution order."""
    scenarios: ScenarioSet = state.scenarios
    return _json({"scenarios": [scenario_summary(s, scenarios.uses(s.name))
                                for s in scenarios.scenarios]})


async def _add_scenarios(request: web.Request, state: ServerState) -> web.Response:
    """Add the scenarios of a JSON or YAML document (validated like a scenario file)."""
    raw = await request.read()
    if not raw.strip():
        raise BadRequestError("Send a scenario document (JSON or YAML) in the body.")
    data: Any
    if request.content_type in _YAML_TYPES:
        data = raw.decode("utf-8", "replace")
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestError(
                f"The scenario document is not valid JSON ({exc}); send YAML with "
                "Content-Type: application/yaml.", error_code="SerializationException") from None
    try:
        loaded = load_scenario_data(data, "POST /__mockllm/scenarios",
                                    max_reply_chars=state.settings.max_reply_chars)
    except ConfigError as exc:
        raise BadRequestError(f"Invalid scenario: {exc}", error_code="InvalidScenario") from None
    for scenario in loaded:
        state.scenarios.add(scenario)
    return _json({"added": [s.name for s in loaded]}, status=201)


async def _reset_scenarios(request: web.Request, state: ServerState) -> web.Response:
    """Back to the loaded scenarios, every count at zero."""
    state.scenarios.reset()
    return _json({"scenarios": len(state.scenarios.scenarios)})


async def _remove_scenario(request: web.Request, state: ServerState) -> web.Response:
    """Remove one scenario by name."""
    name = request.match_info["name"]
    if not state.scenarios.remove(name):
        known = ", ".join(s.name for s in state.scenarios.scenarios[:20]) or "none"
        raise NotFoundError(f"No scenario named {name!r} (known: {known}).",
                            error_code="ScenarioNotFound")
    return _json({"removed": name})


async def _reset(request: web.Request, state: ServerState) -> web.Response:
    """Forget the journal and every use count, sequence position and conversation."""
    return _json({"reset": True, "cleared": state.reset()})
