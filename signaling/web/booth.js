// confer: the booth kiosk. No controls to learn: it waits for the booked visit,
// joins it by itself when it opens, and goes back to waiting when it ends.
// The booth is identified by its client certificate, which the browser presents
// on its own; nothing here handles credentials.
import {
  sharedVisitUi,
  api, describeError, formatDuration, formatTime, recordError, setPhase, Visit,
} from './confer.js';
import { receiptButton } from './receipt.js';

const POLL_MS = 5000;
const SHOW_END_MS = 15000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  detail: $('detail'),
  error: $('error'),
  boothLabel: $('booth-label'),
  visitSection: $('visit-section'),
  timeLeft: $('time-left'),
  connectionState: $('connection-state'),
  checkCode: $('check-code'),
  notices: $('notices'),
  unmute: $('unmute'),
  localVideo: $('local-video'),
  remoteVideo: $('remote-video'),
  remotePlaceholder: $('remote-placeholder'),
  remoteCaption: $('remote-caption'),
  remoteTiles: $('remote-tiles'),
  roster: $('roster'),
  roomCheck: $('room-check'),
  upcoming: $('upcoming'),
  queueAfter: $('queue-after'),
  roomRecordingOff: $('room-recording-off'),
  roomMonitoringOff: $('room-monitoring-off'),
  roomOfficer: $('room-officer'),
  roomConfirm: $('room-confirm'),
  receipt: $('receipt'),
};

let visit = null;
let pollTimer = null;
let countdown = null;
/** The visit whose borrowed room the officer is asked to attest (R-PRIV-2). */
let roomVisitId = null;
/** A visit the server ended: not rejoined while the server still lists it as open. */
let endedVisitId = null;

function setStatus(text, detail = '') {
  ui.status.textContent = text;
  ui.detail.textContent = detail;
}

function showError(text) {
  ui.error.textContent = text || '';
  ui.error.hidden = !text;
}

function schedulePoll(delay = POLL_MS) {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, delay);
}

async function poll() {
  pollTimer = null;
  if (visit) return;
  let reply;
  try {
    reply = await api('/api/booth/visit');
  } catch (err) {
    recordError(err);
    setPhase('error');
    setStatus('This booth cannot start visits right now.');
    showError(describeError(err));
    schedulePoll();
    return;
  }
  showError('');
  if (reply && reply.booth) ui.boothLabel.textContent = reply.booth.label || reply.booth.id || '';
  if (reply && reply.remote_station) {
    // R-REMOTE-1: this terminal at a police station is the lawyer's side of visits; the
    // lawyer signs in on the lawyer page here, and the terminal's certificate goes with it.
    window.location.replace('/lawyer');
    return;
  }
  const v = reply ? reply.visit : null;
  const room = reply ? reply.room : null;
  showQueue(reply && reply.queue ? reply.queue.waiting : 0, v);
  // R-PRIV-2: in a borrowed interrogation room, nothing starts until the officer has
  // confirmed that the room's recording and monitoring equipment is off.
  const mustAttest = v && room && room.kind === 'borrowed_interrogation_room' && !room.attested;
  showRoomCheck(mustAttest ? v : null);
  if (v && v.state === 'open' && v.id !== endedVisitId && !mustAttest) {
    stopCountdown();
    await joinVisit(v);
    return;
  }
  setPhase('waiting');
  if (mustAttest) {
    setStatus('Please prepare the room', 'Switch off the recording and monitoring equipment, then confirm below.');
  } else if (v && v.state === 'scheduled') {
    startCountdown(v);
  } else {
    stopCountdown();
    setStatus('Waiting for the visit to start', 'No visit is open for this booth yet.');
  }
  schedulePoll();
}

/** The booth's queue: how many visits are booked here after the current or next one. */
function showQueue(waiting, v) {
  const n = Number.isInteger(waiting) ? waiting : 0;
  const text = n === 0 ? 'No other visit is booked at this booth for now.'
    : `${n} more ${n === 1 ? 'visit is' : 'visits are'} booked at this booth after ${v ? 'this one' : 'now'}.`;
  ui.upcoming.textContent = text;
  ui.upcoming.hidden = false;
  ui.queueAfter.textContent = String(n);
}

