// Dtab playground: asks /delegator.json and draws the delegation tree. The branch binding would
// take is marked "chosen": in an alt the first branch that is not neg (a fail stops the alt),
// in a union every branch that is not neg or fail.
'use strict';
let routers = [];

function outcome(n) {
  switch (n.type) {
    case 'leaf': case 'empty': return 'ok';
    case 'neg': return 'neg';
    case 'fail': case 'exception': return 'fail';
    case 'delegate': return outcome(n.delegate);
    case 'transformation': return outcome(n.tree);
    case 'alt': {
      for (const b of n.alt) { const o = outcome(b); if (o !== 'neg') return o; }
      return 'neg';
    }
    case 'union': return n.union.some((w) => outcome(w.tree) === 'ok') ? 'ok' : 'neg';
    default: return 'neg';
  }
}

function children(n) {
  switch (n.type) {
    case 'delegate': return [{ tree: n.delegate, chosen: true }];
    case 'transformation': return [{ tree: n.tree, chosen: true }];
    case 'alt': {
      let picked = false;
      return n.alt.map((t) => {
        const o = outcome(t);
        const chosen = !picked && o !== 'neg';
        if (chosen) picked = true;
        return { tree: t, chosen };
      });
    }
    case 'union': return n.union.map((w) => ({ tree: w.tree, weight: w.weight, chosen: outcome(w.tree) === 'ok' }));
    default: return [];
  }
}

function label(n, weight) {
  let html = weight === undefined ? '' : `<span class="weight">${mesh.esc(weight)}×</span>`;
  html += `<span class="type">${mesh.esc(n.type)}</span><code>${mesh.esc(n.path ?? '')}</code>`;
  if (n.type === 'leaf' && n.bound) {
    const a = n.bound.addr || {};
    const addrs = a.type === 'bound' ? (a.addrs || []).map((x) => `${x.ip}:${x.port}`).join(', ') || 'no endpoints' : a.type;
    html += ` → <code>${mesh.esc(n.bound.id)}</code>${n.bound.path && n.bound.path !== '/' ? ` residual <code>${mesh.esc(n.bound.path)}</code>` : ''} <span class="muted">[${mesh.esc(addrs)}]</span>`;
  }
  if (n.type === 'transformation') html += ` <span class="muted">via ${mesh.esc(n.name)}</span>`;
  if (n.type === 'exception') html += ` <span class="bad">${mesh.esc(n.message)}</span>`;
  if (n.dentry) html += `<span class="dentry mono">${mesh.esc(n.dentry.prefix)} => ${mesh.esc(n.dentry.dst)}</span>`;
  return html;
}

function draw(n, chosen, weight) {
  const li = document.createElement('li');
  const box = document.createElement('span');
  box.className = 'node' + (chosen ? ' chosen' : '');
  box.dataset.type = n.type;
  box.innerHTML = label(n, weight);
  li.appendChild(box);
  const kids = children(n);
  if (kids.length) {
    const ul = document.createElement('ul');
    for (const k of kids) ul.appendChild(draw(k.tree, chosen && k.chosen, k.weight));
    li.appendChild(ul);
  }
  return li;
}

function showBase() {
  const r = routers.find((x) => x.label === document.getElementById('router').value);
  document.getElementById('base').textContent = r && r.dtab ? r.dtab.split(';').map((s) => s.trim()).filter(Boolean).join(';\n') : '–';
}

async function delegate(ev) {
  if (ev) ev.preventDefault();
  const err = document.getElementById('error'), result = document.getElementById('result');
  const q = new URLSearchParams({ path: document.getElementById('path').value.trim(), dtab: document.getElementById('dtab').value });
  const ns = document.getElementById('router').value;
  if (ns) q.set('namespace', ns);
  history.replaceState(null, '', '/delegator?' + q.toString());
  try {
    const tree = await mesh.json('/delegator.json?' + q.toString());
    err.hidden = true;
    const ul = document.getElementById('tree');
    ul.replaceChildren(draw(tree, true));
    result.hidden = false;
  } catch (e) {
    result.hidden = true;
    err.textContent = e.message;
    err.hidden = false;
  }
}

async function init() {
  mesh.nav('delegator');
  const sel = document.getElementById('router');
  try { routers = await mesh.json('/admin/routers.json'); } catch (e) { routers = []; }
  for (const r of routers) {
    const o = document.createElement('option');
    o.value = o.textContent = r.label;
    sel.appendChild(o);
  }
  const params = new URLSearchParams(location.search);
  if (params.get('namespace')) sel.value = params.get('namespace');
  if (params.get('path')) document.getElementById('path').value = params.get('path');
  if (params.get('dtab')) document.getElementById('dtab').value = params.get('dtab');
  showBase();
  sel.addEventListener('change', showBase);
  document.getElementById('play').addEventListener('submit', delegate);
  if (params.get('path')) delegate();
}
// Other pages (namerd's namespace page) include this file for draw(); only the playground runs init.
if (document.getElementById('play')) init();
