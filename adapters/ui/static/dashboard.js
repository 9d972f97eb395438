// Model Manager dashboard: polls GET /v1/status every second and renders it. No build step.
// /v1/status needs the admin token: open /ui#token=<token> (the fragment never leaves the browser),
// or type it when asked; it is kept in this tab's sessionStorage and sent as a Bearer header.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

function bytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %";
}

function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return s.toFixed(0) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  if (s < 86400) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;  // text only: keys come from clients and upstreams
  if (cls) td.className = cls;
  return td;
}

function progressCell(row, fill) {
  const td = cell(row, "", "progress");
  const label = document.createElement("div");
  label.className = "fill-written";
  label.dataset.written = String(fill.written);
  const pct = fill.size ? " (" + (100 * fill.written / fill.size).toFixed(1) + " %)" : "";
  label.textContent = bytes(fill.written) + " / " + (fill.size === null ? "unknown size" : bytes(fill.size)) + pct;
  const bar = document.createElement("div");
  bar.className = "bar";
  const inner = document.createElement("div");
  inner.style.width = fill.size ? Math.min(100, 100 * fill.written / fill.size).toFixed(1) + "%" : "0";
  bar.appendChild(inner);
  td.append(label, bar);
}

function renderCache(cache) {
  $("cache-used").textContent = bytes(cache.used_bytes);
  const quota = cache.quota_bytes;
  if (quota === null || quota === undefined) {
    $("cache-quota").textContent = "no quota · " + cache.blobs + " blobs";
    $("cache-bar").style.width = "0";
  } else {
    const used = quota > 0 ? cache.used_bytes / quota : 0;
    $("cache-quota").textContent = "of " + bytes(quota) + " quota (" + percent(used) + ") · " + cache.blobs + " blobs";
    $("cache-bar").style.width = Math.min(100, used * 100).toFixed(1) + "%";
  }
}

function renderTraffic(nodes) {
  const sum = { total: 0, saved: 0, served: 0, upstream: 0, savedBytes: 0 };
  for (const node of nodes) {
    const t = node.traffic || {};
    sum.total += t.requests_total || 0;
    sum.saved += (t.hit_ratio || 0) * (t.requests_total || 0);
    sum.served += t.served_bytes || 0;
    sum.upstream += t.upstream_bytes || 0;
    sum.savedBytes += t.saved_bytes || 0;
  }
  $("hit-ratio").textContent = sum.total ? percent(sum.saved / sum.total) : "–";
  $("requests").textContent = sum.total + (sum.total === 1 ? " request" : " requests");
  $("saved").textContent = bytes(sum.savedBytes);
  $("served").textContent = bytes(sum.served) + " served, " + bytes(sum.upstream) + " from upstream";
}

function renderFills(nodes) {
  const body = $("fills").tBodies[0];
  body.replaceChildren();
  for (const node of nodes) {
    for (const fill of node.fills || []) {
      const row = body.insertRow();
      row.dataset.fillKey = fill.key;
      cell(row, node.node_id);
      cell(row, fill.key, "key");
      cell(row, fill.state);
      progressCell(row, fill);
      cell(row, fill.bytes_per_second ? bytes(fill.bytes_per_second) + "/s" : "–");
      cell(row, duration(fill.elapsed_seconds));
    }
  }
  $("fills-empty").style.display = body.rows.length ? "none" : "";
}

function renderPinned(pinned) {
  const list = $("pinned");
  list.replaceChildren();
  for (const item of pinned || []) {
    const li = document.createElement("li");
    li.textContent = item.name || [item.source, item.repo || item.bucket, item.revision || item.key]
      .filter(Boolean).join(" ") || JSON.stringify(item);
    list.appendChild(li);
  }
  $("pinned-empty").style.display = list.children.length ? "none" : "";
}

function targetText(target) {
  return Object.entries(target || {}).map(([k, v]) => k + "=" + v).join(" ") || "–";
}

function renderArtifacts(artifacts) {
  const body = $("artifacts").tBodies[0];
  body.replaceChildren();
  const info = artifacts || { count: 0, bytes: 0, stored: [], builds: [] };
  for (const build of info.builds || []) {
    const manifest = build.manifest || {};
    const row = body.insertRow();
    row.dataset.artifactKey = build.key;
    cell(row, (manifest.recipe || {}).name || "–");
    cell(row, targetText(manifest.target));
    cell(row, String((manifest.sources || []).length));
    const state = build.state + (build.worker ? " on " + build.worker : "") + (build.error ? ": " + build.error : "");
    cell(row, state, build.state === "failed" ? "bad" : "");
    cell(row, "–");
    cell(row, build.key.slice(0, 16), "key");
  }
  for (const artifact of info.stored || []) {
    const row = body.insertRow();
    row.dataset.artifactKey = artifact.key;
    cell(row, artifact.recipe.name);
    cell(row, targetText(artifact.target));
    cell(row, (artifact.names || []).join(", ") || String(artifact.sources.length));
    cell(row, "stored", "ok");
    cell(row, bytes(artifact.size));
    cell(row, artifact.key.slice(0, 16), "key");
  }
  $("artifacts-summary").textContent = info.count + " stored, " + bytes(info.bytes);
  $("artifacts-empty").style.display = body.rows.length ? "none" : "";
}

function renderNodes(nodes) {
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  for (const node of nodes) {
    const row = body.insertRow();
    row.dataset.nodeId = node.node_id;
    cell(row, node.node_id + (node.self ? " (this pod)" : ""));
    cell(row, node.advertise_url || "–");
    cell(row, node.mode || "–");
    cell(row, node.ready ? "ready" : "not ready", node.ready ? "ok" : "bad");
    cell(row, duration(node.uptime_seconds));
    cell(row, percent((node.traffic || {}).hit_ratio));
    cell(row, String((node.fills || []).length));
    cell(row, node.version || "–");
  }
}

function render(status) {
  $("node").textContent = "answered by " + status.node_id;
  $("updated").textContent = "updated " + new Date(status.generated_at * 1000).toLocaleTimeString();
  renderCache(status.cache);
  renderTraffic(status.nodes);
  renderFills(status.nodes);
  renderPinned(status.pinned);
  renderArtifacts(status.artifacts);
  renderNodes(status.nodes);
}

const TOKEN_KEY = "modelmanager-admin-token";

function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function askForToken() {
  if ($("login").style.display === "block") return;
  $("login").style.display = "block";
  $("token").focus();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("login").style.display = "none";
});

async function poll() {
  try {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch("/v1/status", { cache: "no-store", headers });
    if (response.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      askForToken();
      throw new Error("the admin token is missing or wrong");
    }
    if (!response.ok) throw new Error("GET /v1/status: HTTP " + response.status);
    render(await response.json());
    $("error").style.display = "none";
  } catch (err) {
    $("error").textContent = "Cannot show the status: " + err.message;
    $("error").style.display = "block";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

takeTokenFromFragment();
poll();
