// confer: the lawyer's visit requests (R-BOOK-1..3). Ask for a visit (walk-in or booked),
// see each request's slot, queue position, 48-hour deadline and why it waits, cancel it.
// A request is never refused (R-ARRANGE-2, R-BOOK-2): the page shows the slot or the
// place in the queue, never a "no".
// Every sentence is in the catalogues, Chinese first (i18n-zh-CN.js, i18n-en.js).
import { describeError, formatDuration, formatTime, recordError } from './confer.js';
import { onLangChange, parseFacilityTime, pick, t, timeZone } from './i18n.js';

const $ = (id) => document.getElementById(id);

const STATUSES = ['queued', 'placed', 'cancelled', 'declined'];

/**
 * Wire the requests section. `deps`: authorized(path, options) for API calls with the
 * session, showError(text), setStatus(text).
 */
export function initRequests(deps) {
  const ui = {
    form: $('request-form'),
    facility: $('request-facility'),
    detainee: $('request-detainee'),
    minutes: $('request-minutes'),
    walkIn: $('request-walk-in'),
    booked: $('request-booked'),
    at: $('request-at'),
    consent: $('request-consent'),
    send: $('send-request'),
    list: $('requests'),
    none: $('no-requests'),
    refresh: $('refresh-requests'),
    zone: $('request-zone'),
  };
  let ticker = null;
  let last = null;

  const syncWhen = () => {
    ui.at.disabled = !ui.booked.checked;
    ui.at.required = ui.booked.checked;
  };
  const zoneNote = () => {
    ui.zone.textContent = timeZone() ? t('request.facilityTime', { tz: timeZone() }) : '';
  };
  ui.walkIn.addEventListener('change', syncWhen);
  ui.booked.addEventListener('change', syncWhen);
  syncWhen();

  // Countdowns to each slot's start, refreshed every second without a reload.
  const tick = () => {
    for (const el of ui.list.querySelectorAll('[data-starts-at]')) {
      const seconds = (new Date(el.dataset.startsAt).getTime() - Date.now()) / 1000;
      el.textContent = seconds > 0 ? t('request.startsIn', { d: formatDuration(seconds) }) : t('request.openNow');
    }
  };

  function line(text, className = 'small') {
    const span = document.createElement('span');
    span.className = className;
    span.textContent = text;
    return span;
  }

  function render(requests) {
    last = requests;
    zoneNote();
    ui.list.replaceChildren();
    ui.none.hidden = requests.length > 0;
    for (const r of requests) {
      const item = document.createElement('li');
      item.className = `request-item status-${r.status}`;
      item.dataset.requestId = String(r.id);
      const title = document.createElement('strong');
      title.textContent = t('request.title', { ref: r.detainee_ref, facility: r.facility });
      const badge = line(STATUSES.includes(r.status) ? t(`request.status.${r.status}`) : r.status, 'badge');
      item.append(title, badge);
      const kind = r.kind === 'walk_in'
        ? t('request.walkInTicket', { ticket: r.ticket })
        : t('request.bookedFor', { at: formatTime(r.booked_at) });
      item.append(line(t('request.line', {
        kind, minutes: r.expected_minutes, staff: r.entered_by_staff ? t('request.byStaff') : '',
      })));
      if (r.slot) {
        item.append(line(t('request.slot', {
          booth: r.slot.booth_label || r.slot.booth, from: formatTime(r.slot.starts_at), to: formatTime(r.slot.ends_at),
        }), 'slot'));
        if (r.status === 'placed') {
          const countdown = line('', 'countdown');
          countdown.dataset.startsAt = r.slot.starts_at;
          item.append(countdown);
        }
      }
      if (r.queue_position) item.append(line(t('request.queue', { n: r.queue_position }), 'queue-position'));
      if (r.status === 'queued' || r.status === 'placed') {
        item.append(line(t('request.deadline', { at: formatTime(r.deadline) })));
      }
      if (r.wait && r.wait.message) item.append(line(pick(r.wait.message, r.wait.message_zh), 'reason'));
      if (r.escalation && r.status === 'queued') {
        item.append(line(t('request.escalated'), 'reason'));
      }
      if (r.declined) {
        const d = r.declined;
        const on = d.declined_at ? t('request.declinedOn', { at: formatTime(d.declined_at) }) : '';
        item.append(line(t('request.declinedLine', { on, note: d.note || '' }), 'reason'));
        if (d.written_refusal_ref) item.append(line(t('request.refusalRef', { ref: d.written_refusal_ref })));
        if (d.written_refusal_scan && deps.download) {
          const get = document.createElement('button');
          get.type = 'button';
          get.className = 'secondary written-refusal';
          get.textContent = t('request.refusalScan');
          get.addEventListener('click', () => deps.download(d.written_refusal_scan, `written-refusal-${r.id}`));
          item.append(get);
        }
      }
      if (r.status === 'queued' || (r.status === 'placed' && r.slot && new Date(r.slot.starts_at) > new Date())) {
        const cancel = document.createElement('button');
        cancel.type = 'button';
        cancel.className = 'secondary cancel';
        cancel.textContent = t('request.cancel');
        cancel.setAttribute('aria-label', t('request.cancelAria', { ref: r.detainee_ref }));
        cancel.addEventListener('click', () => cancelRequest(r, cancel));
        item.append(cancel);
      }
      ui.list.append(item);
    }
    tick();
    if (!ticker) ticker = setInterval(tick, 1000);
  }

  async function load() {
    try {
      const reply = await deps.authorized('/api/lawyer/requests');
      render(Array.isArray(reply.requests) ? reply.requests : []);
    } catch (err) {
      recordError(err);
      deps.showError(describeError(err));
    }
  }

  async function cancelRequest(r, button) {
    button.disabled = true;
    deps.showError('');
    try {
      await deps.authorized(`/api/lawyer/requests/${encodeURIComponent(r.id)}/cancel`, { method: 'POST' });
      deps.say('request.cancelled');
    } catch (err) {
      recordError(err);
      deps.showError(describeError(err));
    }
    await load();
    if (deps.changed) deps.changed();
  }

  async function send(event) {
    event.preventDefault();
    deps.showError('');
    const body = {
      facility: ui.facility.value.trim(),
      detainee_ref: ui.detainee.value.trim(),
      expected_minutes: Number.parseInt(ui.minutes.value, 10),
      interrogation_room_consent: ui.consent.checked,
    };
    if (ui.booked.checked) {
      // The time typed is the facility's (R-BOOK-1), like every time on the page.
      const at = parseFacilityTime(ui.at.value);
      if (!at) {
        deps.showError(t('request.chooseTime'));
        return;
      }
      body.booked_at = at.toISOString();
    }
    ui.send.disabled = true;
    try {
      const r = await deps.authorized('/api/lawyer/requests', { method: 'POST', body });
      if (r.slot) {
        deps.say('request.placedAt', { at: formatTime(r.slot.starts_at), booth: r.slot.booth_label || r.slot.booth });
      } else {
        deps.say('request.queued', {
          n: r.queue_position || '?',
          ticket: r.ticket ? t('request.ticket', { ticket: r.ticket }) : '',
          at: formatTime(r.deadline),
        });
      }
      ui.detainee.value = '';
    } catch (err) {
      recordError(err);
      deps.showError(describeError(err));
    } finally {
      ui.send.disabled = false;
    }
    await load();
    if (deps.changed) deps.changed();
  }

  ui.form.addEventListener('submit', send);
  ui.refresh.addEventListener('click', load);
  onLangChange(() => {
    if (last) render(last);
  });
  return { load };
}
