// mockllm's journal view: the control API's event stream, rendered. No dependencies.
//
// Rows arrive from GET /__mockllm/requests/stream (a snapshot, then batches); they are
// queued and put on the page once per animation frame, so a burst of requests costs one
// layout. Opening a row fetches its full exchange from GET /__mockllm/requests/{id}.
"use strict";

(() => {
  const base = location.pathname.replace(/\/ui\/?$/, "");
  const token = new URLSearchParams(location.search).get("token");
  const auth = token ? { Authorization: "Bearer " + token } : {};
  const NONE = "\u0000none";  // the scenario filter's value for "no scenario answered"

  const $ = (id) => document.getElementById(id);
  const list = $("rows");
  const empty = $("empty");
  const status = $("status");
  const count = $("count");
  const detailBody = $("detail-body");
  const detailTitle = $("detail-title");
  const filters = {
    text: $("f-text"), scenario: $("f-scenario"), status: $("f-status"),
    model: $("f-model"), path: $("f-path"),
  };

  // request_id -> {row, el, text}; rows on the page, newest first in the DOM.
  const entries = new Map();
  let cap = 1000;           // the server's journal size, from the snapshot
  let pending = [];         // rows received, not yet on the page (oldest first)
  let frame = 0;            // the scheduled animation frame, 0 when none
  let selected = null;      // the open row's entry
  let active = null;        // the entry whose row takes Tab (roving tabindex)
  const seen = { scenario: new Set(), model: new Set(), path: new Set(), status: new Set() };

  // ------------------------------------------------------------------ helpers

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "text") node.textContent = value;
        else if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function api(method, path) {
    return fetch(base + path, { method, headers: auth }).then((r) => {
      if (!r.ok) throw new Error(method + " " + path + ": " + r.status);
      return r.json();
    });
  }

  function clock(seconds) {
    const d = new Date(seconds * 1000);
    const two = (n) => String(n).padStart(2, "0");
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) +
      "." + String(d.getMilliseconds()).padStart(3, "0");
  }

  function ms(value) {
    return value < 10 ? value.toFixed(2) + " ms" : value < 1000 ? value.toFixed(1) + " ms"
      : (value / 1000).toFixed(2) + " s";
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  // What a row's notes column says: one badge per thing worth noticing, most telling first.
  function badges(row) {
    const out = [];
    const tags = row.tags || {};
    if (row.invalid) out.push(["invalid", "invalid ×" + row.invalid]);
    if (row.unmatched) out.push(["unmatched", "no match"]);
    if (tags.fault) out.push(["fault", "fault: " + tags.fault]);
    if (tags.rate_limit || row.status === 429) out.push(["rate", "rate-limited"]);
    if (tags.disconnected && !tags.fault) out.push(["gone", "disconnected"]);
    if (tags.recorded) out.push(["recorded", "recorded"]);
    if (tags.forwarded) out.push(["recorded", "forwarded"]);
    if (row.stream) out.push(["stream", "stream"]);
    return out;
  }

  // ------------------------------------------------------------------ filters

  function addOption(select, kind, value, label) {
    if (seen[kind].has(value)) return;
    seen[kind].add(value);
    const option = el("option", { value, text: label || value });
    // Keep options sorted after "any".
    const after = [...select.options].slice(1).find((o) => o.value > value);
    select.insertBefore(option, after || null);
  }

  function noteOptions(row) {
    addOption(filters.scenario, "scenario", row.scenario === null ? NONE : row.scenario,
      row.scenario === null ? "(none)" : row.scenario);
    if (row.model) addOption(filters.model, "model", row.model);
    addOption(filters.path, "path", row.path);
    addOption(filters.status, "status", String(row.status));
  }

  function currentFilter() {
    return {
      text: filters.text.value.trim().toLowerCase(),
      scenario: filters.scenario.value,
      status: filters.status.value,
      model: filters.model.value,
      path: filters.path.value,
    };
  }

  function matches(entry, f) {
    const row = entry.row;
    if (f.scenario && (f.scenario === NONE ? row.scenario !== null : row.scenario !== f.scenario)) return false;
    if (f.status) {
      if (f.status.endsWith("xx") ? String(row.status)[0] !== f.status[0] : String(row.status) !== f.status) return false;
    }
    if (f.model && row.model !== f.model) return false;
    if (f.path && row.path !== f.path) return false;
    if (f.text && !entry.text.includes(f.text)) return false;
    return true;
  }

  // The rows the filters let through, newest first: the list shows a window of these.
  let view = [];

  function applyFilters() {
    const f = currentFilter();
    view = [];
    for (const entry of entries.values()) if (matches(entry, f)) view.push(entry);
    view.reverse();  // the Map is oldest first
    if (active && !view.includes(active)) active = null;
    draw();
  }

  function showCount() {
    const total = entries.size;
    const shown = view.length;
    count.textContent = shown === total ? total + (total === 1 ? " request" : " requests")
      : shown + " of " + total + " requests";
    empty.hidden = total > 0;
    document.body.dataset.rows = String(total);
    document.body.dataset.shown = String(shown);
  }

  let filterFrame = 0;
  function scheduleFilter() {
    if (!filterFrame) filterFrame = requestAnimationFrame(() => { filterFrame = 0; applyFilters(); });
  }
  for (const input of Object.values(filters)) {
    input.addEventListener(input.tagName === "INPUT" ? "input" : "change", scheduleFilter);
  }
  $("filters").addEventListener("submit", (event) => event.preventDefault());

  // ------------------------------------------------------------------ rows
  //
  // A virtual list: only the rows in (and near) the scrolled window are in the document,
  // each at its place in a list as tall as all of them, so a full journal filters,
  // scrolls and takes a burst without laying out a thousand rows.

  const scroller = $("scroller");
  const ROW_H = parseFloat(getComputedStyle(list).getPropertyValue("--row-h")) || 30;
  const SPARE = 10;  // rows drawn beyond each edge of the window

  function rowElement(row) {
    const statusClass = "s" + String(row.status)[0];
    const button = el("button", { type: "button", class: "row", "data-id": row.request_id, tabindex: "-1" },
      el("span", { class: "mono c-time", text: clock(row.time) }),
      el("span", { class: "c-method", text: row.method }),
      el("span", { class: "mono c-path", text: row.path, title: row.path }),
      el("span", { class: "c-model" + (row.model ? "" : " none"), text: row.model || "–" }),
      el("span", { class: "c-status " + statusClass, text: String(row.status) }),
      el("span", { class: "c-scenario" + (row.scenario ? "" : " none"), text: row.scenario || "(none)" }),
      el("span", { class: "num c-dur", text: ms(row.duration_ms) }),
      el("span", { class: "c-notes", title: badges(row).map((b) => b[1]).join(", ") || null },
        ...badges(row).map(([kind, label]) => el("span", { class: "badge " + kind, text: label }))),
    );
    return el("li", null, button);
  }

  // Put the window's rows (and the keyboard's row, wherever it is) in the document.
  function draw() {
    const total = view.length;
    list.style.height = total * ROW_H + "px";
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - SPARE);
    const last = Math.min(total, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW_H) + SPARE);
    const drawn = [];
    const place = (entry, index) => {
      const node = entry.el;
      node.style.top = index * ROW_H + "px";
      node.setAttribute("aria-posinset", String(index + 1));
      node.setAttribute("aria-setsize", String(total));
      drawn.push(node);
    };
    const activeAt = active ? view.indexOf(active) : -1;
    if (activeAt >= 0 && activeAt < first) place(active, activeAt);
    for (let i = first; i < last; i++) place(view[i], i);
    if (activeAt >= last) place(active, activeAt);
    if (!active && total) setActive(view[0]);
    list.replaceChildren(...drawn);
    showCount();
  }

  let scrollFrame = 0;
  scroller.addEventListener("scroll", () => {
    if (!scrollFrame) scrollFrame = requestAnimationFrame(() => { scrollFrame = 0; draw(); });
  });
  window.addEventListener("resize", () => draw());

  function enqueue(rows) {
    for (const row of rows) pending.push(row);
    if (!frame) frame = requestAnimationFrame(flush);
  }

  // Take every queued row in one go; drop the oldest past the cap; draw once.
  function flush() {
    frame = 0;
    const batch = pending.length > cap ? pending.slice(-cap) : pending;
    pending = [];
    const f = currentFilter();
    const fresh = [];
    for (const row of batch) {
      if (entries.has(row.request_id)) continue;
      const entry = { row, el: rowElement(row), text: (row.text || "").toLowerCase() };
      entries.set(row.request_id, entry);
      noteOptions(row);
      if (matches(entry, f)) fresh.push(entry);
    }
    if (!fresh.length && entries.size <= cap) { if (batch.length) showCount(); return; }
    let dropped = false;
    for (const [id, entry] of entries) {  // oldest first
      if (entries.size <= cap) break;
      entries.delete(id);
      if (entry === active) active = null;
      dropped = true;
    }
    fresh.reverse();
    view = dropped ? fresh.concat(view).filter((e) => entries.has(e.row.request_id)) : fresh.concat(view);
    // Someone reading further down keeps their rows in place as new ones arrive on top.
    if (scroller.scrollTop > 0) scroller.scrollTop += fresh.length * ROW_H;
    draw();
    scheduleScenarios();
  }

  function clearRows() {
    pending = [];
    entries.clear();
    view = [];
    active = null;
    draw();
  }

  // ------------------------------------------------------------------ keyboard

  // The row that takes Tab: the list is one tab stop, arrows move within it.
  function setActive(entry) {
    if (active && active !== entry) active.el.firstChild.tabIndex = -1;
    active = entry;
    if (entry) entry.el.firstChild.tabIndex = 0;
  }

  function focusAt(index) {
    const entry = view[Math.max(0, Math.min(view.length - 1, index))];
    if (!entry) return;
    setActive(entry);
    const at = view.indexOf(entry) * ROW_H;
    if (at < scroller.scrollTop) scroller.scrollTop = at;
    else if (at + ROW_H > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = at + ROW_H - scroller.clientHeight;
    draw();
    entry.el.firstChild.focus({ preventScroll: true });
  }

  list.addEventListener("keydown", (event) => {
    if (!event.target.closest(".row") || !active) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_H) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    const at = view.indexOf(active);
    if (event.key in moves) focusAt(at + moves[event.key]);
    else if (event.key === "Home") focusAt(0);
    else if (event.key === "End") focusAt(view.length - 1);
    else return;  // Enter and Space press the button itself
    event.preventDefault();
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".row");
    if (!button) return;
    const entry = entries.get(button.dataset.id);
    if (entry) setActive(entry);
    open(button.dataset.id);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && active && $("detail").contains(document.activeElement)) {
      active.el.firstChild.focus();
    }
  });

  // ------------------------------------------------------------------ detail

  function section(title, ...content) {
    return [el("h3", { text: title }), ...content];
  }

  function table(head, rows) {
    return el("table", null,
      el("thead", null, el("tr", null, ...head.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", null, ...rows.map((cells) => el("tr", null, ...cells.map((c) => el("td", { text: c }))))));
  }

  // One chunk in a few words: the delta of each choice, its finish, the usage.
  function deltaText(chunk) {
    const out = [];
    for (const choice of chunk.choices || []) {
      const delta = choice.delta || {};
      const prefix = (chunk.choices.length > 1 ? "[" + choice.index + "] " : "");
      for (const [key, value] of Object.entries(delta)) {
        if (value === null || value === undefined || (key === "content" && value === "" && delta.role)) continue;
        out.push(prefix + (key === "content" ? JSON.stringify(value) : key + ": " + (typeof value === "string" ? value : JSON.stringify(value))));
      }
      if (choice.finish_reason) out.push(prefix + "finish: " + choice.finish_reason);
    }
    if (chunk.usage) out.push("usage: " + JSON.stringify(chunk.usage));
    return out.join("  ") || "(empty delta)";
  }

  function describeMiss(miss) {
    if (typeof miss !== "object" || miss === null) return el("div", { class: "miss", text: String(miss) });
    const failed = miss.failed || [];
    return el("div", { class: "miss" },
      el("strong", { text: miss.scenario || miss.name || "?" }),
      miss.source ? el("span", { class: "none", text: " (" + miss.source + ")" }) : null,
      el("ul", null, ...failed.map((f) => {
        const reason = String(f.reason || "");
        // Reasons usually start with their condition's name; name it when they do not.
        return el("li", null, f.condition && !reason.startsWith(f.condition)
          ? el("code", { text: f.condition + ": " }) : null, document.createTextNode(reason));
      })));
  }

  function render(x) {
    const parts = [];
    parts.push(el("p", { class: "summary" },
      el("strong", { class: "mono", text: x.method + " " + x.path }), document.createTextNode(" → "),
      el("strong", { class: "s" + String(x.status)[0], text: String(x.status) }),
      document.createTextNode(" · " + clock(x.time) + " · " + ms(x.duration_ms) + " · "),
      el("code", { text: x.request_id })));
    parts.push(...section("Request body", el("pre", { "data-part": "body",
      text: x.body !== null ? pretty(x.body) : (x.raw_body || "(no body)") })));
    if (x.field_errors.length) {
      parts.push(...section("Field errors", el("div", { "data-part": "field-errors" },
        table(["param", "error", "message"], x.field_errors.map((e) => [e.param || e.fieldName || "", e.errorCode || "", e.message || ""])))));
    }
    if (x.scenario) {
      parts.push(...section("Scenario", el("p", { "data-part": "scenario" }, el("strong", { text: x.scenario }))));
    } else {
      const misses = x.near_misses || [];
      parts.push(...section(misses.length ? "No scenario matched: the nearest" : "Scenario",
        el("div", { "data-part": "near-misses" },
          ...(misses.length ? misses.map(describeMiss) : [el("p", { class: "none", text: "(none)" })]))));
    }
    if (x.error) parts.push(...section("Error", el("p", { text: x.error + (x.error_code ? " (" + x.error_code + ")" : "") })));
    if (x.chunks) {
      let last = 0;
      parts.push(...section("Stream: " + x.chunks.length + " chunks",
        el("ol", { class: "chunks", "data-part": "chunks" }, ...x.chunks.map((c) => {
          const at = c.at_ms === null ? "" : c.at_ms.toFixed(1) + " ms";
          const gap = c.at_ms === null ? "" : "+" + (c.at_ms - last).toFixed(1);
          if (c.at_ms !== null) last = c.at_ms;
          return el("li", null, el("span", { class: "mono at", text: at }),
            el("span", { class: "mono gap", text: gap }), el("code", { text: deltaText(c.chunk) }));
        })),
        el("details", null, el("summary", { text: "The chunks as sent (JSON)" }),
          el("pre", { "data-part": "raw-chunks", text: x.chunks.map((c) => JSON.stringify(c.chunk)).join("\n") }))));
    } else if (x.response !== null) {
      parts.push(...section("Reply body", el("pre", { "data-part": "reply", text: pretty(x.response) })));
    } else if (x.stream) {
      const at = (x.tags.chunks || {}).at_ms;
      const noted = Array.isArray(at) ? at : [];
      parts.push(...section("Stream", el("p", { "data-part": "chunks",
        text: "Cut short after " + noted.length + " chunks" + (noted.length ? " (last at " + noted[noted.length - 1].toFixed(1) + " ms)" : "") })));
    }
    const headers = Object.entries(x.reply_headers || {});
    parts.push(...section("Reply headers", el("div", { "data-part": "reply-headers" },
      headers.length ? table(["header", "value"], headers) : el("p", { class: "none", text: "(none)" }))));
    const tags = Object.fromEntries(Object.entries(x.tags || {}).filter(([k]) => k !== "chunks"));
    if (Object.keys(tags).length) parts.push(...section("Tags", el("pre", { "data-part": "tags", text: pretty(tags) })));
    parts.push(...section("Request headers", table(["header", "value"], Object.entries(x.headers || {}))));
    detailTitle.textContent = "Request #" + x.seq;
    detailBody.replaceChildren(...parts);
  }

  let opening = 0;
  function open(id) {
    if (selected) selected.el.firstChild.removeAttribute("aria-current");
    selected = entries.get(id) || null;
    if (selected) selected.el.firstChild.setAttribute("aria-current", "true");
    const ticket = ++opening;
    api("GET", "/requests/" + encodeURIComponent(id)).then((x) => {
      if (ticket === opening) render(x);
    }).catch(() => {
      if (ticket !== opening) return;
      detailTitle.textContent = "Request";
      detailBody.replaceChildren(el("p", { class: "hint", text: "That request is no longer in the journal." }));
    });
  }

  // ------------------------------------------------------------------ scenarios

  let scenariosTimer = 0;
  function scheduleScenarios() {
    if (!scenariosTimer) scenariosTimer = setTimeout(loadScenarios, 500);
  }

  function loadScenarios() {
    scenariosTimer = 0;
    return api("GET", "/scenarios").then((data) => {
      const body = $("scenarios").tBodies[0];
      body.replaceChildren(...data.scenarios.map((s) => el("tr", null,
        el("td", { title: s.description || s.source || "", text: s.name }),
        el("td", { class: "num", text: String(s.uses) }),
        el("td", { class: "num", text: s.times === null ? "∞" : String(s.times) }))));
      for (const s of data.scenarios) addOption(filters.scenario, "scenario", s.name);
    }).catch(() => {});
  }

  // ------------------------------------------------------------------ actions

  function action(button, method, path) {
    button.addEventListener("click", () => {
      button.disabled = true;
      api(method, path).then(() => {
        clearRows();
        loadScenarios();
        status.textContent = button.textContent + ": done";
      }).catch((error) => {
        status.textContent = String(error.message);
      }).finally(() => { button.disabled = false; });
    });
  }
  action($("clear"), "DELETE", "/requests");
  action($("reset"), "POST", "/reset");

  // ------------------------------------------------------------------ the stream

  function connect() {
    const source = new EventSource(base + "/requests/stream" + (token ? "?token=" + encodeURIComponent(token) : ""));
    source.addEventListener("open", () => {
      status.textContent = "live";
      status.classList.add("live");
    });
    source.addEventListener("error", () => {
      status.textContent = "reconnecting…";
      status.classList.remove("live");
    });
    source.addEventListener("snapshot", (event) => {
      const data = JSON.parse(event.data);
      cap = data.journal_size || cap;
      clearRows();
      enqueue(data.requests);
      document.body.dataset.ready = "true";
    });
    source.addEventListener("exchanges", (event) => enqueue(JSON.parse(event.data)));
    source.addEventListener("cleared", () => { clearRows(); scheduleScenarios(); });
  }

  draw();
  loadScenarios();
  connect();
})();