/** The next visit's slot and a countdown to its start. */
function startCountdown(v) {
  stopCountdown();
  const tick = () => {
    const seconds = (new Date(v.starts_at).getTime() - Date.now()) / 1000;
    const when = `The visit is booked for ${formatTime(v.starts_at)} to ${formatTime(v.ends_at)}.`;
    setStatus('Waiting for the visit to start', seconds > 0 ? `${when} It starts in ${formatDuration(seconds)}.` : when);
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function stopCountdown() {
  if (countdown) clearInterval(countdown);
  countdown = null;
}

function showRoomCheck(v) {
  const id = v ? v.id : null;
  if (id !== roomVisitId) {
    ui.roomRecordingOff.checked = false;
    ui.roomMonitoringOff.checked = false;
  }
  roomVisitId = id;
  ui.roomCheck.hidden = !v;
}

async function attestRoom(event) {
  event.preventDefault();
  if (!roomVisitId) return;
  if (!ui.roomRecordingOff.checked || !ui.roomMonitoringOff.checked) {
    showError('Switch off both the recording and the monitoring equipment, then tick both boxes.');
    return;
  }
  ui.roomConfirm.disabled = true;
  try {
    await api(`/api/booth/visits/${encodeURIComponent(roomVisitId)}/room-attestation`, {
      method: 'POST',
      body: { officer: ui.roomOfficer.value.trim(), recording_off: true, monitoring_off: true },
    });
    showError('');
    showRoomCheck(null);
    setStatus('Thank you. The visit can start now.');
    schedulePoll(0);
  } catch (err) {
    recordError(err);
    showError(describeError(err));
  } finally {
    ui.roomConfirm.disabled = false;
  }
}

ui.roomCheck.addEventListener('submit', attestRoom);

function addNotice(text) {
  const item = document.createElement('li');
  item.textContent = text;
  ui.notices.prepend(item);
}

async function joinVisit(v) {
  setPhase('requesting-token');
  setStatus('The visit is starting', 'Please wait…');
  let token;
  try {
    const reply = await api(`/api/booth/visits/${encodeURIComponent(v.id)}/join-token`, { method: 'POST' });
    token = reply.token;
  } catch (err) {
    recordError(err);
    setPhase('error');
    setStatus('The visit could not be started.');
    showError(describeError(err));
    schedulePoll();
    return;
  }
  ui.notices.replaceChildren();
  ui.receipt.hidden = true;
  ui.timeLeft.textContent = '–';
  ui.connectionState.textContent = '–';
  ui.visitSection.hidden = false;
  visit = new Visit({
    localVideo: ui.localVideo,
    remoteVideo: ui.remoteVideo,
    remotePlaceholder: ui.remotePlaceholder,
    remoteCaption: ui.remoteCaption,
    primaryRole: 'lawyer',
    tiles: ui.remoteTiles,
    rosterList: ui.roster,
    ui: {
      ...sharedVisitUi(ui, addNotice),
      status: setStatus,
      ended: (message, { endedByServer }) => {
        ui.unmute.hidden = true;
        ui.visitSection.hidden = true;
        if (endedByServer) {
          setStatus('The visit has ended', message);
          endedVisitId = v.id;
          // R-PRIV-1: the signed receipt of the visit that just ended.
          const path = `/api/booth/visits/${encodeURIComponent(v.id)}/receipt`;
          ui.receipt.replaceChildren(receiptButton(v.id, { path, onError: showError }));
          ui.receipt.hidden = false;
        } else {
          // Lost connection or a failure: try again while the visit is still open.
          setStatus('The visit was interrupted', `${message} Trying again shortly…`);
        }
        visit = null;
        schedulePoll(SHOW_END_MS);
      },
    },
  });
  try {
    await visit.start(token);
  } catch {
    // `ended` has already shown what happened and scheduled the next poll.
  }
}

window.addEventListener('pagehide', () => {
  if (visit) visit.leave();
});

setPhase('waiting');
setStatus('Waiting for the visit to start');
poll();
