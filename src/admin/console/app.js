// confer admin console: sign-in (password + TOTP), live visits from the health feed,
// visit detail and the stop dialog (operators), the verification queue, complaints and
// reports. Plain ES modules, no build step. It shows connection health, codes and counts:
// never a picture, a sound, a thumbnail or a document's content (docs/DESIGN.md invariant 6).
import { t, getLang, setLang } from './i18n.js';
import { api, ApiError, session, setSession, stream, download } from './api.js';
import { barChart } from './charts.js';

const CATEGORIES = ['unapproved_person', 'communication_device', 'relaying_to_outsiders', 'prohibited_items', 'other'];
const VIEWS = {
  operator: ['live', 'verification', 'complaints', 'reports', 'approvals'],
  auditor: ['live', 'reports'],
};

const main = document.getElementById('main');
let live = { at: null, visits: [], alerts_active: 0, system_alerts: [], unavailable: false };
let liveAbort = null;
let current = { view: null, arg: null };

// --- small DOM helpers (text only: nothing from the server is parsed as HTML) ---
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((x) => (x instanceof Node ? h('th', {}, x) : h('th', { class: String(x).startsWith('#') ? 'num' : '' }, String(x).replace(/^#/, '')))))),
    h('tbody', {}, rows));
}
// Update the live views in place (they refresh every second): a row or a button under
// the pointer stays the same element, so a click is never lost to a refresh. Elements
// with a different data-key (another visit, another view) are replaced whole.
function morph(oldNode, newNode) {
  const key = (n) => (n.nodeType === 1 ? n.getAttribute('data-key') : null);
  if (oldNode.nodeType !== newNode.nodeType || oldNode.nodeName !== newNode.nodeName || key(oldNode) !== key(newNode)) {
    oldNode.replaceWith(newNode);
    return;
  }
  if (oldNode.nodeType === 3) {
    if (oldNode.data !== newNode.data) oldNode.data = newNode.data;
    return;
  }
  if (oldNode.nodeType !== 1) return;
  for (const a of [...oldNode.attributes]) if (!newNode.hasAttribute(a.name)) oldNode.removeAttribute(a.name);
  for (const a of [...newNode.attributes]) if (oldNode.getAttribute(a.name) !== a.value) oldNode.setAttribute(a.name, a.value);
  const o = [...oldNode.childNodes];
  const n = [...newNode.childNodes];
  n.forEach((child, i) => { if (i < o.length) morph(o[i], child); else oldNode.appendChild(child); });
  for (let i = n.length; i < o.length; i++) o[i].remove();
}
const fmt = (v, digits = 1) => (v === null || v === undefined ? '—' : typeof v === 'number' ? String(Math.round(v * 10 ** digits) / 10 ** digits) : String(v));
const pct = (v) => (v === null || v === undefined ? '—' : `${Math.round(v * 1000) / 10}%`);
const when = (s) => (s ? new Date(s).toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB') : '—');
function mmss(sec) {
  if (sec === null || sec === undefined) return '—';
  const s = Math.max(0, Math.round(sec));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// --- banner: 401 / 403 / other errors and confirmations ---
function banner(text, kind) {
  const b = document.getElementById('banner');
  if (!text) { b.hidden = true; return; }
  b.textContent = text;
  b.className = kind || '';
  b.hidden = false;
}
function explain(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return banner(t('expired'), 'error');
    if (err.status === 403) return banner(`${t('forbidden')} ${err.message}`, 'error');
    return banner(`${t('failed')} ${err.message} (${err.code})`, 'error');
  }
  banner(`${t('failed')} ${err.message || err}`, 'error');
}
window.addEventListener('confer:expired', () => {
  stopLive();
  banner(t('expired'), 'error');
  render();
});

// --- health colouring of a visit from the feed ---
export function participantHealth(p) {
  if (p.connection === 'disconnected') return 'red';
  const loss = p.loss_pct ?? 0;
  const rtt = p.rtt_ms ?? 0;
  if (loss >= 5 || rtt >= 400 || (p.last_media_ms_ago ?? 0) >= 5000) return 'red';
  if (p.connection === 'connecting' || loss >= 1 || rtt >= 200) return 'amber';
  return 'green';
}
export function visitHealth(v) {
  const kinds = (v.alerts || []).map((a) => a.kind);
  if (kinds.includes('no_media') || kinds.includes('reconnecting')) return 'red';
  const ps = v.participants || [];
  if (v.state === 'waiting' && !ps.some((p) => p.connection === 'connected')) return 'grey';
  const worst = ps.map(participantHealth);
  if (worst.includes('red')) return 'red';
  if (kinds.length || worst.includes('amber')) return 'amber';
  return 'green';
}
const sumKbps = (v, dir) => (v.participants || []).reduce((a, p) => a + (p[dir]?.audio_kbps || 0) + (p[dir]?.video_kbps || 0), 0);
const healthBadge = (c) => h('span', { class: `health health-${c}`, 'data-health': c }, t(`health_${c}`));

// --- live feed: SSE through fetch, polling as the fallback ---
function stopLive() {
  if (liveAbort) liveAbort.abort();
  liveAbort = null;
}
function onHealth(data) {
  live = { at: data.at, visits: data.visits || [], alerts_active: data.alerts_active || 0, system_alerts: data.system_alerts || [], unavailable: false };
  if (current.view === 'live' || current.view === 'visit') renderView();
}
async function startLive() {
  if (liveAbort) return;
  const ctrl = new AbortController();
  liveAbort = ctrl;
  while (!ctrl.signal.aborted && session()) {
    try {
      await stream('/admin/api/live/stream', (event, data) => { if (event === 'health') onHealth(data); }, ctrl.signal);
    } catch (err) {
      if (ctrl.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        // No stream on this server: poll the snapshot instead.
        try { onHealth(await api('GET', '/admin/api/live')); } catch (e2) {
          if (e2 instanceof ApiError && e2.status === 404) { live.unavailable = true; renderView(); return; }
          if (e2 instanceof ApiError && (e2.status === 401 || e2.status === 403)) { explain(e2); return; }
        }
      } else if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        explain(err);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

// --- views ---
function signInView() {
  const form = h('form', { class: 'card signin', id: 'signin-form', autocomplete: 'off' },
    h('h1', {}, t('sign_in')),
    h('label', { class: 'field' }, h('span', {}, t('username')), h('input', { id: 'username', name: 'username', required: true, autocomplete: 'username' })),
    h('label', { class: 'field' }, h('span', {}, t('password')), h('input', { id: 'password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
    h('label', { class: 'field' }, h('span', {}, t('totp')), h('input', { id: 'totp', name: 'totp', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autocomplete: 'one-time-code' })),
    h('div', { class: 'actions' }, h('button', { id: 'signin', type: 'submit' }, t('sign_in'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { username: form.username.value.trim(), password: form.password.value, totp: form.totp.value.trim() };
    try {
      const r = await api('POST', '/admin/api/login', body);
      setSession({ token: r.token, role: r.role, username: body.username });
      banner(null);
      location.hash = '#/' + ((VIEWS[r.role] || [])[0] || 'none');
      render();
    } catch (err) {
      // A refused sign-in (wrong password or code): the server's sentence says what to do.
      banner(`${t('failed')} ${err.message}`, 'error');
    }
  });
  return form;
}

function openRow(ev) {
  location.hash = `#/visit/${ev.currentTarget.dataset.visit}`;
}

function liveView() {
  const s = session();
  const wrap = h('section', { id: 'live', 'data-key': 'live' }, h('h1', {}, t('live_title')));
  if (live.unavailable) { wrap.appendChild(h('p', { class: 'muted' }, t('live_unavailable'))); return wrap; }
  for (const a of live.system_alerts) wrap.appendChild(h('p', { class: 'health-red', 'data-system-alert': a, role: 'alert' }, t(`system_alert_${a}`)));
  wrap.appendChild(h('p', { class: 'muted small' }, `${t('live_updated')}: ${live.at ? when(live.at) : t('loading')} · ${t('alerts')}: ${live.alerts_active}`));
  if (!live.visits.length) { wrap.appendChild(h('p', { id: 'live-empty' }, t('live_none'))); return wrap; }
  const rows = live.visits.map((v) => {
    const c = visitHealth(v);
    const ps = v.participants || [];
    const loss = Math.max(0, ...ps.map((p) => p.loss_pct ?? 0));
    const rtt = Math.max(0, ...ps.map((p) => p.rtt_ms ?? 0));
    return h('tr', { class: `clickable row-${c}`, 'data-visit': v.visit_id, 'data-key': `visit-${v.visit_id}`, onclick: openRow },
      h('td', {}, h('a', { href: `#/visit/${v.visit_id}` }, `#${v.visit_id}`)),
      h('td', {}, v.booth ?? '—'),
      h('td', {}, t(`state_${v.state}`)),
      h('td', { class: 'num' }, mmss(v.time_left_s)),
      h('td', {}, (v.warnings_sent || []).map((m) => `${m}′`).join(' ') || '—'),
      h('td', {}, ps.map((p) => h('span', { class: 'pill' }, `${p.role} · ${p.connection}`))),
      h('td', { class: 'num', 'data-kbps-in': sumKbps(v, 'inbound') }, fmt(sumKbps(v, 'inbound'), 0)),
      h('td', { class: 'num', 'data-kbps-out': sumKbps(v, 'outbound') }, fmt(sumKbps(v, 'outbound'), 0)),
      h('td', { class: 'num' }, fmt(loss)),
      h('td', { class: 'num' }, fmt(rtt, 0)),
      h('td', {}, (v.alerts || []).map((a) => h('span', { class: 'pill alert-pill' }, `${a.kind} (${a.role})`))),
      h('td', {}, healthBadge(c)));
  });
  wrap.appendChild(table(['visit', 'booth', 'state', '#time_left', 'warnings', 'participants', '#in_kbps', '#out_kbps', '#loss', '#rtt', 'alerts', 'health'].map((k) => (k.startsWith('#') ? '#' + t(k.slice(1)) : t(k))), rows, { id: 'live-table' }));
  wrap.appendChild(h('p', { class: 'muted small' }, t('privacy_note')));
  if (!s) return wrap;
  return wrap;
}

function visitView(id) {
  const s = session();
  const v = live.visits.find((x) => String(x.visit_id) === String(id));
  const wrap = h('section', { id: 'visit-detail', 'data-visit': id, 'data-key': `detail-${id}` },
    h('p', {}, h('a', { href: '#/live' }, `← ${t('back')}`)),
    h('h1', {}, `${t('detail_title')} #${id}`));
  if (!v) { wrap.appendChild(h('p', { id: 'visit-gone' }, t('detail_gone'))); return wrap; }
  const c = visitHealth(v);
  wrap.appendChild(h('p', {}, healthBadge(c), ` ${t('booth')}: ${v.booth ?? '—'} · ${t('state')}: ${t(`state_${v.state}`)} · ${t('time_left')}: ${mmss(v.time_left_s)} · ${t('slot_end')}: ${when(v.slot_end)}`));
  const rows = (v.participants || []).map((p) => h('tr', { 'data-role': p.role, class: `row-${participantHealth(p)}` },
    h('td', {}, p.role), h('td', {}, p.device), h('td', {}, p.connection), h('td', {}, p.candidate_type ?? '—'), h('td', {}, p.transport ?? '—'),
    h('td', { class: 'num' }, `${fmt(p.inbound?.audio_kbps, 0)} / ${fmt(p.inbound?.video_kbps, 0)}`),
    h('td', { class: 'num' }, `${fmt(p.outbound?.audio_kbps, 0)} / ${fmt(p.outbound?.video_kbps, 0)}`),
    h('td', { class: 'num' }, fmt(p.loss_pct)), h('td', { class: 'num' }, fmt(p.jitter_ms)), h('td', { class: 'num' }, fmt(p.rtt_ms, 0)),
    h('td', { class: 'num' }, p.video ? fmt(p.video.fps) : '—'),
    h('td', {}, p.video && p.video.width ? `${p.video.width}×${p.video.height}` : '—'),
    h('td', { class: 'num' }, fmt(p.last_media_ms_ago, 0)), h('td', { class: 'num' }, fmt(p.reconnects, 0))));
  wrap.appendChild(table([t('role'), t('device'), t('connection'), t('candidate'), t('transport'),
    `#${t('in_kbps')} (${t('audio')}/${t('video')})`, `#${t('out_kbps')} (${t('audio')}/${t('video')})`,
    '#' + t('loss'), '#' + t('jitter'), '#' + t('rtt'), '#' + t('fps'), t('resolution'), '#' + t('last_media'), '#' + t('reconnects')], rows, { id: 'participants-table' }));
  if ((v.alerts || []).length) {
    wrap.appendChild(h('h2', {}, t('alerts')));
    wrap.appendChild(h('ul', {}, v.alerts.map((a) => h('li', {}, `${a.kind} · ${a.role} · ${when(a.since)}`))));
  }
  wrap.appendChild(h('p', { class: 'muted small' }, t('privacy_note')));
  if (s && s.role === 'operator') {
    wrap.appendChild(h('div', { class: 'actions' }, h('button', { id: 'stop-open', class: 'danger', type: 'button', onclick: () => stopDialog(id) }, t('stop'))));
  }
  return wrap;
}

function stopDialog(id) {
  const old = document.getElementById('stop-dialog');
  if (old) old.remove();
  const select = h('select', { id: 'stop-category', required: true },
    h('option', { value: '' }, '—'), CATEGORIES.map((c) => h('option', { value: c }, t(`cat_${c}`))));
  const reason = h('textarea', { id: 'stop-reason', rows: 4, maxlength: 4000, required: true });
  const confirm = h('button', { id: 'stop-confirm', class: 'danger', type: 'submit' }, t('confirm_stop'));
  const dlg = h('dialog', { id: 'stop-dialog' });
  const form = h('form', { method: 'dialog' },
    h('h2', {}, `${t('stop_title')} #${id}`),
    h('label', { class: 'field' }, h('span', {}, t('category')), select),
    h('label', { class: 'field' }, h('span', {}, t('reason')), reason),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('cancel')), confirm));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!select.value || !reason.value.trim()) return;
    confirm.disabled = true;
    try {
      await api('POST', `/admin/api/visits/${id}/stop`, { category: select.value, reason: reason.value });
      dlg.close();
      banner(t('stopped'), 'ok');
    } catch (err) {
      explain(err);
      confirm.disabled = false;
    }
  });
  dlg.appendChild(form);
  document.body.appendChild(dlg);
  dlg.showModal();
}

async function verificationView() {
  const wrap = h('section', { id: 'verification' }, h('h1', {}, t('verification_title')));
  const [eng, manual, alerts] = await Promise.all([
    api('GET', '/admin/api/engagements'), api('GET', '/admin/api/manual-verifications'), api('GET', '/admin/api/alerts?open=true')]);
  // Documents pending review: metadata only (kind, type, size, time), never the content.
  const pending = [];
  for (const e of eng.engagements || []) for (const d of e.documents || []) if (d.status === 'pending') pending.push({ e, d });
  wrap.appendChild(h('h2', {}, t('docs_pending')));
  if (!pending.length) wrap.appendChild(h('p', { class: 'muted' }, t('none')));
  else wrap.appendChild(table([t('engagement'), t('facility'), t('kind'), t('size'), t('uploaded'), ''], pending.map(({ e, d }) => h('tr', { 'data-document': d.id },
    h('td', {}, `#${e.id}`), h('td', {}, e.facility), h('td', {}, d.kind), h('td', { class: 'num' }, `${Math.round(d.size / 1024)} KiB`), h('td', {}, when(d.uploaded_at)),
    h('td', {}, h('button', { type: 'button', onclick: () => review(d.id, true) }, t('accept')), ' ',
      h('button', { type: 'button', class: 'secondary', onclick: () => review(d.id, false) }, t('reject')))))));
  // Manual verifications: record one, list the recent ones.
  wrap.appendChild(h('h2', {}, t('manual_title')));
  const mform = h('form', { class: 'card inline', id: 'manual-form' },
    h('label', { class: 'field' }, h('span', {}, t('visit_id')), h('input', { name: 'visit', inputmode: 'numeric', required: true, size: 8 })),
    h('label', { class: 'field' }, h('span', {}, t('evidence_ref')), h('input', { name: 'evidence_ref', required: true, size: 28 })),
    h('label', { class: 'field' }, h('span', {}, t('note')), h('input', { name: 'note', size: 28 })),
    h('button', { type: 'submit' }, t('record')));
  mform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', `/admin/api/visits/${encodeURIComponent(mform.visit.value.trim())}/manual-verification`, { evidence_ref: mform.evidence_ref.value, note: mform.note.value });
      banner(t('saved'), 'ok');
      renderView();
    } catch (err) { explain(err); }
  });
  wrap.appendChild(mform);
  const ms = manual.manual_verifications || [];
  wrap.appendChild(ms.length ? table([t('visit'), t('lawyer'), t('evidence_ref'), t('verified_at')], ms.map((m) => h('tr', {},
    h('td', {}, `#${m.visit_id}`), h('td', {}, `#${m.lawyer_id}`), h('td', {}, m.evidence_ref), h('td', {}, when(m.verified_at))))) : h('p', { class: 'muted' }, t('none')));
  // Impersonation alerts.
  wrap.appendChild(h('h2', {}, t('alerts_title')));
  const al = alerts.alerts || [];
  wrap.appendChild(al.length ? table([t('lawyer'), t('visit'), t('reason'), t('raised'), ''], al.map((a) => h('tr', {},
    h('td', {}, `#${a.lawyer_id}`), h('td', {}, a.visit_id ? `#${a.visit_id}` : '—'), h('td', {}, a.reason), h('td', {}, when(a.raised_at)),
    h('td', {}, a.acknowledged_by ? t('acknowledged') : h('button', { type: 'button', onclick: async () => {
      try { await api('POST', `/admin/api/alerts/${a.id}/acknowledge`); banner(t('saved'), 'ok'); renderView(); } catch (err) { explain(err); }
    } }, t('acknowledge')))))) : h('p', { class: 'muted' }, t('none')));
  return wrap;
}

async function review(id, accepted) {
  let reason;
  if (!accepted) {
    reason = window.prompt(t('reject_reason'));
    if (!reason) return;
  }
  try {
    await api('POST', `/admin/api/documents/${id}/review`, accepted ? { accepted } : { accepted, reason });
    banner(t('saved'), 'ok');
    renderView();
  } catch (err) { explain(err); }
}

async function complaintsView() {
  const wrap = h('section', { id: 'complaints' }, h('h1', {}, t('complaints_title')));
  const r = await api('GET', '/admin/api/complaints');
  const list = r.complaints || [];
  if (!list.length) { wrap.appendChild(h('p', { class: 'muted' }, t('none'))); return wrap; }
  for (const c of list) {
    const kind = h('select', { name: 'kind' }, h('option', { value: 'progress' }, t('progress')), h('option', { value: 'outcome' }, t('outcome')));
    const text = h('input', { name: 'text', required: true, size: 50 });
    const form = h('form', { class: 'inline' }, kind, text, h('button', { type: 'submit' }, t('add_update')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try { await api('POST', `/admin/api/complaints/${c.id}/updates`, { kind: kind.value, text: text.value }); banner(t('saved'), 'ok'); renderView(); } catch (err) { explain(err); }
    });
    const updates = c.updates || [];
    wrap.appendChild(h('div', { class: 'card', 'data-complaint': c.id },
      h('div', {}, h('strong', {}, `#${c.id} · ${c.about}`), ` · ${t('status')}: ${c.status} · ${t('filed')}: ${when(c.filed_at)}`, c.visit ? ` · ${t('visit')} #${c.visit}` : ''),
      h('p', {}, c.text),
      updates.length ? h('ul', { class: 'updates' }, updates.map((u) => h('li', {}, `${when(u.recorded_at)} · ${u.kind}: ${u.text}`))) : null,
      c.status !== 'closed' ? form : null));
  }
  return wrap;
}

let lastReport = null;
async function reportsView() {
  const wrap = h('section', { id: 'reports' }, h('h1', {}, t('reports_title')));
  const today = new Date();
  const iso = (d) => d.toISOString().slice(0, 10);
  const monthAgo = new Date(today.getTime() - 29 * 86400000);
  const q = lastReport?.query || { facility: 'demo-facility', from: iso(monthAgo), to: iso(today) };
  const facilities = h('datalist', { id: 'facility-list' });
  try {
    const b = await api('GET', '/admin/api/booths');
    for (const f of new Set((b.booths || []).map((x) => x.facility))) facilities.appendChild(h('option', { value: f }));
  } catch { /* the auditor may not list booths: type the facility id */ }
  const form = h('form', { class: 'card inline', id: 'report-form' },
    h('label', { class: 'field' }, h('span', {}, t('facility')), h('input', { name: 'facility', id: 'report-facility', list: 'facility-list', value: q.facility, required: true })), facilities,
    h('label', { class: 'field' }, h('span', {}, t('from')), h('input', { name: 'from', type: 'date', value: q.from, required: true })),
    h('label', { class: 'field' }, h('span', {}, t('to')), h('input', { name: 'to', type: 'date', value: q.to, required: true })),
    h('button', { type: 'submit', id: 'report-show' }, t('show')),
    h('button', { type: 'button', class: 'secondary', id: 'report-csv', onclick: async () => {
      const qs = new URLSearchParams({ facility: form.facility.value, from: form.from.value, to: form.to.value });
      try { await download(`/admin/api/reports.csv?${qs}`, 'confer-report.csv'); } catch (err) { explain(err); }
    } }, t('download_csv')));
  const out = h('div', { id: 'report-out' });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const query = { facility: form.facility.value.trim(), from: form.from.value, to: form.to.value };
    try {
      const r = await api('GET', `/admin/api/reports?${new URLSearchParams(query)}`);
      lastReport = { query, report: r };
      out.replaceChildren(reportBody(r));
      banner(null);
    } catch (err) { explain(err); }
  });
  wrap.append(form, out);
  if (lastReport) out.appendChild(reportBody(lastReport.report));
  else setTimeout(() => { if (form.isConnected) form.requestSubmit(); }, 0);
  return wrap;
}

function kv(pairs) {
  return table([t('code'), '#' + t('count')], pairs.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, fmt(v, 3)))));
}

