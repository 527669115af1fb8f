// confer: the lawyer's page. Sign in, see the assigned visits, join an open one.
import {
  sharedVisitUi,
  api, ConferError, describeError, formatTime, recordError, refusalText, setPhase, Visit,
} from './confer.js';
import { initRequests } from './requests.js';
import { initComplaints } from './complaints.js';
import { receiptButton } from './receipt.js';
import { formatClock, mountSwitch, onLangChange, pick, setTimeZone, t } from './i18n.js';
import { beep, showWarning } from './warnings.js';
import { initControls } from './controls.js';
import { initPrejoin } from './prejoin.js';

const SESSION_KEY = 'confer.lawyer.session';
const REFRESH_MS = 15000;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  error: $('error'),
  who: $('who'),
  signOut: $('sign-out'),
  loginSection: $('login-section'),
  loginForm: $('login-form'),
  username: $('username'),
  password: $('password'),
  signIn: $('sign-in'),
  visitsSection: $('visits-section'),
  visits: $('visits'),
  noVisits: $('no-visits'),
  refresh: $('refresh'),
  visitSection: $('visit-section'),
  visitHeading: $('visit-heading'),
  timeLeft: $('time-left'),
  connectionState: $('connection-state'),
  checkCode: $('check-code'),
  codesDiffer: $('codes-differ'),
  notices: $('notices'),
  leave: $('leave'),
  unmute: $('unmute'),
  localVideo: $('local-video'),
  remoteVideo: $('remote-video'),
  remotePlaceholder: $('remote-placeholder'),
  remoteCaption: $('remote-caption'),
  remoteTiles: $('remote-tiles'),
  roster: $('roster'),
  invite: $('invite'),
  inviteCompanion: $('invite-companion'),
  inviteSend: $('invite-send'),
  inviteAnswer: $('invite-answer'),
  invited: $('invited'),
  documentsSection: $('documents-section'),
  engagements: $('engagements'),
  noEngagements: $('no-engagements'),
  refreshDocuments: $('refresh-documents'),
  engagementForm: $('engagement-form'),
  engagementFacility: $('engagement-facility'),
  engagementDetainee: $('engagement-detainee'),
  engagementFirm: $('engagement-firm'),
  engagementAuthority: $('engagement-authority'),
  addEngagement: $('add-engagement'),
  requestsSection: $('requests-section'),
  complaintsSection: $('complaints-section'),
  extend: $('extend'),
  extendMinutes: $('extend-minutes'),
  extendAnswer: $('extend-answer'),
  warning: $('warning'),
  mute: $('mute'),
  camera: $('camera'),
  cameraChoice: $('camera-choice'),
  micChoice: $('mic-choice'),
  selfState: $('self-state'),
  leaveConfirm: $('leave-confirm'),
  leaveYes: $('leave-yes'),
  leaveNo: $('leave-no'),
  tabs: $('tabs'),
};

/**
 * The signed-in lawyer's sections as tabs (WAI-ARIA tabs pattern): visits, requests,
 * documents, complaints; one panel shown at a time. The visit itself is a view of its own,
 * with no tabs (R-REMOTE-1: nothing else on screen while in a visit).
 */
const TABS = [
  ['tab-visits', 'visits-section'],
  ['tab-requests', 'requests-section'],
  ['tab-documents', 'documents-section'],
  ['tab-complaints', 'complaints-section'],
];
let currentTab = 'visits-section';

let refreshTimer = null;
let visit = null;
/** The visit being joined or held (its heading is re-rendered on a language switch). */
let currentVisit = null;

function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

/** The status line as a catalogue key (re-rendered on a language switch), or raw text. */
let statusKey = null;
let statusVars = {};

function setStatus(text) {
  statusKey = null;
  ui.status.textContent = text;
}

function say(key, vars = {}) {
  statusKey = key;
  statusVars = vars;
  ui.status.textContent = t(key, vars);
}

function showError(text) {
  ui.error.textContent = text || '';
  ui.error.hidden = !text;
}

