// GET / : one static page, no build step. It holds no data: its script calls the API with the token the
// operator types (kept in sessionStorage for the tab), and writes every value with textContent, never as HTML.
export const TRAIL_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard trail</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 72rem; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin-bottom: .5rem; }
  input { font: inherit; padding: .3rem .4rem; }
  input[name=q] { min-width: 26rem; }
  button { font: inherit; padding: .3rem .8rem; cursor: pointer; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
  th { background: #f4f4f4; }
  code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
  .o-applied, .o-redriven { color: #17692b; } .o-duplicate, .o-skipped, .o-superseded { color: #666; }
  .o-retrying { color: #a86400; } .o-dead_lettered { color: #b00020; font-weight: 600; }
  #status { color: #b00020; min-height: 1.2em; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
  dt { color: #666; } dd { margin: 0; }
  a { color: #0645ad; cursor: pointer; }
</style>
</head>
<body>
<h1>Switchboard trail: what happened to an event?</h1>
<form id="auth" onsubmit="return false">
  <label>API token <input name="token" type="password" autocomplete="off" placeholder="TRAIL_API_TOKEN"></label>
</form>
<form id="search">
  <input name="q" placeholder="event id (e.g. nsps:…, 1nce-event:…, sap:…:1) or key (IMSI, ICCID, tenant)" aria-label="event id or key">
  <button type="submit" name="byId">Event</button>
  <button type="button" name="byKey">Events of key</button>
  <button type="button" name="deadLetters">Latest dead letters</button>
</form>
<div id="status" role="status"></div>
<div id="out"></div>
<script>
(() => {
  const $ = (s) => document.querySelector(s);
  const token = $('#auth [name=token]');
  token.value = sessionStorage.getItem('trail-token') || '';
  token.addEventListener('change', () => sessionStorage.setItem('trail-token', token.value));
  const out = $('#out');
  const status = (text) => { $('#status').textContent = text || ''; };
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) e.append(c === null || c === undefined ? '' : c);
    return e;
  };
  async function api(path) {
    const headers = token.value ? { authorization: 'Bearer ' + token.value } : {};
    const res = await fetch(path, { headers });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) throw new Error('unauthorized: enter a valid API token');
    if (!res.ok) throw new Error(body.message || body.error || ('HTTP ' + res.status));
    return body;
  }
  const outcomeSpan = (o) => el('span', { className: 'o-' + o.outcome }, o.outcome);
  const eventLink = (id) => { const a = el('a', { href: '#event=' + encodeURIComponent(id) }, id); return a; };
  const effectText = (effect) => Object.entries(effect || {}).map(([k, v]) => k + '=' + v).join(' ');

  function showTimeline(id, t) {
    out.replaceChildren();
    out.append(el('h2', {}, 'Event ', el('code', {}, id)));
    if (t.event) {
      const e = t.event;
      const dl = el('dl');
      for (const [k, v] of [['source', e.source], ['kind', e.kind], ['type', e.event_type], ['key', e.key], ['tenant', e.tenant],
        ['request id', e.request_id], ['received', e.received_at], ['record', e.topic + ' [' + e.partition + '] @' + e.offset], ['size', e.size + ' bytes'],
        ['deliveries', String(t.deliveries.length)]]) dl.append(el('dt', {}, k), el('dd', { className: 'mono' }, v === null ? '—' : String(v)));
      out.append(dl);
    } else out.append(el('p', {}, 'The event itself is not in the trail (not indexed yet, or pruned); its outcomes:'));
    const table = el('table', {}, el('tr', {}, el('th', {}, 'at'), el('th', {}, 'consumer'), el('th', {}, 'outcome'), el('th', {}, 'attempt'), el('th', {}, 'reason'), el('th', {}, 'effect')));
    for (const o of t.outcomes) table.append(el('tr', { className: 'outcome' }, el('td', { className: 'mono' }, o.at), el('td', {}, o.consumer), el('td', {}, outcomeSpan(o)),
      el('td', {}, String(o.attempt)), el('td', {}, o.reason || ''), el('td', { className: 'mono' }, effectText(o.effect))));
    out.append(el('h2', {}, 'Outcomes'), t.outcomes.length ? table : el('p', {}, 'No consumer has reported on it yet.'));
    if (t.siblings.length) {
      const ul = el('ul');
      for (const s of t.siblings) ul.append(el('li', { className: 'mono' }, eventLink(s)));
      out.append(el('h2', {}, 'Same batch / report'), ul);
    }
  }

  function showList(title, page, more) {
    out.replaceChildren(el('h2', {}, title));
    if (!page.items.length) { out.append(el('p', {}, 'Nothing found.')); return; }
    const table = el('table', {}, el('tr', {}, el('th', {}, 'received'), el('th', {}, 'event'), el('th', {}, 'type'), el('th', {}, 'key'), el('th', {}, 'latest outcomes')));
    for (const e of page.items) {
      const cell = el('td');
      for (const o of e.latest) cell.append(el('div', {}, o.consumer + ': ', outcomeSpan(o), o.reason ? ' — ' + o.reason : ''));
      table.append(el('tr', { className: 'event' }, el('td', { className: 'mono' }, e.received_at), el('td', { className: 'mono' }, eventLink(e.event_id)),
        el('td', {}, e.event_type || e.kind), el('td', { className: 'mono' }, e.key || ''), cell));
    }
    out.append(table);
    if (page.nextCursor) out.append(el('p', {}, el('button', { type: 'button', onclick: () => more(page.nextCursor) }, 'Older…')));
  }

  async function run(fn) { status('Loading…'); try { await fn(); status(''); } catch (err) { status(err.message); } }
  const byId = (id) => run(async () => showTimeline(id, await api('/events/' + encodeURIComponent(id))));
  const list = (title, params) => run(async () => {
    const go = async (cursor) => {
      const q = new URLSearchParams(params); if (cursor) q.set('cursor', cursor);
      showList(title, await api('/events?' + q), (c) => run(() => go(c)));
    };
    await go();
  });
  const q = $('#search [name=q]');
  const navigate = (h) => { if (location.hash === '#' + h) route(); else location.hash = h; };
  $('#search').addEventListener('submit', (ev) => { ev.preventDefault(); if (q.value.trim()) navigate('event=' + encodeURIComponent(q.value.trim())); });
  $('#search [name=byKey]').addEventListener('click', () => { if (q.value.trim()) navigate('key=' + encodeURIComponent(q.value.trim())); });
  $('#search [name=deadLetters]').addEventListener('click', () => navigate('dead-letters'));
  function route() {
    const h = location.hash.slice(1);
    if (h.startsWith('event=')) { q.value = decodeURIComponent(h.slice(6)); byId(q.value); }
    else if (h.startsWith('key=')) { q.value = decodeURIComponent(h.slice(4)); list('Events of ' + q.value, { key: q.value }); }
    else if (h === 'dead-letters') list('Latest dead letters', { outcome: 'dead_lettered', limit: '50' });
  }
  window.addEventListener('hashchange', route);
  route();
})();
</script>
</body>
</html>
`;
