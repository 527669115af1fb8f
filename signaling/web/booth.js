// confer: the booth kiosk. No controls to learn: it waits for the booked visit,
// joins it by itself when it opens, and goes back to waiting when it ends.
// The booth is identified by its client certificate, which the browser presents
// on its own; nothing here handles credentials.
//
// What the detainee reads (Chinese first; the switch offers English): one large headline
// for the state of the visit (waiting for your lawyer / your lawyer has joined / the
// lawyer's connection is being restored / your lawyer left / the visit has ended and why),
// never a technical "connected" before the lawyer is there; in place of the lawyer's
// picture a clear placeholder whenever the lawyer is not there (R-REMOTE-2: never a frozen
// frame); the time left in large type with the 5- and 1-minute warnings on screen and a
// short tone. Nothing staff-only is shown. After any failure it tries again by itself.
import {
  sharedVisitUi,
  api, describeError, formatDuration, formatTime, recordError, setPhase, Visit,
} from './confer.js';
import { receiptButton } from './receipt.js';
import { mountSwitch, onLangChange, setTimeZone, t } from './i18n.js';
import { beep, showWarning } from './warnings.js';

const POLL_MS = 5000;
const SHOW_END_MS = 15000;
/** An unexpected script error while no visit runs: reload the page after this long. */
const RELOAD_AFTER_ERROR_MS = 30000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  detail: $('detail'),
  warning: $('warning'),
  error: $('error'),
  boothLabel: $('booth-label'),
  visitSection: $('visit-section'),
  lawyerMedia: $('lawyer-media'),
  timeLeft: $('time-left'),
  connectionState: $('connection-state'),
  checkCode: $('check-code'),
  notices: $('notices'),
  unmute: $('unmute'),
  localVideo: $('local-video'),
  remoteVideo: $('remote-video'),
  remoteFigure: $('remote-figure'),
  remoteWaiting: $('remote-waiting'),
  remotePlaceholder: $('remote-placeholder'),
  remoteCaption: $('remote-caption'),
  remoteTiles: $('remote-tiles'),
  roster: $('roster'),
  roomCheck: $('room-check'),
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
/** The headline as catalogue keys (re-rendered when the language is switched). */
let shown = { status: 'booth.starting', detail: null, vars: {}, text: null };
/**
 * Where the lawyer is in this visit: 'waiting' (not yet joined), 'joined',
 * 'reconnecting', 'left'. Exposed as `data-lawyer` on <body> for tests.
 */
let lawyer = 'waiting';

function render() {
  ui.status.textContent = t(shown.status, shown.vars);
  ui.detail.textContent = shown.text !== null ? shown.text : shown.detail ? t(shown.detail, shown.vars) : '';
}

/** The headline (catalogue key), its detail (key, or `text` when it is a server sentence). */
function setStatus(status, detail = null, vars = {}, text = null) {
  shown = { status, detail, vars, text };
  render();
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
    setStatus('booth.cannotStart');
    showError(describeError(err));
    schedulePoll();
    return;
  }
  showError('');
  if (reply) setTimeZone(reply.time_zone);
  if (reply && reply.booth) ui.boothLabel.textContent = reply.booth.label || reply.booth.id || '';
  if (reply && reply.remote_station) {
    // R-REMOTE-1: this terminal at a police station is the lawyer's side of visits; the
    // lawyer signs in on the lawyer page here, and the terminal's certificate goes with it.
    window.location.replace('/lawyer');
    return;
  }
  const v = reply ? reply.visit : null;
  const room = reply ? reply.room : null;
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
    setStatus('booth.prepareRoom', 'booth.prepareRoomDetail');
  } else if (v && v.state === 'scheduled') {
    startCountdown(v);
  } else if (!endedVisitId || !v) {
    stopCountdown();
    // The end of the last visit stays on screen until the next one is booked.
    if (shown.status !== 'booth.ended') setStatus('booth.waitingVisit', 'booth.noVisit');
  }
  schedulePoll();
}

