// The plant view's pages: plain JavaScript, no build step. Live updates come as server-sent
// events (/api/live); time travel folds the log on the server (/api/state-at) and shows it
// marked as history until "Back to live".
"use strict";

const PAGE = document.body.dataset.page;
const ASSET = PAGE === "asset" ? decodeURIComponent(location.pathname.split("/").pop()) : null;
const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmtTime = (t) => (t == null ? "-" : new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23) + " UTC");
const fmtValue = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v ?? "-"));

let live = true;
let skew = 0; // server clock minus this browser's, from the last message that carried "now"
const tiles = {}; // asset id -> tile (live)
let commands = {}; // command id -> ledger entry (live)
let pending = null; // the operator command this page sent and waits for

function token() { return sessionStorage.getItem("factory-token") || ""; }

// ---- overview ---------------------------------------------------------------------------

function tileHtml(t) {
  const tags = t.tags.map((g) => `<tr data-tag="${esc(g.tag)}"><td>${esc(g.tag)}</td>` +
    `<td class="value">${esc(fmtValue(g.value))}${g.unit ? " " + esc(g.unit) : ""}</td>` +
    `<td class="small">${esc(g.quality ?? "")}</td></tr>`).join("");
  const counts = Object.entries(t.counts || {}).map(([s, n]) => `${esc(s)} ${n}`).join(", ") || "none";
  const faults = t.faults.length ? `<ul class="faults">${t.faults.map((f) => `<li>${esc(f)}</li>`).join("")}</ul>` : "";
  return `<section class="tile h-${esc(t.health)}" id="tile-${esc(t.asset_id)}" data-asset="${esc(t.asset_id)}" data-health="${esc(t.health)}">
    <h2><a href="/asset/${encodeURIComponent(t.asset_id)}">${esc(t.asset_id)}</a> <span class="small">${esc(t.type)}</span></h2>
    <div>machine: <span class="state machine-state">${esc(t.machine_state ?? "—")}</span>,
      connection: <span class="state connection">${esc(t.connection ?? "unknown")}</span>, mode ${esc(t.mode)}</div>
    <div class="age small" data-last="${t.last_event_time ?? ""}"></div>
    ${faults}
    <table class="tags">${tags}</table>
    <div class="small">commands: <span class="counts">${counts}</span></div>
    <div class="small">answered by <span class="worker">${esc(t.worker ?? "-")}</span></div>
  </section>`;
}

function renderAges() {
  const now = Date.now() / 1000 + skew;
  document.querySelectorAll(".age").forEach((el) => {
    const last = parseFloat(el.dataset.last);
    if (isNaN(last)) { el.textContent = "no data yet"; return; }
    const age = now - last;
    el.textContent = live ? `last update ${age.toFixed(1)} s ago` : `last event ${fmtTime(last)}`;
    el.classList.toggle("stale", live && age > 10);
  });
}

function renderOverview(list) {
  if (PAGE !== "overview") return;
  $("#main").innerHTML = `<div class="grid">${list.map(tileHtml).join("")}</div>`;
  renderAges();
}

function updateTile(t) {
  tiles[t.asset_id] = t;
  if (!live) return;
  if (PAGE === "overview") {
    const old = document.getElementById("tile-" + t.asset_id);
    if (old) { old.outerHTML = tileHtml(t); renderAges(); } else renderOverview(Object.values(tiles));
  } else if (PAGE === "asset" && t.asset_id === ASSET) {
    const slot = $("#asset-tile");
    if (slot) { slot.innerHTML = tileHtml(t); renderAges(); }
  }
}

// ---- asset page -------------------------------------------------------------------------

function sparkline(points) {
  if (points.length < 2) return `<span class="small">not enough windows yet</span>`;
  const w = 240, h = 40, xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => ((x - x0) / (x1 - x0 || 1)) * (w - 4) + 2, sy = (y) => h - 2 - ((y - y0) / (y1 - y0 || 1)) * (h - 4);
  const path = points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  return `<svg class="trend" width="${w}" height="${h}" role="img" aria-label="trend"><polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="${path}"/></svg>
    <span class="small">${fmtValue(y0)} … ${fmtValue(y1)}</span>`;
}

