// The fleet page: renders /api/fleet (the central workers' answer) and fetches it again
// every refresh_s seconds. Text goes in through textContent only.
"use strict";

const KPIS = ["availability", "performance", "quality", "oee"];
let chosen = null; // the period start picked in the select (null: the newest)
let last = null; // the newest answer, rendered again when another period is picked

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function ratio(v) { return v === null || v === undefined ? "-" : v.toFixed(3); }
function utc(t) { return t === null || t === undefined ? "-" : new Date(t * 1000).toISOString().slice(0, 19).replace("T", " "); }

function fill(id, rows, columns) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.site = row.site;
    tr.dataset.type = row.type || "";
    for (const [key, fmt] of columns) cell(tr, fmt(row[key], row), key);
    body.appendChild(tr);
  }
}

function render(doc) {
  document.getElementById("read-at").textContent = doc.read_at ? `read ${utc(doc.read_at)} UTC` : "not read yet";
  const missing = Object.entries(doc.unreachable || {});
  document.getElementById("unreachable").textContent =
    missing.map(([site, why]) => `${site}: central worker not answering (${why})`).join("; ");
  const periods = doc.periods || [];
  const starts = [...new Set(periods.map((r) => r.start))].sort((a, b) => b - a);
  const select = document.getElementById("period");
  const keep = chosen !== null && starts.includes(chosen) ? chosen : null;
  select.replaceChildren(...starts.map((s) => {
    const o = document.createElement("option");
    o.value = String(s);
    o.textContent = utc(s);
    return o;
  }));
  const shown = keep !== null ? keep : starts[0];
  if (shown !== undefined) select.value = String(shown);
  const outcomes = (c) => Object.entries(c || {}).map(([k, n]) => `${k}=${n}`).join(" ") || "-";
  fill("periods", periods.filter((r) => r.start === shown),
       [["site", String], ["type", String], ["assets", String], ...KPIS.map((k) => [k, ratio]), ["commands", outcomes]]);
  fill("assets", doc.assets || [], [["site", String], ["asset", String], ["type", String],
       ["machine", (v) => v || "-"], ["connection", (v) => v || "-"], ["last_event_time", utc]]);
  const since = [];
  for (const [site, kinds] of Object.entries(doc.indicators || {})) {
    for (const [type, v] of Object.entries(kinds)) since.push({ site, type, ...v });
  }
  fill("since", since, [["site", String], ["type", String], ["assets", String], ...KPIS.map((k) => [k, ratio])]);
  document.getElementById("sites").textContent =
    (doc.sites || []).map((s) => `${s.site}: central worker on port ${s.central_web_port}`).join(" · ");
  document.body.dataset.loaded = doc.read_at ? "yes" : "no";
}

async function refresh() {
  let wait = 5;
  try {
    const response = await fetch("/api/fleet", { cache: "no-store" });
    last = await response.json();
    wait = last.refresh_s || wait;
    render(last);
  } catch (err) {
    document.getElementById("unreachable").textContent = `the fleet page's server does not answer: ${err}`;
  }
  setTimeout(refresh, wait * 1000);
}

document.getElementById("period").addEventListener("change", (e) => {
  chosen = Number(e.target.value);
  if (last) render(last);
});
refresh();
