// Shared helpers for the admin pages: fetch JSON, escape text, draw a sparkline.
'use strict';
const mesh = {
  async json(url, init) {
    const res = await fetch(url, init);
    const body = await res.text();
    if (!res.ok) { const e = new Error(body || res.statusText); e.status = res.status; throw e; }
    return JSON.parse(body);
  },
  esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  },
  // Points scaled into a 100x30 box; the line is redrawn, never re-created.
  spark(svg, values) {
    const line = svg.firstElementChild;
    if (values.length < 2) { line.setAttribute('points', ''); return; }
    const max = Math.max(...values), min = Math.min(0, ...values), span = max - min || 1;
    const step = 100 / (values.length - 1);
    line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(29 - ((v - min) / span) * 28).toFixed(1)}`).join(' '));
  },
  fmt(n, digits) {
    if (n === undefined || n === null || Number.isNaN(n)) return '–';
    return Number(n).toFixed(digits === undefined ? 0 : digits);
  },
  nav(active) {
    for (const a of document.querySelectorAll('header nav a')) if (a.dataset.page === active) a.classList.add('active');
  },
};