function reportBody(r) {
  const d = h('div', { id: 'report-body' });
  d.appendChild(h('p', { class: 'muted' }, `${t('facility')}: ${r.facility} · ${t('period')}: ${r.from} – ${r.to}`));
  const charts = h('div', { class: 'charts' },
    barChart(Object.entries(r.refusals.by_code).map(([k, v]) => ({ label: k, value: v })), { title: t('r_refusals'), format: (v) => String(v) }),
    barChart(Object.entries(r.violations.by_code).map(([k, v]) => ({ label: t(`cat_${k}`), value: v })), { title: t('r_violations'), format: (v) => String(v) }),
    barChart(r.utilisation.booths.map((b) => ({ label: b.booth, value: b.booked_share ?? 0 })), { title: t('chart_util'), max: 1, format: pct }),
    barChart([{ label: t('median_min'), value: r.waiting.median_min ?? 0 }, { label: t('p90_min'), value: r.waiting.p90_min ?? 0, alt: true }], { title: t('chart_wait'), format: (v) => fmt(v, 0) }),
    barChart([{ label: t('per_100'), value: r.rooms.per_100_detainees ?? 0 }], { title: t('chart_rooms'), reference: { value: r.rooms.norm_per_100, label: `${t('norm')} ${r.rooms.norm_per_100}` }, format: (v) => fmt(v, 2) }));
  d.appendChild(charts);
  const grid = h('div', { class: 'grid2' });
  const section = (title, node) => grid.appendChild(h('div', {}, h('h2', {}, title), node));
  const rowsOf = (pairs) => table(['', '#'], pairs.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, v))));
  section(t('r_visits'), rowsOf([[t('booked'), r.visits.booked], [t('held'), r.visits.held], [t('stopped_n'), r.visits.stopped]]));
  section(t('r_waiting'), rowsOf([[t('requests'), r.waiting.requests], [t('placed'), r.waiting.placed], [t('median_min'), fmt(r.waiting.median_min)], [t('p90_min'), fmt(r.waiting.p90_min)]]));
  section(t('r_deadline'), rowsOf([[t('eligible'), r.deadline.eligible], [t('within_48h'), r.deadline.within_48h], [t('share_48h'), pct(r.deadline.share_within_48h)], [t('breaches'), r.deadline.breaches]]));
  section(`${t('r_refusals')} (${t('total')} ${r.refusals.total})`, kv(Object.entries(r.refusals.by_code)));
  section(`${t('r_violations')} (${t('total')} ${r.violations.total})`, kv(Object.entries(r.violations.by_code)));
  section(t('r_manual'), rowsOf([[t('total'), r.manual_verifications]]));
  const c = r.complaints;
  section(t('r_complaints'), rowsOf([[t('filed'), c.filed], [t('answered'), c.answered], [t('with_outcome'), c.with_outcome], [t('open'), c.open],
    [t('first_answer_h'), `${fmt(c.first_answer_hours_median, 2)} / ${fmt(c.first_answer_hours_p90, 2)}`],
    [t('outcome_h'), `${fmt(c.outcome_hours_median, 2)} / ${fmt(c.outcome_hours_p90, 2)}`]]));
  section(t('r_rooms'), rowsOf([[t('lawyer_rooms'), r.rooms.lawyer_rooms], [t('detainees'), r.rooms.detainees], [t('per_100'), fmt(r.rooms.per_100_detainees, 2)], [t('norm'), r.rooms.norm_per_100]]));
  d.appendChild(grid);
  const u = r.utilisation;
  d.appendChild(h('h2', {}, t('r_utilisation')));
  d.appendChild(table([t('booth'), t('kind'), '#' + t('open_min'), '#' + t('booked_min'), '#' + t('held_min'), '#' + t('booked_share'), '#' + t('held_share')],
    [...u.booths.map((b) => h('tr', {}, h('td', {}, b.booth), h('td', {}, b.kind), h('td', { class: 'num' }, fmt(b.open_min, 0)), h('td', { class: 'num' }, fmt(b.booked_min, 0)),
      h('td', { class: 'num' }, fmt(b.held_min, 0)), h('td', { class: 'num' }, pct(b.booked_share)), h('td', { class: 'num' }, pct(b.held_share)))),
    h('tr', {}, h('td', {}, h('strong', {}, t('total'))), h('td', {}), h('td', { class: 'num' }, fmt(u.open_min, 0)), h('td', { class: 'num' }, fmt(u.booked_min, 0)),
      h('td', { class: 'num' }, fmt(u.held_min, 0)), h('td', { class: 'num' }, pct(u.booked_share)), h('td', { class: 'num' }, pct(u.held_share)))]));
  return d;
}