// Other commands that reused this one's id (not applied): the row keeps the first, these are listed.
function conflictCell(c) {
  const n = (c.conflicting_digests || []).length;
  if (!n) return "<td></td>";
  const list = (c.conflicting || []).map((o) =>
    `${o.rule} ${o.action} ${o.asset_id}.${o.target} ${fmtValue(o.value)}`).join("; ");
  return `<td class="conflict error" title="${esc(list)}">id reused by ${n} other command${n > 1 ? "s" : ""}, not applied</td>`;
}

function commandRow(c, withAsset) {
  const latency = c.result_at != null && c.issued_at != null ? `${((c.result_at - c.issued_at) * 1000).toFixed(0)} ms` : "";
  const cause = c.cause_event_id && !c.cause_event_id.startsWith("request-")
    ? `<a href="/api/events/${encodeURIComponent(c.cause_event_id)}?topic=telemetry&asset=${encodeURIComponent(c.asset_id)}&near=${c.issued_at}" target="_blank">cause</a>`
    : `<span class="small">operator request</span>`;
  const results = (c.result_ids || []).map((id) =>
    `<a href="/api/events/${encodeURIComponent(id)}?topic=results&asset=${encodeURIComponent(c.asset_id)}&near=${c.result_at ?? c.issued_at}" target="_blank">result</a>`).join(" ");
  return `<tr data-command="${esc(c.command_id)}"><td class="small">${esc(fmtTime(c.issued_at))}</td>` +
    (withAsset ? `<td><a href="/asset/${encodeURIComponent(c.asset_id ?? "")}">${esc(c.asset_id)}</a></td>` : "") +
    `<td>${esc(c.rule)}</td><td>${esc(c.action)} ${esc(c.target)} ${esc(fmtValue(c.value))}</td>` +
    `<td class="status">${esc(c.status)}</td><td>${esc(fmtValue(c.readback))}</td><td>${latency}</td>` +
    conflictCell(c) +
    `<td class="small">${esc((c.detail || "").slice(0, 80))}</td><td>${cause} ${results}</td></tr>`;
}

const COMMAND_HEAD = (withAsset) => `<tr><th>issued</th>${withAsset ? "<th>asset</th>" : ""}<th>origin</th><th>what</th>` +
  `<th>result</th><th>read back</th><th>loop latency</th><th>conflicts</th><th>detail</th><th>links</th></tr>`;

function operatorForm(d) {
  const writes = d.writes.map((w) => `<option value="write:${esc(w.tag)}">write ${esc(w.tag)} (${esc(w.type)}${w.min != null ? ` ${w.min}…${w.max}` : ""})</option>`);
  const calls = d.methods.map((m) => `<option value="call:${esc(m.name)}">call ${esc(m.name)}(${esc(m.args.join(", "))})</option>`);
  return `<section class="panel"><h3>Operator command</h3>
    <form id="send"><select id="send-target">${writes.concat(calls).join("")}</select>
    <input id="send-value" placeholder="value (or arguments, comma-separated)" size="28">
    <button id="send-button" type="submit">Send</button></form>
    <div id="send-status" class="small"></div>
    <form id="mode-form">Mode: <b id="asset-mode">${esc(d.asset.mode)}</b>
      <button id="mode-manual" type="button" data-mode="manual">manual (rules stand aside, interlocks act)</button>
      <button id="mode-auto" type="button" data-mode="auto">auto</button> <span id="mode-status" class="small"></span></form>
    <p class="small">Goes through the command writer's allow-list, limits, deadline and ledger; recorded in the log under your operator name.</p></section>`;
}

