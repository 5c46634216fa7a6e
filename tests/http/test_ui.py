"""The browser view (``/__mockllm/ui``) driven in a real headless browser.

Debian's chromium, driven by Playwright with the system browser: nothing is downloaded
at test time. Without chromium (or Playwright) these tests skip with a note; CI sets
``REQUIRE_BROWSER=1``, which turns the skip into a failure. Each state the tests reach is
kept as a screenshot under ``test-artifacts/ui/`` (git-ignored).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from mockllm.config import Settings
from mockllm.http.app import AppParts
from mockllm.server import MockLLMServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# How long a new exchange may take to show up: the "within a second".
LIVE_S = 1.0
# Chromium takes a core while it runs: these tests and the wall-clock timing tests share
# one xdist worker, in turn (tests/http/test_timing_faults.py).
pytestmark = pytest.mark.xdist_group("wall-clock")


def _missing(message: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (REQUIRE_BROWSER=1: CI must run the browser tests)")
    pytest.skip(
        f"{message}: the browser view's tests need Debian's chromium "
        "(apt-get install chromium) and the playwright package"
    )


def _chromium_path() -> str:
    for candidate in (
        os.environ.get("MOCKLLM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    _missing("no chromium found")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per module (and xdist worker)."""
    executable = _chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


def _tab(browser: Any, *, bypass_csp: bool) -> Iterator[Any]:
    """A fresh tab; any script error (or policy violation) on the page fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=bypass_csp)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()
    # A server stopped before its tab closes: the page's reconnect attempt is expected.
    assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e] == []


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A tab for tests that wait on page expressions: Playwright evaluates those in the
    page, which the page's own content security policy forbids, so it is bypassed here
    (``strict_page`` runs the page under it)."""
    yield from _tab(browser, bypass_csp=True)


@pytest.fixture()
def strict_page(browser: Any) -> Iterator[Any]:
    """A tab that keeps the page's content security policy in force."""
    yield from _tab(browser, bypass_csp=False)


def _server(parts: AppParts, **settings: Any) -> MockLLMServer:
    return MockLLMServer(Settings(port=0, **settings), parts=parts).start()


@pytest.fixture()
def server(mockllm_parts: AppParts) -> Iterator[MockLLMServer]:
    running = _server(mockllm_parts)
    yield running
    running.stop()