/** Show the sign-in, the tabbed sections (`ui.visitsSection`) or the visit view. */
function show(section) {
  ui.loginSection.hidden = section !== ui.loginSection;
  ui.visitSection.hidden = section !== ui.visitSection;
  const tabbed = section === ui.visitsSection;
  ui.tabs.hidden = !tabbed;
  for (const [tabId, panelId] of TABS) {
    const selected = panelId === currentTab;
    const tab = $(tabId);
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(panelId).hidden = !(tabbed && selected);
  }
}

function selectTab(panelId, focus = false) {
  currentTab = panelId;
  if (!ui.tabs.hidden) show(ui.visitsSection);
  if (panelId !== 'visits-section') prejoin.stop();
  const entry = TABS.find(([, p]) => p === panelId);
  if (focus && entry) $(entry[0]).focus();
}

for (const [tabId, panelId] of TABS) $(tabId).addEventListener('click', () => selectTab(panelId));
// Arrow keys move between tabs (and select them), Home and End to the first and last.
ui.tabs.addEventListener('keydown', (event) => {
  const at = TABS.findIndex(([, p]) => p === currentTab);
  let next = null;
  if (event.key === 'ArrowRight') next = (at + 1) % TABS.length;
  else if (event.key === 'ArrowLeft') next = (at - 1 + TABS.length) % TABS.length;
  else if (event.key === 'Home') next = 0;
  else if (event.key === 'End') next = TABS.length - 1;
  if (next === null) return;
  event.preventDefault();
  selectTab(TABS[next][1], true);
});

function showLogin(message) {
  sessionStorage.removeItem(SESSION_KEY);
  stopRefreshing();
  prejoin.stop();
  ui.who.hidden = true;
  ui.signOut.hidden = true;
  setPhase('signed-out');
  if (message) setStatus(message);
  else say('lawyer.pleaseSignIn');
  show(ui.loginSection);
  ui.username.focus();
}

async function signIn(event) {
  event.preventDefault();
  showError('');
  ui.signIn.disabled = true;
  setPhase('signing-in');
  say('lawyer.signingIn');
  try {
    const reply = await api('/api/lawyer/login', {
      method: 'POST',
      body: { username: ui.username.value, password: ui.password.value },
    });
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token: reply.token, lawyer: reply.lawyer }));
    ui.password.value = '';
    await showVisits();
  } catch (err) {
    recordError(err);
    setPhase('signed-out');
    say('lawyer.pleaseSignIn');
    showError(describeError(err));
  } finally {
    ui.signIn.disabled = false;
  }
}

async function authorized(path, options = {}) {
  const s = session();
  if (!s) throw new ConferError('not_signed_in', 'Please sign in.');
  try {
    return await api(path, { ...options, token: s.token });
  } catch (err) {
    if (err instanceof ConferError && (err.code === 'http_401' || err.code === 'unauthenticated'
      || err.code === 'session_expired' || err.code === 'invalid_session')) {
      showLogin(err.message);
    }
    throw err;
  }
}

function stateLabel(visitState) {
  const key = `lawyer.state.${visitState}`;
  return t(key) === key ? visitState : t(key);
}

/** The last list shown (re-rendered on a language switch). */
let lastVisits = [];

function renderVisits(visits) {
  lastVisits = visits;
  ui.visits.replaceChildren();
  ui.noVisits.hidden = visits.length > 0;
  for (const v of visits) {
    const item = document.createElement('li');
    item.className = `visit-item state-${v.state}`;
    const title = document.createElement('strong');
    title.textContent = `${v.facility}, ${v.booth}`;
    const when = document.createElement('span');
    when.textContent = t('lawyer.when', { from: formatTime(v.starts_at), to: formatTime(v.ends_at) });
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = stateLabel(v.state);
    item.append(title, when, badge);
    if (v.remote_booth) {
      const where = document.createElement('span');
      where.className = 'small';
      where.textContent = t('lawyer.remoteBooth', { booth: v.remote_booth });
      item.append(where);
    }
    if (v.state === 'open') {
      const join = document.createElement('button');
      join.type = 'button';
      join.className = 'join';
      join.dataset.visitId = String(v.id);
      join.textContent = t('lawyer.join');
      join.setAttribute('aria-label', t('lawyer.joinAria', { facility: v.facility, booth: v.booth }));
      join.addEventListener('click', () => joinVisit(v));
      item.append(join);
    }
    if (v.state === 'ended') {
      // R-PRIV-1: the signed receipt of the visit, to keep.
      const path = `/api/lawyer/visits/${encodeURIComponent(v.id)}/receipt`;
      item.append(receiptButton(v.id, { path, token: session()?.token, onError: showError }));
    }
    ui.visits.append(item);
  }
}