// The investigating unit's approvals of assistants and interpreters for a case (R-VERIFY-4):
// staff record unit, date and document from the unit's paper; the server records who
// recorded it. Lawyers then invite from their page; staff never put anyone into a visit.
async function approvalsView(arg) {
  const wrap = h('section', { id: 'approvals' }, h('h1', {}, t('approvals_title')), h('p', { class: 'muted small' }, t('approvals_note')));
  const [cases, accounts] = await Promise.all([api('GET', '/admin/api/cases'), api('GET', '/admin/api/lawyers')]);
  const list = cases.cases || [];
  if (!list.length) { wrap.appendChild(h('p', { class: 'muted' }, t('none'))); return wrap; }
  const caseId = list.some((c) => String(c.id) === arg) ? arg : String(list[0].id);
  const pick = h('select', { id: 'approval-case', onchange: (ev) => { location.hash = `#/approvals/${ev.target.value}`; } },
    list.map((c) => h('option', { value: c.id, selected: String(c.id) === caseId }, `#${c.id} · ${t('detainee')} #${c.detainee_id}${c.needs_unit_permission ? ` · ${t('flagged')}` : ''}`)));
  wrap.appendChild(h('label', { class: 'field' }, h('span', {}, t('case')), pick));
  const form = h('form', { class: 'card inline', id: 'approval-form' },
    h('label', { class: 'field' }, h('span', {}, t('account')), h('select', { name: 'account', id: 'approval-account', required: true },
      (accounts.lawyers || []).map((a) => h('option', { value: a.id }, `${a.display_name} (${a.username}, #${a.id})`)))),
    h('label', { class: 'field' }, h('span', {}, t('unit')), h('input', { name: 'unit', id: 'approval-unit', required: true, size: 24 })),
    h('label', { class: 'field' }, h('span', {}, t('decided_on')), h('input', { name: 'decided_on', id: 'approval-date', type: 'date', required: true })),
    h('label', { class: 'field' }, h('span', {}, t('document_ref')), h('input', { name: 'document_ref', id: 'approval-doc', required: true, size: 24 })),
    h('button', { type: 'submit', id: 'approval-record' }, t('record')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', `/admin/api/cases/${encodeURIComponent(caseId)}/companions`, {
        account_id: Number(form.account.value), unit: form.unit.value, decided_on: form.decided_on.value, document_ref: form.document_ref.value });
      banner(t('saved'), 'ok');
      renderView();
    } catch (err) { explain(err); }
  });
  wrap.appendChild(form);
  const r = await api('GET', `/admin/api/cases/${encodeURIComponent(caseId)}/companions`);
  const rows = r.approvals || [];
  wrap.appendChild(h('h2', {}, `${t('approvals_of')} #${caseId}`));
  wrap.appendChild(rows.length ? table([t('account'), t('kind'), t('unit'), t('decided_on'), t('document_ref'), t('recorded_by'), t('recorded_at')],
    rows.map((a) => h('tr', { 'data-account': a.account_id },
      h('td', {}, `${a.display_name} (#${a.account_id})`), h('td', {}, t(`kind_${a.kind}`)), h('td', {}, a.unit ?? a.approved_by),
      h('td', {}, a.decided_on ?? '—'), h('td', {}, a.document_ref ?? '—'), h('td', {}, a.recorded_by_username ?? `#${a.recorded_by}`),
      h('td', {}, when(a.recorded_at)))), { id: 'approvals-table' }) : h('p', { class: 'muted', id: 'approvals-none' }, t('none')));
  return wrap;
}