async function loadAsset() {
  const seen = tiles[ASSET];
  const resp = await fetch(`/api/asset/${encodeURIComponent(ASSET)}`);
  const d = await resp.json();
  if (!resp.ok) { $("#main").innerHTML = `<p class="error">${esc(d.error)}</p>`; return; }
  skew = d.now - Date.now() / 1000;
  // A live update that arrived while this answer was on its way is newer than the answer.
  if (tiles[ASSET] !== seen && tiles[ASSET]) d.asset = tiles[ASSET]; else tiles[ASSET] = d.asset;
  d.commands.forEach(keepCommand);
  const trends = Object.entries(d.trends).filter(([, p]) => p.length)
    .map(([tag, p]) => `<tr><td>${esc(tag)}</td><td>${sparkline(p)}</td></tr>`).join("") || `<tr><td>no numeric windows yet</td></tr>`;
  const transitions = d.transitions.map((t) => `<tr><td class="small">${esc(fmtTime(t.event_time))}</td><td>${esc(t.kind)}</td>` +
    `<td>${esc(t.from_state ?? "")} → <b>${esc(t.to_state)}</b></td><td class="small">${esc(t.reason)}</td></tr>`).join("");
  $("#main").innerHTML = `<h1>${esc(ASSET)}</h1><div id="asset-tile">${tileHtml(d.asset)}</div>
    ${operatorForm(d)}
    <section class="panel"><h3>Trends (window means, newest ${esc(Object.values(d.trends)[0]?.length ?? 0)})</h3><table>${trends}</table></section>
    <section class="panel"><h3>Recent state transitions</h3><table>${transitions || "<tr><td>none in the recent log</td></tr>"}</table></section>
    <section class="panel"><h3>Recent commands</h3><table id="commands">${COMMAND_HEAD(false)}</table></section>`;
  renderCommands();
  renderAges();
  $("#send").addEventListener("submit", sendCommand);
  document.querySelectorAll("#mode-form button").forEach((b) => b.addEventListener("click", () => setAssetMode(b.dataset.mode)));
}

async function sendCommand(ev) {
  ev.preventDefault();
  const [action, target] = $("#send-target").value.split(":");
  const text = $("#send-value").value.trim();
  const body = action === "write" ? { asset: ASSET, action, target, value: text }
    : { asset: ASSET, action, target, args: text ? text.split(",").map((s) => s.trim()) : [] };
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const resp = await fetch("/api/commands", { method: "POST", headers, body: JSON.stringify(body) });
  const d = await resp.json();
  const status = $("#send-status");
  if (!resp.ok) { status.innerHTML = `<span class="error">refused (HTTP ${resp.status}): ${esc(d.error)}</span>`; return; }
  pending = d.command_id;
  status.innerHTML = `sent <code>${esc(d.command_id)}</code> as ${esc(d.operator)}; waiting for its result…`;
  showPending();
}

async function setAssetMode(mode) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const resp = await fetch("/api/mode", { method: "POST", headers, body: JSON.stringify({ asset: ASSET, mode, reason: "from the plant view" }) });
  const d = await resp.json();
  $("#mode-status").innerHTML = resp.ok ? `${esc(mode)} requested as ${esc(d.operator)}` : `<span class="error">refused (HTTP ${resp.status}): ${esc(d.error)}</span>`;
}

function showPending() {
  const c = pending && commands[pending];
  if (!c || c.status === "pending") return;
  $("#send-status").innerHTML = `<code>${esc(c.command_id)}</code>: <span class="result ${c.status === "applied" ? "ok" : "error"}">${esc(c.status)}</span>` +
    ` ${c.readback != null ? "read back " + esc(fmtValue(c.readback)) : ""} <span class="small">${esc(c.detail || "")}</span>`;
}

// ---- commands ---------------------------------------------------------------------------

// An entry fetched in bulk never replaces one a live update already brought (that one is newer).
function keepCommand(c) { if (!commands[c.command_id]) commands[c.command_id] = c; }

function renderCommands() {
  const table = $("#commands");
  if (!table) return;
  const f = PAGE === "commands" ? { asset: $("#f-asset").value, rule: $("#f-rule").value, status: $("#f-status").value } : { asset: ASSET };
  const rows = Object.values(commands)
    .filter((c) => (!f.asset || c.asset_id === f.asset) && (!f.rule || c.rule === f.rule) && (!f.status || c.status === f.status))
    .sort((a, b) => (b.issued_at ?? 0) - (a.issued_at ?? 0)).slice(0, 200);
  table.innerHTML = COMMAND_HEAD(PAGE === "commands") + rows.map((c) => commandRow(c, PAGE === "commands")).join("");
}