async function loadVisits() {
  try {
    const reply = await authorized('/api/lawyer/visits');
    setTimeZone(reply.time_zone);
    renderVisits(Array.isArray(reply.visits) ? reply.visits : []);
    showError('');
  } catch (err) {
    recordError(err);
    if (session()) showError(describeError(err));
  }
}

function stopRefreshing() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function showVisits() {
  const s = session();
  if (!s) {
    showLogin();
    return;
  }
  ui.who.textContent = s.lawyer && s.lawyer.display_name ? t('lawyer.signedInAs', { name: s.lawyer.display_name }) : '';
  ui.who.hidden = false;
  ui.signOut.hidden = false;
  setPhase('visits');
  say('lawyer.choose');
  show(ui.visitsSection);
  await loadVisits();
  await requests.load();
  await loadDocuments();
  await complaints.load();
  stopRefreshing();
  refreshTimer = setInterval(() => {
    loadVisits();
    requests.load();
  }, REFRESH_MS);
}

function addNotice(text) {
  const item = document.createElement('li');
  const time = formatClock();
  item.textContent = `${time}: ${text}`;
  ui.notices.prepend(item);
}

async function joinVisit(v) {
  stopRefreshing();
  showError('');
  ui.notices.replaceChildren();
  currentVisit = v;
  // The devices chosen in the check before joining, released there first (R-REMOTE-1).
  const devices = prejoin.chosen();
  prejoin.stop();
  ui.visitHeading.textContent = t('lawyer.visitHeading', { facility: v.facility, booth: v.booth });
  showWarning(ui.warning, null);
  ui.leaveConfirm.hidden = true;
  controls.reset();
  ui.timeLeft.textContent = '–';
  ui.connectionState.textContent = '–';
  ui.leave.hidden = false;
  ui.checkCode.textContent = '–';
  // R-PRIV-1: the check codes on the two screens differ: end the visit (e2ee_check_failed).
  ui.codesDiffer.hidden = false;
  ui.codesDiffer.onclick = () => visit && visit.codesDiffer();
  ui.extend.hidden = false;
  ui.extendAnswer.textContent = '';
  ui.extend.onclick = () => askForMoreTime(v);
  show(ui.visitSection);
  setPhase('requesting-token');
  say('lawyer.gettingPass');
  let token;
  try {
    const reply = await authorized(`/api/lawyer/visits/${encodeURIComponent(v.id)}/join-token`, { method: 'POST' });
    token = reply.token;
  } catch (err) {
    recordError(err);
    setPhase('error');
    if (session()) {
      showError(describeError(err));
      await showVisits();
    }
    return;
  }
  visit = new Visit({
    localVideo: ui.localVideo,
    remoteVideo: ui.remoteVideo,
    remotePlaceholder: ui.remotePlaceholder,
    remoteCaption: ui.remoteCaption,
    primaryRole: 'booth',
    devices,
    tiles: ui.remoteTiles,
    rosterList: ui.roster,
    ui: {
      ...sharedVisitUi(ui, addNotice),
      status: setStatus,
      event: (notice) => {
        // R-ARRANGE-4: the warnings on screen with a tone; an extension clears them.
        if (notice.kind === 'time_warning') {
          showWarning(ui.warning, notice.minutes_left);
          beep();
        } else if (notice.kind === 'slot_extended') {
          showWarning(ui.warning, null);
        }
      },
      ended: (message) => {
        ui.unmute.hidden = true;
        ui.leave.hidden = true;
        ui.leaveConfirm.hidden = true;
        showWarning(ui.warning, null);
        ui.codesDiffer.hidden = true;
        ui.extend.hidden = true;
        ui.invite.hidden = true;
        addNotice(message);
        setStatus(message);
        visit = null;
        // Back to the list after a moment, keeping the message visible.
        setTimeout(() => {
          if (!visit && session()) {
            showVisits().then(() => setStatus(message));
          }
        }, 4000);
      },
    },
  });
  ui.invite.hidden = true;
  ui.inviteAnswer.textContent = '';
  loadCompanions(v);
  try {
    await visit.start(token);
    controls.started();
  } catch {
    // `ended` has already told the person what happened.
  }
}