// --- routing ---
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  return { view: parts[0] || '', arg: parts[1] || null };
}

function chrome() {
  const s = session();
  document.title = t('title');
  document.getElementById('lang-label').textContent = t('language');
  document.getElementById('lang').value = getLang();
  const out = document.getElementById('signout');
  out.textContent = t('sign_out');
  out.hidden = !s;
  document.getElementById('who').textContent = s ? `${s.username} · ${t('signed_in_as')}: ${s.role}` : '';
  const nav = document.getElementById('nav');
  nav.replaceChildren(...(s ? (VIEWS[s.role] || []).map((v) => h('a', { href: `#/${v}`, id: `nav-${v}`, class: current.view === v || (v === 'live' && current.view === 'visit') ? 'active' : '' }, t(`nav_${v}`))) : []));
}

let renderSeq = 0;
async function renderView() {
  const seq = ++renderSeq;
  const s = session();
  if (!s) { stopLive(); main.replaceChildren(signInView()); return; }
  const allowed = VIEWS[s.role] || [];
  if (!allowed.length) { main.replaceChildren(h('p', { id: 'no-views' }, t('no_views'))); return; }
  let { view, arg } = current;
  if (view === 'visit' && !allowed.includes('live')) view = '';
  if (view !== 'visit' && !allowed.includes(view)) { location.hash = `#/${allowed[0]}`; return; }
  if (view === 'live' || view === 'visit') startLive(); else stopLive();
  // Keep an open stop dialog (and what was typed) while the live view refreshes.
  if (view === 'visit' && document.getElementById('stop-dialog')?.open) return;
  try {
    let node;
    if (view === 'live') node = liveView();
    else if (view === 'visit') node = visitView(arg);
    else if (view === 'verification') node = await verificationView();
    else if (view === 'complaints') node = await complaintsView();
    else if (view === 'reports') node = await reportsView();
    else if (view === 'approvals') node = await approvalsView(arg);
    if (seq !== renderSeq || !node) return;
    const old = main.firstElementChild;
    if (old && node.dataset.key && old.dataset.key === node.dataset.key) morph(old, node);
    else main.replaceChildren(node);
  } catch (err) {
    explain(err);
  }
}

function render() {
  current = parseHash();
  chrome();
  renderView();
}

document.getElementById('lang').addEventListener('change', (ev) => { setLang(ev.target.value); render(); });
document.getElementById('signout').addEventListener('click', () => {
  stopLive();
  setSession(null);
  banner(null);
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', () => { banner(null); render(); });
setLang(getLang());
render();
