"""The control API under ``/__mockllm/``: read the journal, change scenarios, reset.

Routes (JSON in and out; errors in the app's usual error envelope)::

    GET    /__mockllm/health               {"status": "ok", scenarios, journal counts,
                                           worker, pid, state, recording}; 503 when the
                                           store is down. Without the right to call the
                                           API, only {"status": ...}: a probe's answer
    GET    /__mockllm/requests             newest first; ?scenario= &model= &path= &status=
                                           &method= &limit=
    DELETE /__mockllm/requests             forget the journal
    GET    /__mockllm/scenarios            the scenarios in resolution order, with use counts
    POST   /__mockllm/scenarios            add scenarios: a JSON or YAML scenario document
    DELETE /__mockllm/scenarios            back to the loaded scenarios (drops added ones)
    DELETE /__mockllm/scenarios/{name}     remove one scenario
    POST   /__mockllm/reset                journal, use counts, sequences, conversations
    GET    /__mockllm/ui                   the browser view of the journal (:mod:`.browser`,
                                           with /requests/stream and /requests/{id})

It is an aiohttp sub-app mounted at ``/__mockllm``; its middleware checks who calls.
Every handler reads and changes the state only through the app's scenario set and
its state store, so it works the same for one process or several sharing a store.

Who may call it: a server bound to a loopback address serves it to anyone who can
connect (that is the machine's own user). Bound beyond loopback it is off (404) unless
``Settings.admin_token`` is set. With a token set, every call must send
``Authorization: Bearer <token>`` (else 401), on loopback too; the browser view's page
and event stream also take it as ``?token=``, since a browser cannot send the header there.
The one exception is ``GET /health``: a container's health check or a load balancer
probes it without a token, and such a caller gets ``{"status": "ok"}`` (or
``"unavailable"`` with 503) and nothing else.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import hdrs, web

from ..config import Settings
from ..errors import BadRequestError, ConfigError, NotFoundError, UnauthorizedError
from ..journal import JournalQuery, select
from ..ratelimit import bearer_token
from ..scenario_engine.scenarioset import Scenario
from .browser import setup_browser, takes_query_token
from .context import state_of
from .middleware import CONTROL_PREFIX, json_response

__all__ = ["admin_enabled", "is_loopback", "scenario_summary", "setup_control"]

# Content types read as YAML; everything else must be JSON.
_YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The probe anyone may call (a container's health check): it answers only up or down.
_HEALTH_PATH = CONTROL_PREFIX + "/health"


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


def setup_control(app: web.Application) -> None:
    """Mount the control API on ``app`` (built by ``create_app``, which holds the state)."""
    control = web.Application(middlewares=[_guard])
    control.router.add_get("/health", _health)
    control.router.add_get("/requests", _list_requests)
    control.router.add_delete("/requests", _clear_requests)
    control.router.add_get("/scenarios", _list_scenarios)
    control.router.add_post("/scenarios", _add_scenarios)
    control.router.add_delete("/scenarios", _reset_scenarios)
    control.router.add_delete("/scenarios/{name}", _remove_scenario)
    control.router.add_post("/reset", _reset)
    setup_browser(app, control)
    app.add_subapp(CONTROL_PREFIX, control)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _authorize(request, state_of(request).settings)
    except (NotFoundError, UnauthorizedError):
        if request.method == "GET" and request.path == _HEALTH_PATH:
            return await _probe(request)
        raise
    return await handler(request)


def _authorize(request: web.Request, settings: Settings) -> None:
    token = settings.admin_token
    if not token:
        if not is_loopback(settings.host):
            # Off, and indistinguishable from an unknown path, so it cannot be probed.
            raise NotFoundError(
                f"No route for {request.method} {request.path}. The control API is off on a "
                "server bound beyond loopback; set MOCKLLM_ADMIN_TOKEN (--admin-token) to "
                "enable it."
            )
        return
    sent = request.headers.get(hdrs.AUTHORIZATION, "")
    credential = bearer_token(sent) or ""
    if not sent and request.method == "GET" and takes_query_token(request.path):
        sent = credential = request.query.get("token", "")
    # compare_digest: the time taken must not reveal how much of the token was right.
    if not hmac.compare_digest(credential.encode(), token.encode()):
        raise UnauthorizedError(
            "The control API needs Authorization: Bearer <admin token>"
            + (" (the token sent is wrong)." if sent else "."),
            headers={"WWW-Authenticate": 'Bearer realm="mockllm"'},
        )


async def _probe(request: web.Request) -> web.Response:
    """Liveness for a caller without the token: up or not, and nothing else."""
    ok = bool((await state_of(request).store.health()).get("ok"))
    return json_response({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)


async def _health(request: web.Request) -> web.Response:
    """Liveness, with how many scenarios and journal entries the server holds."""
    state = state_of(request)
    store = state.store
    health = await store.health()
    ok = bool(health.get("ok"))
    # A store that cannot be reached: 503, so a load balancer stops sending requests.
    return json_response(
        {
            "status": "ok" if ok else "unavailable",
            "scenarios": len(state.scenarios.scenarios),
            "journal": await store.journal_count() if ok else None,
            "journal_size": store.journal_size,
            "strict": state.scenarios.strict,
            "seed": state.settings.seed,
            "worker": state.worker,
            "pid": os.getpid(),
            "state": health,
            "recording": state.recording.describe() if state.recording else None,
        },
        status=200 if ok else 503,
    )


async def _list_requests(request: web.Request) -> web.Response:
    """The journal, newest first, filtered by the query parameters."""
    state = state_of(request)
    query = JournalQuery.from_params(request.query)
    limit_text = request.query.get("limit")
    if limit_text is not None and not limit_text.isdigit():
        raise BadRequestError(f"limit must be a whole number, not {limit_text!r}.", param="limit")
    entries = await state.store.exchanges()
    found = select(
        entries, query, newest_first=True, limit=int(limit_text) if limit_text is not None else None
    )
    return json_response(
        {"requests": [e.to_json() for e in found], "count": len(found), "total": len(entries)}
    )


async def _clear_requests(request: web.Request) -> web.Response:
    """Forget every journal entry."""
    state = state_of(request)
    return json_response({"cleared": await state.clear_journal()})


async def _list_scenarios(request: web.Request) -> web.Response:
    """The scenarios in resolution order."""
    state = state_of(request)
    uses = await state.scenarios.uses()
    return json_response(
        {"scenarios": [scenario_summary(s, uses.get(s.name, 0)) for s in state.scenarios.scenarios]}
    )


async def _add_scenarios(request: web.Request) -> web.Response:
    """Add the scenarios of a JSON or YAML document (validated like a scenario file)."""
    state = state_of(request)
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
                "Content-Type: application/yaml.",
                error_code="SerializationException",
            ) from None
    try:
        loaded = state.loader.load_data(data, "POST /__mockllm/scenarios")
    except ConfigError as exc:
        raise BadRequestError(f"Invalid scenario: {exc}", error_code="InvalidScenario") from None
    await state.scenarios.add(loaded)
    return json_response({"added": [s.name for s in loaded]}, status=201)


async def _reset_scenarios(request: web.Request) -> web.Response:
    """Back to the loaded scenarios, every count at zero."""
    state = state_of(request)
    await state.scenarios.reset()
    return json_response({"scenarios": len(state.scenarios.scenarios)})


async def _remove_scenario(request: web.Request) -> web.Response:
    """Remove one scenario by name."""
    state = state_of(request)
    name = request.match_info["name"]
    if not await state.scenarios.remove(name):
        known = ", ".join(s.name for s in state.scenarios.scenarios[:20]) or "none"
        raise NotFoundError(
            f"No scenario named {name!r} (known: {known}).", error_code="ScenarioNotFound"
        )
    return json_response({"removed": name})


async def _reset(request: web.Request) -> web.Response:
    """Forget the journal and every use count, sequence position and conversation."""
    state = state_of(request)
    return json_response({"reset": True, "cleared": await state.reset()})