/**
 * R-VERIFY-4: the visit's lawyer invites assistants and interpreters from here; the list
 * holds only those eligible for the visit's case (the server decides). Assistants and
 * interpreters themselves get 403 and see no control.
 */
async function loadCompanions(v) {
  let reply;
  try {
    reply = await authorized(`/api/lawyer/visits/${encodeURIComponent(v.id)}/companions`);
  } catch {
    return;
  }
  const list = Array.isArray(reply.companions) ? reply.companions : [];
  ui.inviteCompanion.replaceChildren(...list.map((c) => {
    const option = document.createElement('option');
    option.value = String(c.id);
    const kind = t(c.kind === 'interpreter' ? 'invite.kindInterpreter' : 'invite.kindAssistant');
    const invited = c.invited ? t('invite.alreadyInvited') : '';
    option.textContent = `${kind}: ${c.display_name}${invited}`;
    return option;
  }));
  // One "withdraw" button next to each invited companion (R-VERIFY-4).
  ui.invited.replaceChildren(...list.filter((c) => c.invited).map((c) => {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary withdraw';
    button.dataset.accountId = String(c.id);
    button.textContent = t('invite.withdraw');
    button.onclick = () => withdrawCompanion(v, c.id);
    item.append(`${c.display_name} `, button);
    return item;
  }));
  ui.inviteSend.disabled = list.length === 0;
  if (list.length === 0 && !ui.inviteAnswer.textContent) {
    ui.inviteAnswer.textContent = t('invite.nobody');
  }
  ui.inviteSend.onclick = () => inviteCompanion(v);
  ui.invite.hidden = !visit;
}

async function inviteCompanion(v) {
  const id = Number.parseInt(ui.inviteCompanion.value, 10);
  if (!Number.isInteger(id)) return;
  ui.inviteSend.disabled = true;
  try {
    await authorized(`/api/lawyer/visits/${encodeURIComponent(v.id)}/companions`, {
      method: 'POST',
      body: { account_id: id },
    });
    ui.inviteAnswer.textContent = t('invite.done');
  } catch (err) {
    recordError(err);
    ui.inviteAnswer.textContent = describeError(err);
  } finally {
    ui.inviteSend.disabled = false;
  }
  await loadCompanions(v);
}

async function withdrawCompanion(v, id) {
  try {
    const reply = await authorized(`/api/lawyer/visits/${encodeURIComponent(v.id)}/companions/${id}`, { method: 'DELETE' });
    ui.inviteAnswer.textContent = reply.removed_from_visit
      ? t('invite.withdrawnRemoved')
      : t('invite.withdrawn');
  } catch (err) {
    recordError(err);
    ui.inviteAnswer.textContent = describeError(err);
  }
  await loadCompanions(v);
}

/**
 * Ask for more time (R-ARRANGE-4). Granted at once when the booth and the client are free
 * after the slot (both sides then see the new end); otherwise the next free slot is offered.
 */
async function askForMoreTime(v) {
  const minutes = Number.parseInt(ui.extendMinutes.value, 10);
  ui.extend.disabled = true;
  try {
    const reply = await authorized(`/api/lawyer/visits/${encodeURIComponent(v.id)}/extend`, {
      method: 'POST',
      body: { minutes },
    });
    if (reply.granted) {
      ui.extendAnswer.textContent = t('lawyer.granted', { at: formatTime(reply.ends_at) });
    } else {
      const next = reply.next_slot;
      const why = pick(reply.message, reply.message_zh) || t('lawyer.notGranted');
      ui.extendAnswer.textContent = next
        ? `${why} ${t('lawyer.nextSlot', { from: formatTime(next.starts_at), to: formatTime(next.ends_at) })}`
        : why;
    }
  } catch (err) {
    recordError(err);
    ui.extendAnswer.textContent = describeError(err);
  } finally {
    ui.extend.disabled = false;
  }
}

