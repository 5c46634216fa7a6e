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
  let selected = null;      // request_id of the open row
  let active = null;        // the row button that takes Tab (roving tabindex)
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

  // What a row's notes column says: one badge per thing worth noticing.
  function badges(row) {
    const out = [];
    const tags = row.tags || {};
    if (row.invalid) out.push(["invalid", "invalid ×" + row.invalid]);
    if (row.unmatched) out.push(["unmatched", "no match"]);
    if (row.stream) out.push(["stream", "stream"]);
    if (tags.fault) out.push(["fault", "fault: " + tags.fault]);
    if (tags.rate_limit || row.status === 429) out.push(["rate", "rate-limited"]);
    if (tags.recorded) out.push(["recorded", "recorded"]);
    if (tags.forwarded) out.push(["recorded", "forwarded"]);
    if (tags.disconnected) out.push(["gone", "disconnected"]);
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

  function applyFilters() {
    const f = currentFilter();
    let shown = 0;
    for (const entry of entries.values()) {
      const visible = matches(entry, f);
      if (entry.el.hidden === visible) entry.el.hidden = !visible;
      if (visible) shown++;
    }
    if (active && active.parentElement.hidden) setActive(list.querySelector("li:not([hidden]) > .row"), false);
    showCount(shown);
  }

  function showCount(shown) {
    const total = entries.size;
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

  function rowElement(row) {
    const statusClass = "s" + String(row.status)[0];
    const button = el("button", {
      type: "button", class: "row", "data-id": row.request_id, tabindex: "-1",
      "aria-current": row.request_id === selected ? "true" : false,
    },
      el("span", { class: "mono c-time", text: clock(row.time) }),
      el("span", { class: "c-method", text: row.method }),
      el("span", { class: "mono c-path", text: row.path, title: row.path }),
      el("span", { class: "c-model" + (row.model ? "" : " none"), text: row.model || "–" }),
      el("span", { class: "c-status " + statusClass, text: String(row.status) }),
      el("span", { class: "c-scenario" + (row.scenario ? "" : " none"), text: row.scenario || "(none)" }),
      el("span", { class: "num c-dur", text: ms(row.duration_ms) }),
      el("span", { class: "c-notes" }, ...badges(row).map(([kind, label]) => el("span", { class: "badge " + kind, text: label }))),
    );
    return el("li", null, button);
  }

  function enqueue(rows) {
    for (const row of rows) pending.push(row);
    if (!frame) frame = requestAnimationFrame(flush);
  }

  // Put every queued row on the page in one go, newest first; drop the oldest past the cap.
  function flush() {
    frame = 0;
    const batch = pending.length > cap ? pending.slice(-cap) : pending;
    pending = [];
    if (!batch.length) return;
    const f = currentFilter();
    const fragment = document.createDocumentFragment();
    let added = 0;
    for (let i = batch.length - 1; i >= 0; i--) {
      const row = batch[i];
      if (entries.has(row.request_id)) continue;
      const node = rowElement(row);
      const entry = { row, el: node, text: (row.text || "").toLowerCase() };
      entries.set(row.request_id, entry);
      node.hidden = !matches(entry, f);
      noteOptions(row);
      fragment.append(node);
      added++;
    }
    if (!added) return;
    list.prepend(fragment);
    // The Map is in arrival order: its first keys are the oldest rows.
    for (const [id, entry] of entries) {
      if (entries.size <= cap) break;
      entry.el.remove();
      entries.delete(id);
    }
    if (!active || !active.isConnected) setActive(list.querySelector("li:not([hidden]) > .row"), false);
    let shown = 0;
    for (const entry of entries.values()) if (!entry.el.hidden) shown++;
    showCount(shown);
    scheduleScenarios();
  }

  function clearRows() {
    pending = [];
    entries.clear();
    list.replaceChildren();
    active = null;
    showCount(0);
  }

  // ------------------------------------------------------------------ keyboard

  function setActive(button, focus) {
    if (active && active !== button) active.tabIndex = -1;
    active = button;
    if (!button) return;
    button.tabIndex = 0;
    if (focus) button.focus();
  }

  function visibleRows() {
    return [...list.querySelectorAll("li:not([hidden]) > .row")];
  }

  list.addEventListener("keydown", (event) => {
    const current = event.target.closest(".row");
    if (!current) return;
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    let target = null;
    if (event.key in moves) {
      const rows = visibleRows();
      const at = rows.indexOf(current);
      target = rows[Math.max(0, Math.min(rows.length - 1, at + moves[event.key]))];
    } else if (event.key === "Home") {
      target = list.querySelector("li:not([hidden]) > .row");
    } else if (event.key === "End") {
      const rows = visibleRows();
      target = rows[rows.length - 1];
    } else {
      return;  // Enter and Space press the button itself
    }
    event.preventDefault();
    if (target) setActive(target, true);
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".row");
    if (!button) return;
    setActive(button, false);
    open(button.dataset.id);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && active && $("detail").contains(document.activeElement)) {
      active.focus();
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

  function describeMiss(miss) {
    if (typeof miss !== "object" || miss === null) return el("div", { class: "miss", text: String(miss) });
    const failed = miss.failed || [];
    return el("div", { class: "miss" },
      el("strong", { text: miss.scenario || miss.name || "?" }),
      miss.source ? el("span", { class: "none", text: " (" + miss.source + ")" }) : null,
      el("ul", null, ...failed.map((f) => el("li", null,
        el("code", { text: f.condition || "" }), document.createTextNode(": " + (f.reason || ""))))));
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
          const gap = c.at_ms === null ? "" : " (+" + (c.at_ms - last).toFixed(1) + ")";
          if (c.at_ms !== null) last = c.at_ms;
          return el("li", null, el("span", { class: "mono at", text: at, title: "since the request arrived" + gap }),
            el("code", { text: JSON.stringify(c.chunk) }));
        }))));
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
    selected = id;
    for (const current of list.querySelectorAll('.row[aria-current="true"]')) current.removeAttribute("aria-current");
    const entry = entries.get(id);
    if (entry) entry.el.firstChild.setAttribute("aria-current", "true");
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

  showCount(0);
  loadScenarios();
  connect();
})();