def shot(page: Any, name: str) -> None:
    """Keep what the page looks like now, as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_ui(page: Any, server: MockLLMServer) -> None:
    page.goto(f"{server.url}/__mockllm/ui")
    page.wait_for_selector("body[data-ready=true]")


def client(server: MockLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def ask(server: MockLLMServer, text: str, **extra: Any) -> str:
    """One chat completion through the openai SDK; returns its request id."""
    raw = client(server).chat.completions.with_raw_response.create(
        model=extra.pop("model", "gpt-4o-mini"),
        messages=[{"role": "user", "content": text}],
        **extra,
    )
    if extra.get("stream"):
        list(raw.parse())
    return str(raw.headers["x-request-id"])


def add_scenarios(server: MockLLMServer, *scenarios: dict[str, Any]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(
        "POST",
        "/__mockllm/scenarios",
        json.dumps({"scenarios": scenarios}),
        {"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    assert response.status == 201, response.read()
    connection.close()


def rows(page: Any) -> int:
    return int(page.get_attribute("body", "data-rows"))


def shown(page: Any) -> int:
    return int(page.get_attribute("body", "data-shown"))


def row(request_id: str) -> str:
    return f'.row[data-id="{request_id}"]'


# --------------------------------------------------------------------------- live


def test_requests_from_the_openai_sdk_appear_live(strict_page: Any, server: MockLLMServer) -> None:
    page = strict_page  # and the page works under its own policy (no inline eval, no fetch)
    open_ui(page, server)
    page.evaluate("window.__sameDocument = 42")
    shot(page, "01-empty")
    started = time.perf_counter()
    first = ask(server, "Hello from the SDK")
    page.wait_for_selector(row(first), timeout=LIVE_S * 1000)
    appeared = time.perf_counter() - started
    assert appeared < LIVE_S
    second = ask(server, "Tell me a story", stream=True)
    page.wait_for_selector(row(second), timeout=LIVE_S * 1000)
    assert page.evaluate("window.__sameDocument") == 42  # no reload
    assert rows(page) == 2
    newest = page.locator(".row").first
    assert newest.get_attribute("data-id") == second  # newest first
    assert "stream" in newest.inner_text()
    assert "200" in newest.inner_text() and "default" in newest.inner_text()
    page.wait_for_selector('#scenarios tr:has(td:text-is("default")) td:text-is("2")')
    shot(page, "02-live")


def test_opening_a_row_shows_its_body_scenario_reply_and_headers(
    page: Any, server: MockLLMServer
) -> None:
    add_scenarios(
        server,
        {
            "name": "story",
            "when": {"last_user_message": {"contains": "story"}},
            "reply": {
                "content": "Once upon a time there was a mock.",
                "timing": {"tokens_per_second": 200},
            },
        },
    )
    plain = ask(server, "Hello, what is the weather?")
    ask(server, "nothing", model="gpt-4o")
    streamed = ask(server, "Tell me a story", stream=True)
    open_ui(page, server)
    page.click(row(plain))
    body = page.locator("[data-part=body]")
    body.wait_for()
    assert '"content": "Hello, what is the weather?"' in body.inner_text()
    assert page.locator("[data-part=scenario]").inner_text() == "default"
    reply = json.loads(page.locator("[data-part=reply]").inner_text())
    assert reply["object"] == "chat.completion"
    headers = page.locator("[data-part=reply-headers]").inner_text()
    assert "x-request-id" in headers and plain in headers and "application/json" in headers
    shot(page, "03-detail")

    page.click(row(streamed))
    chunks = page.locator("[data-part=chunks] li")
    chunks.first.wait_for()
    texts = chunks.all_inner_texts()
    assert len(texts) > 5
    assert "role: assistant" in texts[0]
    assert "finish: stop" in texts[-1]
    assert '"Once"' in texts[1]  # the first token of the scripted content
    page.click("summary")  # the chunks as sent, in full
    raw = page.locator("[data-part=raw-chunks]").inner_text()
    assert raw.count('"object":"chat.completion.chunk"') == len(texts)
    times = [float(t.split(" ms")[0]) for t in texts]
    assert times == sorted(times) and times[-1] > times[1]  # paced: later chunks later
    assert page.locator("[data-part=scenario]").inner_text() == "story"
    assert "text/event-stream" in page.locator("[data-part=reply-headers]").inner_text()
    shot(page, "04-stream")


def test_a_strict_miss_shows_the_near_misses_and_what_failed(
    page: Any, mockllm_parts: AppParts
) -> None:
    strict = _server(mockllm_parts, strict=True)
    try:
        add_scenarios(
            strict,
            {
                "name": "greeting",
                "when": {"last_user_message": {"contains": "hello"}},
                "reply": {"content": "Hi!"},
            },
            {
                "name": "farewell",
                "when": {"model": "gpt-4o", "last_user_message": {"contains": "bye"}},
                "reply": {"content": "Bye!"},
            },
        )
        open_ui(page, strict)
        with pytest.raises(openai.APIStatusError) as missed:
            ask(strict, "good morning")
        request_id = missed.value.response.headers["x-request-id"]
        page.wait_for_selector(row(request_id), timeout=LIVE_S * 1000)
        assert "no match" in page.locator(row(request_id)).inner_text()
        page.click(row(request_id))
        misses = page.locator("[data-part=near-misses]")
        misses.wait_for()
        text = misses.inner_text()
        assert "greeting" in text and "farewell" in text
        assert "hello" in text and "bye" in text  # the conditions that failed
        assert "No scenario matched" in page.locator("#detail").inner_text()
        shot(page, "05-near-misses")
    finally:
        strict.stop()


def test_with_an_admin_token_the_page_takes_it_from_its_address(
    page: Any, mockllm_parts: AppParts
) -> None:
    guarded = _server(mockllm_parts, admin_token="s3cret")
    try:
        page.goto(f"{guarded.url}/__mockllm/ui?token=s3cret")
        page.wait_for_selector("body[data-ready=true]")
        request_id = ask(guarded, "behind a token")
        page.wait_for_selector(row(request_id), timeout=LIVE_S * 1000)
        page.click(row(request_id))  # GET /requests/{id} with the token as a header
        page.locator("[data-part=body]").wait_for()
        page.wait_for_selector('#scenarios td:text-is("default")')
        page.click("#clear")
        page.wait_for_function("document.body.dataset.rows === '0'")
    finally:
        guarded.stop()


# --------------------------------------------------------------------------- filters


def test_the_filters_narrow_the_list(page: Any, server: MockLLMServer) -> None:
    add_scenarios(
        server,
        {
            "name": "beta",
            "when": {"last_user_message": {"contains": "beta"}},
            "reply": {"content": "B"},
        },
    )
    ask(server, "alpha question")
    ask(server, "beta question", model="gpt-4o")
    ask(server, "gamma question")
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gpt-4o-mini", messages=[])
    client(server).models.list()
    open_ui(page, server)
    assert rows(page) == shown(page) == 5

    def narrowed(selector: str, value: str, expected: int) -> None:
        if selector == "#f-text":
            page.fill(selector, value)
        else:
            page.select_option(selector, value)
        page.wait_for_function(f"document.body.dataset.shown === '{expected}'")
        assert page.locator(".rows > li:not([hidden])").count() == expected

    narrowed("#f-model", "gpt-4o", 1)
    assert "beta" in page.locator(".rows > li:not([hidden])").inner_text()
    narrowed("#f-model", "", 5)
    narrowed("#f-status", "4xx", 1)
    narrowed("#f-status", "200", 4)
    narrowed("#f-scenario", "beta", 1)
    narrowed("#f-scenario", "default", 2)
    narrowed("#f-path", "/v1/models", 0)  # 200 + default + /v1/models: none
    narrowed("#f-scenario", "", 1)
    narrowed("#f-path", "", 4)
    narrowed("#f-status", "", 5)
    narrowed("#f-text", "GAMMA", 1)  # message text, any case
    assert "of 5 requests" in page.locator("#count").inner_text()
    shot(page, "06-filtered")
    narrowed("#f-text", "question", 3)
    narrowed("#f-text", "", 5)


def test_reset_and_clear_empty_the_list(page: Any, server: MockLLMServer) -> None:
    for n in range(3):
        ask(server, f"question {n}")
    open_ui(page, server)
    assert rows(page) == 3
    page.wait_for_function(
        "[...document.querySelectorAll('#scenarios td')].some(td => td.textContent === '3')"
    )
    page.click("#reset")
    page.wait_for_function("document.body.dataset.rows === '0'")
    assert page.locator("#empty").is_visible()
    page.wait_for_function(
        "![...document.querySelectorAll('#scenarios td.num')].some(td => td.textContent === '3')"
    )
    assert server.call(lambda: server.state.store.journal_count()) == 0
    shot(page, "07-reset")
    later = ask(server, "after the reset")
    page.wait_for_selector(row(later), timeout=LIVE_S * 1000)
    page.click("#clear")
    page.wait_for_function("document.body.dataset.rows === '0'")
    # Cleared elsewhere (a test's reset, curl): the page follows.
    again = ask(server, "once more")
    page.wait_for_selector(row(again), timeout=LIVE_S * 1000)
    server.call(lambda: server.state.reset())
    page.wait_for_function("document.body.dataset.rows === '0'")


# --------------------------------------------------------------------------- load


class Sender:
    """Chat requests over one keep-alive connection, as fast as asked."""

    def __init__(self, server: MockLLMServer) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def send(self, text: str, model: str = "gpt-4o-mini") -> None:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
        self.connection.request(
            "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        response.read()
        assert response.status == 200


def _filter_ms(page: Any, text: str) -> float:
    """Milliseconds from typing a search to the filtered list on screen (two frames)."""
    return float(
        page.evaluate(
            """async (text) => {
        const t0 = performance.now();
        const input = document.getElementById('f-text');
        input.value = text;
        input.dispatchEvent(new Event('input'));
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        return performance.now() - t0;
    }""",
            text,
        )
    )


def test_a_full_journal_and_a_burst_stay_responsive(
    page: Any, server: MockLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = Sender(server)
    for n in range(1000):
        sender.send(
            f"filler {n}" + (" needle" if n % 100 == 0 else ""),
            model="gpt-4o" if n % 10 == 0 else "gpt-4o-mini",
        )
    started = time.perf_counter()
    open_ui(page, server)
    page.wait_for_function("document.body.dataset.rows === '1000'")
    load_s = time.perf_counter() - started
    quiet_ms = _filter_ms(page, "needle")
    assert shown(page) == 10
    _filter_ms(page, "")

    # 100 requests a second for two seconds, while the page is filtered and watched.
    page.evaluate("""() => {
        window.__gaps = [];
        let last = performance.now();
        const tick = (now) => { window.__gaps.push(now - last); last = now;
                                if (!window.__stop) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }""")
    done = threading.Event()

    def burst() -> None:
        burster = Sender(server)
        begin = time.perf_counter()
        for n in range(200):
            pause = begin + n / 100 - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            burster.send(f"burst {n}")
        done.set()

    thread = threading.Thread(target=burst)
    thread.start()
    time.sleep(0.5)
    busy_ms = [_filter_ms(page, "burst"), _filter_ms(page, "needle"), _filter_ms(page, "")]
    thread.join(30)
    assert done.is_set()
    burst_end = time.perf_counter()
    page.fill("#f-text", "burst 199")  # the last of the burst is there
    page.wait_for_function("document.body.dataset.shown === '1'", timeout=LIVE_S * 1000)
    caught_up_s = time.perf_counter() - burst_end
    gaps = page.evaluate("window.__stop = true; window.__gaps")
    worst_frame = max(gaps[1:])
    page.fill("#f-text", "")
    shot(page, "08-full-journal")
    assert rows(page) == 1000  # capped at the journal's size: the oldest went
    with capsys.disabled():
        print(
            f"\n  browser view: 1000-row snapshot on screen in {load_s * 1000:.0f} ms; "
            f"filter quiet {quiet_ms:.0f} ms, during a 100 req/s burst "
            f"{max(busy_ms):.0f} ms (worst); longest frame {worst_frame:.0f} ms; "
            f"caught up {caught_up_s * 1000:.0f} ms after the burst"
        )
    # Wide tolerances: shared CI cores. The point is no freeze, not a benchmark.
    assert load_s < 5.0
    assert quiet_ms < 500 and max(busy_ms) < 1000
    assert worst_frame < 1000
    assert caught_up_s < 2.0


# --------------------------------------------------------------------------- accessibility

_CONTRAST = """() => {
    const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
        const c = [r, g, b].map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const background = (el) => {
        for (let node = el; node; node = node.parentElement) {
            const [r, g, b, a] = rgb(getComputedStyle(node).backgroundColor);
            if (a === undefined || a > 0) return [r, g, b];
        }
        return [255, 255, 255];
    };
    const found = [];
    let checked = 0;
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.getClientRects().length) continue;
        const style = getComputedStyle(el);
        if (style.visibility === 'hidden' || el.closest('[hidden], .sr-only')) continue;
        const fg = luminance(rgb(style.color)), bg = luminance(background(el));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        checked++;
        if (ratio < 4.5) found.push(el.tagName + '.' + el.className + ' "' +
            el.textContent.trim().slice(0, 30) + '": ' + ratio.toFixed(2));
    }
    return {checked, found};
}"""


def test_accessibility_labels_contrast_and_keyboard(page: Any, server: MockLLMServer) -> None:
    add_scenarios(
        server,
        {
            "name": "cut",
            "when": {"last_user_message": {"contains": "cut"}},
            "reply": {"fault": {"kind": "disconnect", "after_chunks": 2}},
        },
    )
    ids = [ask(server, f"question {n}") for n in range(4)]
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="gpt-4o-mini", messages=[])
    with pytest.raises(openai.APIConnectionError):
        ask(server, "cut me off", stream=True)
    streamed = ask(server, "a stream", stream=True)
    open_ui(page, server)

    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.getAttribute('aria-labelledby'))
        .map((el) => el.id || el.outerHTML)""")
    assert unlabelled == []
    nameless = page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter((b) => !b.textContent.trim() && !b.getAttribute('aria-label'))
        .map((b) => b.outerHTML)""")
    assert nameless == []
    assert page.get_attribute("html", "lang") == "en"

    # Keyboard: Tab reaches the list (one stop), arrows move through it, Enter opens.
    focused = ""
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.className")
        if focused == "row":
            break
    assert focused == "row"
    first = page.evaluate("document.activeElement.dataset.id")
    assert first == streamed  # the newest
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    second = page.evaluate("document.activeElement.dataset.id")
    assert second not in {first, ""}
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.dataset.id") == ids[0]  # the oldest
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.id") == second
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.getElementById('detail').textContent.includes('{second}')")
    assert page.get_attribute(row(second), "aria-current") == "true"
    shot(page, "09-keyboard")
    page.keyboard.press("Shift+Tab")  # the list is one tab stop: back to the filters
    assert page.evaluate("document.activeElement.className") != "row"

    # Contrast of every piece of text on the page, with badges and a detail open.
    result = page.evaluate(_CONTRAST)
    assert result["checked"] > 50
    assert result["found"] == []