// --- documents (R-ARRANGE-1): the firm letter and the power of attorney or legal-aid letter ---

const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;
const DOC_KINDS = ['firm_letter', 'power_of_attorney', 'legal_aid_letter'];
const DOC_STATUSES = ['missing', 'pending', 'accepted', 'rejected'];
/** The engagements last shown (re-rendered on a language switch). */
let lastEngagements = null;

/** Upload one file as the raw request body; the server judges its type by content. */
async function uploadDocument(engagementId, kind, file) {
  const s = session();
  if (!s) throw new ConferError('not_signed_in', t('lawyer.pleaseSignIn'));
  if (file.size > MAX_DOCUMENT_BYTES) {
    throw new ConferError('document_too_large', t('docs.tooLarge'));
  }
  let response;
  try {
    response = await fetch(`/api/lawyer/engagements/${encodeURIComponent(engagementId)}/documents/${encodeURIComponent(kind)}`, {
      method: 'PUT',
      headers: { Accept: 'application/json', Authorization: `Bearer ${s.token}` },
      body: file,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ConferError('network', t('net.unreachable'));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data && typeof data.code === 'string' ? data.code : `http_${response.status}`;
    const message = refusalText(data, response.status);
    if (response.status === 401) showLogin(message);
    throw new ConferError(code, message);
  }
  return data;
}

/** The newest upload of `kind`, if any (the list is newest first). */
function newestOf(engagement, kind) {
  return (engagement.documents || []).find((d) => d.kind === kind) || null;
}

function renderRequiredDocument(engagement, kind) {
  const doc = newestOf(engagement, kind);
  const status = doc ? doc.status : 'missing';
  const item = document.createElement('li');
  item.className = `document status-${status}`;
  item.dataset.kind = kind;
  const name = document.createElement('strong');
  name.textContent = DOC_KINDS.includes(kind) ? t(`docs.kind.${kind}`) : kind;
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.textContent = DOC_STATUSES.includes(status) ? t(`docs.status.${status}`) : status;
  item.append(name, badge);
  if (doc && doc.uploaded_at) {
    const when = document.createElement('span');
    when.className = 'small';
    when.textContent = t('docs.uploadedAt', { at: formatTime(doc.uploaded_at) });
    item.append(when);
  }
  if (status === 'rejected' && doc.reject_reason) {
    const reason = document.createElement('span');
    reason.className = 'reason';
    reason.textContent = t('docs.reason', { reason: doc.reject_reason });
    item.append(reason);
  }
  if (status === 'missing' || status === 'rejected') {
    const inputId = `upload-${engagement.id}-${kind}`;
    const label = document.createElement('label');
    label.htmlFor = inputId;
    label.textContent = t('docs.choose');
    const input = document.createElement('input');
    input.type = 'file';
    input.id = inputId;
    input.accept = 'application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'upload';
    button.textContent = t('docs.upload');
    button.setAttribute('aria-label', t('docs.uploadAria', { name: name.textContent }));
    button.addEventListener('click', async () => {
      const file = input.files && input.files[0];
      if (!file) {
        showError(t('docs.chooseFirst'));
        return;
      }
      button.disabled = true;
      showError('');
      say('docs.uploading');
      try {
        await uploadDocument(engagement.id, kind, file);
        say('docs.uploaded', { name: name.textContent });
        await loadDocuments();
      } catch (err) {
        recordError(err);
        say('docs.uploadFailed');
        if (session()) showError(describeError(err));
      } finally {
        button.disabled = false;
      }
    });
    item.append(label, input, button);
  }
  return item;
}

function renderEngagements(engagements) {
  lastEngagements = engagements;
  ui.engagements.replaceChildren();
  ui.noEngagements.hidden = engagements.length > 0;
  for (const e of engagements) {
    const item = document.createElement('li');
    item.className = 'engagement';
    item.dataset.engagementId = String(e.id);
    const title = document.createElement('strong');
    title.textContent = t('request.title', { ref: e.detainee_ref, facility: e.facility });
    const firm = document.createElement('span');
    firm.className = 'small';
    firm.textContent = t(e.complete ? 'docs.complete' : 'docs.incomplete', { firm: e.law_firm });
    const docs = document.createElement('ul');
    docs.className = 'documents';
    for (const kind of e.required || []) docs.append(renderRequiredDocument(e, kind));
    item.append(title, firm, docs);
    ui.engagements.append(item);
  }
}

async function loadDocuments() {
  try {
    const reply = await authorized('/api/lawyer/engagements');
    renderEngagements(Array.isArray(reply.engagements) ? reply.engagements : []);
  } catch (err) {
    recordError(err);
    if (session()) showError(describeError(err));
  }
}

async function addEngagement(event) {
  event.preventDefault();
  showError('');
  ui.addEngagement.disabled = true;
  try {
    await authorized('/api/lawyer/engagements', {
      method: 'POST',
      body: {
        facility: ui.engagementFacility.value.trim(),
        detainee_ref: ui.engagementDetainee.value.trim(),
        law_firm: ui.engagementFirm.value.trim(),
        authority: ui.engagementAuthority.value,
      },
    });
    ui.engagementDetainee.value = '';
    say('docs.added');
  } catch (err) {
    recordError(err);
    if (session()) showError(describeError(err));
  } finally {
    ui.addEngagement.disabled = false;
  }
  await loadDocuments();
}

/**
 * Save a file the API serves to the signed-in lawyer only (e.g. a client's scanned
 * written refusal): fetched with the session, handed to the browser as a download.
 */
async function download(path, name) {
  const s = session();
  if (!s) return;
  try {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${s.token}` },
      credentials: 'same-origin',
      cache: 'no-store',
    });
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch { data = null; }
      throw new ConferError(`http_${response.status}`, refusalText(data, response.status));
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    recordError(err);
    showError(describeError(err));
  }
}

const deps = { authorized, showError, setStatus, say, download, changed: () => loadVisits() };
const requests = initRequests(deps);
const complaints = initComplaints(deps);

ui.engagementForm.addEventListener('submit', addEngagement);
ui.refreshDocuments.addEventListener('click', loadDocuments);
ui.loginForm.addEventListener('submit', signIn);
ui.refresh.addEventListener('click', loadVisits);
ui.signOut.addEventListener('click', () => {
  if (visit) visit.leave();
  showLogin(t('lawyer.signedOut'));
});
// Leaving asks first (a slip of the finger must not end a privileged visit).
ui.leave.addEventListener('click', () => {
  if (!visit) return;
  ui.leaveConfirm.hidden = false;
  ui.leaveNo.focus();
});
ui.leaveNo.addEventListener('click', () => {
  ui.leaveConfirm.hidden = true;
  ui.leave.focus();
});
ui.leaveYes.addEventListener('click', () => {
  ui.leaveConfirm.hidden = true;
  if (visit) visit.leave();
});
const controls = initControls(ui, () => visit);
const prejoin = initPrejoin({
  openCheck: (sdp) => authorized('/api/network-check', { method: 'POST', body: { sdp } }),
});
mountSwitch($('lang-switch'));
onLangChange(() => {
  if (statusKey) say(statusKey, statusVars);
  if (visit) {
    visit.rerender();
    if (currentVisit) ui.visitHeading.textContent = t('lawyer.visitHeading', { facility: currentVisit.facility, booth: currentVisit.booth });
  }
  if (!ui.tabs.hidden) renderVisits(lastVisits);
  if (lastEngagements) renderEngagements(lastEngagements);
  const s = session();
  if (s && s.lawyer && s.lawyer.display_name) ui.who.textContent = t('lawyer.signedInAs', { name: s.lawyer.display_name });
  controls.render();
});
window.addEventListener('pagehide', () => {
  if (visit) visit.leave();
});

if (session()) {
  showVisits();
} else {
  showLogin();
}
