// confer: the lawyer's complaints (R-COMPLAIN-1). The facility's public complaint contact,
// a form to file one, and every complaint with each update staff recorded.
// Every sentence is in the catalogues, Chinese first (i18n-zh-CN.js, i18n-en.js).
import { describeError, formatTime, recordError } from './confer.js';
import { onLangChange, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

const ABOUT = ['refusal', 'delay', 'stop', 'conduct', 'other'];
const STATUS = ['open', 'in_progress', 'closed'];
const KIND = ['progress', 'outcome'];
const known = (list, prefix, value) => (list.includes(value) ? t(`${prefix}.${value}`) : value);

/** Wire the complaints section. `deps`: authorized, showError, setStatus. */
export function initComplaints(deps) {
  const ui = {
    contact: $('complaint-contact'),
    form: $('complaint-form'),
    about: $('complaint-about'),
    visit: $('complaint-visit'),
    text: $('complaint-text'),
    send: $('send-complaint'),
    list: $('complaints'),
    none: $('no-complaints'),
    refresh: $('refresh-complaints'),
  };
  let lastContact = null;
  let last = null;

  function fact(term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    ui.contact.append(dt, dd);
  }

  function renderContact(c) {
    lastContact = c;
    ui.contact.replaceChildren();
    if (c.configured) {
      fact(t('complaints.department'), c.department);
      if (c.address) fact(t('complaints.address'), c.address);
      if (c.phone) fact(t('complaints.phone'), c.phone);
    }
    fact(t('complaints.how'), t(c.configured ? 'complaints.howConfigured' : 'complaints.howNone'));
  }

  async function loadContact() {
    try {
      renderContact(await deps.authorized('/api/lawyer/complaint-contact'));
    } catch (err) {
      recordError(err);
    }
  }

  function render(complaints) {
    last = complaints;
    ui.list.replaceChildren();
    ui.none.hidden = complaints.length > 0;
    for (const c of complaints) {
      const item = document.createElement('li');
      item.className = `complaint status-${c.status}`;
      const title = document.createElement('strong');
      title.textContent = `${known(ABOUT, 'complaints.about', c.about)}${c.visit ? t('complaints.visitNo', { visit: c.visit }) : ''}`;
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = known(STATUS, 'complaints.status', c.status);
      const when = document.createElement('span');
      when.className = 'small';
      when.textContent = t('complaints.filed', { at: formatTime(c.filed_at), text: c.text });
      item.append(title, badge, when);
      const updates = document.createElement('ol');
      updates.className = 'updates';
      for (const u of c.updates || []) {
        const li = document.createElement('li');
        li.textContent = t('complaints.update', { at: formatTime(u.recorded_at), kind: known(KIND, 'complaints.kind', u.kind), text: u.text });
        updates.append(li);
      }
      if (updates.childElementCount) item.append(updates);
      ui.list.append(item);
    }
  }

  async function load() {
    await loadContact();
    try {
      const reply = await deps.authorized('/api/lawyer/complaints');
      render(Array.isArray(reply.complaints) ? reply.complaints : []);
    } catch (err) {
      recordError(err);
      deps.showError(describeError(err));
    }
  }

  async function send(event) {
    event.preventDefault();
    deps.showError('');
    const body = { about: ui.about.value, text: ui.text.value.trim() };
    const visit = Number.parseInt(ui.visit.value, 10);
    if (Number.isInteger(visit) && visit > 0) body.visit = visit;
    ui.send.disabled = true;
    try {
      await deps.authorized('/api/lawyer/complaints', { method: 'POST', body });
      ui.text.value = '';
      ui.visit.value = '';
      deps.say('complaints.sent');
    } catch (err) {
      recordError(err);
      deps.showError(describeError(err));
    } finally {
      ui.send.disabled = false;
    }
    await load();
  }

  ui.form.addEventListener('submit', send);
  ui.refresh.addEventListener('click', load);
  onLangChange(() => {
    if (lastContact) renderContact(lastContact);
    if (last) render(last);
  });
  return { load };
}
