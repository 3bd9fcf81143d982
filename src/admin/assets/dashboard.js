// Live router view: polls /admin/metrics.json?tree=1 and /client_state.json once a second.
// Reads Linkerd's scopes: rt/<router>/server/<ip/port>/{requests,success,failures,request_latency_ms},
// rt/<router>/client/<id>/{requests,success,failures,request_latency_ms,loadbalancer/{size,available},
// failure_accrual/{removals,revivals,removed_for_ms}}.
'use strict';
const HISTORY = 60;
const views = new Map(); // router label -> view with element refs and history

function num(node, ...path) {
  let n = node;
  for (const p of path) { if (!n || typeof n !== 'object') return undefined; n = n[p]; }
  if (!n || typeof n !== 'object') return undefined;
  return n.counter ?? n.gauge;
}
function stat(node, name, field) {
  const s = node && node[name];
  return s ? s['stat.' + field] : undefined;
}

function statBox(label, key) {
  return `<div class="stat"><div class="label">${label}</div><div class="value" data-k="${key}">–</div>` +
    `<svg viewBox="0 0 100 30" preserveAspectRatio="none" data-g="${key}"><polyline/></svg></div>`;
}

function makeView(label) {
  const el = document.createElement('section');
  el.className = 'card router';
  el.dataset.router = label;
  el.innerHTML = `<h2>router <code>${mesh.esc(label)}</code></h2><div class="stats">` +
    statBox('requests / s', 'rate') + statBox('success rate', 'sr') + statBox('p50 ms', 'p50') +
    statBox('p95 ms', 'p95') + statBox('p99 ms', 'p99') + '</div>' +
    '<h3>clients</h3><table><thead><tr><th>client</th><th>requests / s</th><th>success</th><th>p99 ms</th>' +
    '<th>lb size</th><th>lb available</th><th>failure accrual</th><th>endpoints</th></tr></thead><tbody></tbody></table>';
  document.getElementById('routers').appendChild(el);
  const v = { el, last: null, hist: { rate: [], sr: [], p50: [], p95: [], p99: [] }, clients: new Map(), tbody: el.querySelector('tbody') };
  views.set(label, v);
  return v;
}

function set(v, key, text, value) {
  v.el.querySelector(`[data-k="${key}"]`).textContent = text;
  const h = v.hist[key];
  h.push(value === undefined || Number.isNaN(value) ? 0 : value);
  if (h.length > HISTORY) h.shift();
  mesh.spark(v.el.querySelector(`[data-g="${key}"]`), h);
}

function sumServers(servers, name) {
  let total = 0;
  for (const s of Object.values(servers || {})) total += num(s, name) || 0;
  return total;
}
function maxServers(servers, name, field) {
  let m;
  for (const s of Object.values(servers || {})) { const x = stat(s, name, field); if (x !== undefined) m = Math.max(m ?? 0, x); }
  return m;
}

function updateRouter(label, rt, clientState, now) {
  const v = views.get(label) || makeView(label);
  const servers = rt.server || {};
  const cur = { t: now, requests: sumServers(servers, 'requests'), success: sumServers(servers, 'success') };
  let rate = 0, sr;
  if (v.last) {
    const dt = (now - v.last.t) / 1000, dr = cur.requests - v.last.requests;
    rate = dt > 0 ? dr / dt : 0;
    if (dr > 0) sr = (cur.success - v.last.success) / dr;
  }
  if (sr === undefined && cur.requests > 0) sr = cur.success / cur.requests;
  v.last = cur;
  set(v, 'rate', mesh.fmt(rate, 1), rate);
  set(v, 'sr', sr === undefined ? '–' : mesh.fmt(sr * 100, 2) + '%', sr === undefined ? 0 : sr * 100);
  for (const q of ['p50', 'p95', 'p99']) {
    const x = maxServers(servers, 'request_latency_ms', q);
    set(v, q, mesh.fmt(x), x);
  }
  v.el.dataset.requests = String(cur.requests);
  updateClients(v, rt.client || {}, clientState, now);
}

function updateClients(v, clients, clientState, now) {
  for (const [id, c] of Object.entries(clients)) {
    let row = v.clients.get(id);
    if (!row) {
      const tr = document.createElement('tr');
      tr.dataset.client = id;
      tr.innerHTML = '<td><code></code></td><td></td><td></td><td></td><td></td><td></td><td></td><td class="mono"></td>';
      tr.cells[0].firstChild.textContent = id;
      v.tbody.appendChild(tr);
      row = { tr, last: null };
      v.clients.set(id, row);
    }
    const requests = num(c, 'requests') || 0, success = num(c, 'success') || 0;
    let rate = 0;
    if (row.last) { const dt = (now - row.last.t) / 1000; rate = dt > 0 ? (requests - row.last.requests) / dt : 0; }
    row.last = { t: now, requests };
    const fa = c.failure_accrual || {};
    const removed = num(fa, 'removed_for_ms');
    const state = clientState['/' + id] || clientState[id];
    const cells = row.tr.cells;
    cells[1].textContent = mesh.fmt(rate, 1);
    cells[2].textContent = requests > 0 ? mesh.fmt((success / requests) * 100, 2) + '%' : '–';
    cells[3].textContent = mesh.fmt(stat(c, 'request_latency_ms', 'p99'));
    cells[4].textContent = mesh.fmt(num(c, 'loadbalancer', 'size'));
    cells[5].textContent = mesh.fmt(num(c, 'loadbalancer', 'available'));
    cells[6].textContent = `removals ${mesh.fmt(num(fa, 'removals') || 0)} · revivals ${mesh.fmt(num(fa, 'revivals') || 0)}` +
      (removed ? ` · removed ${mesh.fmt(removed)} ms` : '');
    cells[7].textContent = state ? (state.addresses && state.addresses.length ? state.addresses.join(' ') : state.state) : '–';
  }
}

async function tick() {
  const status = document.getElementById('status');
  try {
    const [tree, clientState] = await Promise.all([
      mesh.json('/admin/metrics.json?tree=1'),
      mesh.json('/client_state.json').catch(() => ({})),
    ]);
    const now = Date.now();
    const rts = tree.rt || {};
    for (const [label, rt] of Object.entries(rts)) updateRouter(label, rt, clientState, now);
    status.textContent = Object.keys(rts).length === 0 ? 'no routers have reported metrics yet' : `updated ${new Date(now).toLocaleTimeString()}`;
  } catch (e) {
    status.textContent = 'metrics unavailable: ' + e.message;
  }
}

mesh.nav('dashboard');
tick();
setInterval(tick, 1000);