/** The next visit's slot and a countdown to its start. */
function startCountdown(v) {
  stopCountdown();
  const tick = () => {
    const seconds = (new Date(v.starts_at).getTime() - Date.now()) / 1000;
    const when = t('booth.booked', { from: formatTime(v.starts_at), to: formatTime(v.ends_at) });
    const text = seconds > 0 ? `${when} ${t('booth.startsIn', { d: formatDuration(seconds) })}` : when;
    setStatus('booth.waitingVisit', null, {}, text);
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
    showError(t('booth.roomBoth'));
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
    setStatus('booth.roomThanks');
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

/**
 * The lawyer's presence drives the headline and the picture: until the lawyer is there
 * (and while they are away) the video is replaced by a placeholder saying so.
 */
function setLawyer(next) {
  lawyer = next;
  document.body.dataset.lawyer = next;
  const away = next !== 'joined';
  ui.remoteFigure.classList.toggle('absent', away);
  ui.remoteWaiting.textContent = away ? t(`booth.${{ waiting: 'waitingLawyer', reconnecting: 'lawyerReconnecting', left: 'lawyerLeft' }[next]}`) : '';
  if (next === 'waiting') setStatus('booth.waitingLawyer', 'booth.waitingLawyerDetail');
  else if (next === 'joined') setStatus('booth.lawyerJoined', 'booth.lawyerJoinedDetail');
  else if (next === 'reconnecting') setStatus('booth.lawyerReconnecting', 'booth.lawyerReconnectingDetail');
  else setStatus('booth.lawyerLeft', 'booth.lawyerLeftDetail');
}

/** The server's roster says where the lawyer is (R-VERIFY-4). */
function onRoster(participants) {
  const entry = participants.find((p) => p.role === 'lawyer' && !p.you);
  if (entry) setLawyer(entry.state === 'reconnecting' ? 'reconnecting' : 'joined');
  else if (lawyer !== 'waiting') setLawyer('left');
  lawyerMedia = entry && entry.state !== 'reconnecting'
    ? { muted: entry.audio_muted === true, off: entry.video_off === true }
    : { muted: false, off: false };
  renderLawyerMedia();
}

/**
 * R-REMOTE-1: on the picture itself, why it is black or silent: the lawyer muted the
 * microphone or turned the camera off (the lawyer's own `media_state`, via the roster).
 */
let lawyerMedia = { muted: false, off: false };
function renderLawyerMedia() {
  const lines = [];
  if (lawyerMedia.off) lines.push(t('booth.lawyerCameraOff'));
  if (lawyerMedia.muted) lines.push(t('booth.lawyerMuted'));
  ui.lawyerMedia.textContent = lines.join('\n');
  ui.lawyerMedia.hidden = lines.length === 0;
}

/** Notices the booth shows itself: warnings on screen with a tone, the lawyer's moves. */
function onEvent(notice) {
  if (notice.kind === 'time_warning') {
    showWarning(ui.warning, notice.minutes_left);
    beep();
  } else if (notice.kind === 'slot_extended') {
    showWarning(ui.warning, null);
  } else if (notice.role === 'lawyer') {
    if (notice.kind === 'participant_reconnecting') setLawyer('reconnecting');
    else if (notice.kind === 'participant_left') setLawyer('left');
    else if (notice.kind === 'participant_joined') setLawyer('joined');
  }
}

async function joinVisit(v) {
  setPhase('requesting-token');
  setStatus('booth.visitStarting', 'booth.pleaseWait');
  let token;
  try {
    const reply = await api(`/api/booth/visits/${encodeURIComponent(v.id)}/join-token`, { method: 'POST' });
    token = reply.token;
  } catch (err) {
    recordError(err);
    setPhase('error');
    setStatus('booth.couldNotStart');
    showError(describeError(err));
    schedulePoll();
    return;
  }
  ui.notices.replaceChildren();
  ui.receipt.hidden = true;
  showWarning(ui.warning, null);
  ui.timeLeft.textContent = '–';
  ui.connectionState.textContent = '–';
  ui.visitSection.hidden = false;
  setLawyer('waiting');
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
      // The Visit's own progress lines ("Connected" and the like) are not the detainee's
      // business: the headline follows the lawyer; only this booth's own reconnection shows.
      status: (text) => {
        if (text.startsWith('正在重新连接')) setStatus('booth.selfReconnecting');
        else if (shown.status === 'booth.selfReconnecting') setLawyer(lawyer);
      },
      roster: onRoster,
      event: onEvent,
      ended: (message, { endedByServer }) => {
        ui.unmute.hidden = true;
        lawyerMedia = { muted: false, off: false };
        renderLawyerMedia();
        ui.visitSection.hidden = true;
        showWarning(ui.warning, null);
        document.body.dataset.lawyer = 'ended';
        if (endedByServer) {
          setStatus('booth.ended', null, {}, message);
          endedVisitId = v.id;
          // R-PRIV-1: the signed receipt of the visit that just ended.
          const path = `/api/booth/visits/${encodeURIComponent(v.id)}/receipt`;
          ui.receipt.replaceChildren(receiptButton(v.id, { path, onError: showError }));
          ui.receipt.hidden = false;
        } else {
          // Lost connection or a failure: try again while the visit is still open.
          setStatus('booth.interrupted', 'booth.retrying', { message });
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

// A kiosk recovers by itself: an unexpected script failure outside a visit reloads the page.
let reloadTimer = null;
function reloadLater() {
  if (reloadTimer || visit) return;
  reloadTimer = setTimeout(() => {
    if (visit) {
      reloadTimer = null;
      return;
    }
    window.location.reload();
  }, RELOAD_AFTER_ERROR_MS);
}
window.addEventListener('error', reloadLater);
window.addEventListener('unhandledrejection', reloadLater);

mountSwitch($('lang-switch'));
onLangChange(() => {
  render();
  if (visit) {
    setLawyer(lawyer);
    visit.renderRoster();
  }
  renderLawyerMedia();
});
setPhase('waiting');
setStatus('booth.waitingVisit');
poll();
