// confer: the lawyer's complaints (R-COMPLAIN-1). The facility's public complaint contact,
// a form to file one, and every complaint with each update staff recorded.
import { describeError, formatTime, recordError } from './confer.js';

const $ = (id) => document.getElementById(id);

const ABOUT = {
  refusal: 'A refusal',
  delay: 'A delay',
  stop: 'A stopped visit',
  conduct: "Someone's conduct",
  other: 'Something else',
};

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

  function fact(term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    ui.contact.append(dt, dd);
  }

  async function loadContact() {
    try {
      const c = await deps.authorized('/api/lawyer/complaint-contact');
      ui.contact.replaceChildren();
      if (c.configured) {
        fact('Complaint department (投诉受理部门)', c.department);
        if (c.address) fact('Address (地址)', c.address);
        if (c.phone) fact('Telephone (电话)', c.phone);
      }
      if (c.message) fact('How to complain (投诉方式)', c.message);
    } catch (err) {
      recordError(err);
    }
  }

  function render(complaints) {
    ui.list.replaceChildren();
    ui.none.hidden = complaints.length > 0;
    for (const c of complaints) {
      const item = document.createElement('li');
      item.className = `complaint status-${c.status}`;
      const title = document.createElement('strong');
      title.textContent = `${ABOUT[c.about] || c.about}${c.visit ? `, visit ${c.visit}` : ''}`;
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = c.status;
      const when = document.createElement('span');
      when.className = 'small';
      when.textContent = `Filed ${formatTime(c.filed_at)}: ${c.text}`;
      item.append(title, badge, when);
      const updates = document.createElement('ol');
      updates.className = 'updates';
      for (const u of c.updates || []) {
        const li = document.createElement('li');
        li.textContent = `${formatTime(u.recorded_at)}, ${u.kind}: ${u.text}`;
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
      deps.setStatus('Your complaint is filed; the answers will appear here.');
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
  return { load };
}
