// namerd's namespace page: lists /namespaces.json, edits one namespace's dtab (saved with its
// version, so a concurrent change is a 412 and nothing is overwritten) and explains paths with
// the edited dtab through /delegator.json, drawn by delegator.js's draw().
// Everything sits in one function so no name collides with delegator.js's globals.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { rows: [], selected: null, version: null, loaded: '' };
  let playSeq = 0;
  let playTimer;

  // Fetches and returns { status, data (parsed JSON or undefined), text }.
  async function call(method, url, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const text = await res.text();
    let data;
    try { data = JSON.parse(text); } catch (e) { data = undefined; }
    return { status: res.status, data, text };
  }

  const messageOf = (r) => (r.data && r.data.message) || r.text.trim() || `HTTP ${r.status}`;
  // One dentry per line reads better than the stored one-line form; ';' only ever separates dentries.
  const multiline = (dtab) => dtab.split(';').filter((s) => s.trim() !== '').join(';\n');

  const isDirty = () => state.selected !== null && $('dtab').value !== state.loaded;

  function show(el, text) {
    el.textContent = text;
    el.hidden = false;
  }

  function drawRows() {
    const body = $('rows');
    body.replaceChildren();
    for (const r of state.rows) {
      const tr = document.createElement('tr');
      tr.dataset.ns = r.namespace;
      if (r.namespace === state.selected) tr.className = 'selected';
      const dtab = r.error ? `<span class="bad">${mesh.esc(r.error.message)}</span>` : `<code>${mesh.esc(r.dtab)}</code>`;
      tr.innerHTML = `<td><a href="/?ns=${encodeURIComponent(r.namespace)}">${mesh.esc(r.namespace)}</a></td><td class="dtab">${dtab}</td><td class="version">${mesh.esc(r.version ?? '–')}</td>`;
      tr.addEventListener('click', (ev) => {
        ev.preventDefault();
        if (r.namespace === state.selected) return;
        if (isDirty() && !confirm(`Drop your unsaved changes to ${state.selected}?`)) return;
        select(r.namespace);
      });
      body.appendChild(tr);
    }
    $('none').hidden = state.rows.length !== 0;
  }

  async function load() {
    const r = await call('GET', '/namespaces.json');
    if (r.status !== 200) {
      show($('list-error'), messageOf(r));
      return false;
    }
    $('list-error').hidden = true;
    state.rows = r.data;
    drawRows();
    return true;
  }

  // Puts the namespace's stored dtab in the editor (dropping unsaved edits).
  function select(ns) {
    const row = state.rows.find((r) => r.namespace === ns);
    if (!row) {
      state.selected = null;
      $('workspace').hidden = true;
      history.replaceState(null, '', '/');
      drawRows();
      return;
    }
    state.selected = ns;
    state.version = row.version ?? null;
    state.loaded = row.error ? '' : multiline(row.dtab);
    $('ns-name').textContent = ns;
    $('ns-version').textContent = row.version ?? '–';
    $('dtab').value = state.loaded;
    $('dirty').hidden = true;
    $('saved').hidden = true;
    $('save-error').hidden = true;
    $('workspace').hidden = false;
    history.replaceState(null, '', '/?ns=' + encodeURIComponent(ns));
    drawRows();
    if ($('path').value.trim() !== '') explain();
  }

  async function reload() {
    const ns = state.selected;
    if (await load()) select(ns);
  }

  function saveError(message, stale) {
    $('save-message').textContent = message;
    $('reload').hidden = !stale;
    $('save-error').hidden = false;
    $('saved').hidden = true;
  }

  async function save() {
    const ns = state.selected;
    const r = await call('PUT', '/namespaces/save', { namespace: ns, dtab: $('dtab').value, version: state.version });
    if (r.status === 412) return saveError(`${ns} was changed by someone else since you loaded it; reload to see the new dtab (your edits are replaced).`, true);
    if (r.status !== 200) return saveError(messageOf(r), r.status === 404);
    $('save-error').hidden = true;
    await load();
    select(ns);
    show($('saved'), `saved as version ${r.data.version}`);
  }

  async function remove() {
    const ns = state.selected;
    if (!confirm(`Delete namespace ${ns}? Routers that use it lose their dtab.`)) return;
    const r = await call('POST', '/namespaces/delete', { namespace: ns, version: state.version });
    if (r.status === 412) return saveError(`${ns} was changed by someone else since you loaded it; reload before deleting.`, true);
    if (r.status !== 200) return saveError(messageOf(r), false);
    await load();
    select(null);
  }

  async function create(ev) {
    ev.preventDefault();
    const ns = $('new-ns').value.trim();
    const r = await call('POST', '/namespaces/create', { namespace: ns, dtab: '' });
    if (r.status !== 201) return show($('create-error'), messageOf(r));
    $('create-error').hidden = true;
    $('new-ns').value = '';
    await load();
    select(ns);
  }

  // Explains the path with the editor's dtab; only the newest answer is drawn.
  async function explain(ev) {
    if (ev) ev.preventDefault();
    clearTimeout(playTimer);
    const path = $('path').value.trim();
    if (path === '') return;
    const seq = ++playSeq;
    const r = await call('POST', '/delegator.json', { dtab: $('dtab').value, path });
    if (seq !== playSeq) return;
    const tree = $('tree');
    if (r.status !== 200) {
      tree.replaceChildren();
      show($('play-error'), messageOf(r));
      return;
    }
    $('play-error').hidden = true;
    tree.replaceChildren(draw(r.data, true));
  }

  function edited() {
    $('dirty').hidden = !isDirty();
    $('saved').hidden = true;
    clearTimeout(playTimer);
    playTimer = setTimeout(explain, 300);
  }

  async function init() {
    mesh.nav('namespaces');
    $('save').addEventListener('click', save);
    $('revert').addEventListener('click', () => select(state.selected));
    $('reload').addEventListener('click', reload);
    $('refresh').addEventListener('click', reload);
    $('delete').addEventListener('click', remove);
    $('create').addEventListener('submit', create);
    $('try').addEventListener('submit', explain);
    $('dtab').addEventListener('input', edited);
    const params = new URLSearchParams(location.search);
    if (params.get('path')) $('path').value = params.get('path');
    if (await load()) {
      const ns = params.get('ns');
      if (ns) select(ns);
    }
  }
  init();
})();