async function loadCommands() {
  $("#main").innerHTML = `<div class="filters"><input id="f-asset" placeholder="asset"><input id="f-rule" placeholder="rule or operator">
    <input id="f-status" placeholder="status (applied, rejected, …)"></div><table id="commands"></table>`;
  (await (await fetch("/api/commands?n=500")).json()).forEach(keepCommand);
  document.querySelectorAll(".filters input").forEach((el) => el.addEventListener("input", renderCommands));
  renderCommands();
}

// ---- live, history ----------------------------------------------------------------------

function connect() {
  const source = new EventSource("/api/live");
  source.addEventListener("snapshot", (e) => {
    const d = JSON.parse(e.data);
    skew = d.now - Date.now() / 1000;
    d.assets.forEach((t) => { tiles[t.asset_id] = t; });
    if (live) renderOverview(d.assets);
    if (live && PAGE === "asset" && tiles[ASSET]) updateTile(tiles[ASSET]);
    renderWorkers(d);
  });
  source.addEventListener("asset", (e) => updateTile(JSON.parse(e.data)));
  source.addEventListener("command", (e) => {
    const c = JSON.parse(e.data);
    commands[c.command_id] = c;
    if (PAGE !== "overview") renderCommands();
    if (c.command_id === pending) showPending();
  });
  source.addEventListener("workers", (e) => { const d = JSON.parse(e.data); skew = d.now - Date.now() / 1000; renderWorkers(d); });
}

function renderWorkers(d) {
  const down = Object.entries(d.unreachable || {}).map(([w, why]) => `<span class="error">${esc(w)} not answering (${esc(why)})</span>`);
  $("#workers").innerHTML = `workers: ${d.workers.map(esc).join(", ")} ${down.join(" ")}`;
}

function setMode(history, label) {
  live = !history;
  document.body.classList.toggle("history", history);
  $("#mode").className = "badge " + (history ? "history" : "live");
  $("#mode").textContent = history ? `HISTORY · ${label}` : "LIVE";
}

function travel(ev) {
  ev.preventDefault();
  const at = $("#at").value.trim();
  if (!at) return;
  $("#progress").textContent = "folding the log…";
  const source = new EventSource(`/api/state-at?t=${encodeURIComponent(at)}`);
  source.addEventListener("progress", (e) => {
    const p = JSON.parse(e.data);
    $("#progress").textContent = `folding the log: ${p.done} / ${p.total} events`;
  });
  source.addEventListener("result", (e) => {
    source.close();
    const d = JSON.parse(e.data);
    setMode(true, fmtTime(d.at));
    $("#progress").textContent = "";
    if (PAGE === "overview") renderOverview(d.assets);
    const mine = d.assets.find((t) => t.asset_id === ASSET);
    if (PAGE === "asset" && mine) { $("#asset-tile").innerHTML = tileHtml(mine); renderAges(); }
  });
  source.addEventListener("failed", (e) => { source.close(); $("#progress").innerHTML = `<span class="error">${esc(JSON.parse(e.data).error)}</span>`; });
  source.onerror = () => { source.close(); };
}

async function goLive() {
  setMode(false);
  if (PAGE === "overview") renderOverview(Object.values(tiles));
  if (PAGE === "asset") await loadAsset();
}

async function signIn(ev) {
  if (ev) ev.preventDefault();
  const typed = $("#token").value.trim();
  if (typed) sessionStorage.setItem("factory-token", typed);
  if (!token()) return;
  const resp = await fetch("/api/whoami", { headers: { Authorization: "Bearer " + token() } });
  const d = await resp.json();
  $("#who").innerHTML = resp.ok ? `signed in as <b id="operator">${esc(d.operator)}</b>` : `<span class="error">${esc(d.error)}</span>`;
  if (!resp.ok) sessionStorage.removeItem("factory-token");
  $("#token").value = "";
}

$("#travel").addEventListener("submit", travel);
$("#golive").addEventListener("click", goLive);
$("#login").addEventListener("submit", signIn);
setInterval(renderAges, 1000);
signIn();
if (PAGE === "asset") loadAsset();
if (PAGE === "commands") loadCommands();
connect();
