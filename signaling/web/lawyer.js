// confer: the lawyer's page. Sign in, see the assigned visits, join an open one.
import {
  sharedVisitUi,
  api, ConferError, describeError, formatTime, recordError, setPhase, Visit,
} from './confer.js';

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
  notices: $('notices'),
  leave: $('leave'),
  unmute: $('unmute'),
  localVideo: $('local-video'),
  remoteVideo: $('remote-video'),
};

let refreshTimer = null;
let visit = null;

function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(text) {
  ui.error.textContent = text || '';
  ui.error.hidden = !text;
}

function show(section) {
  for (const s of [ui.loginSection, ui.visitsSection, ui.visitSection]) s.hidden = s !== section;
}

function showLogin(message) {
  sessionStorage.removeItem(SESSION_KEY);
  stopRefreshing();
  ui.who.hidden = true;
  ui.signOut.hidden = true;
  setPhase('signed-out');
  setStatus(message || 'Please sign in.');
  show(ui.loginSection);
  ui.username.focus();
}

async function signIn(event) {
  event.preventDefault();
  showError('');
  ui.signIn.disabled = true;
  setPhase('signing-in');
  setStatus('Signing in…');
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
    setStatus('Please sign in.');
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
  return { scheduled: 'Scheduled', open: 'Open now', ended: 'Ended' }[visitState] || visitState;
}

function renderVisits(visits) {
  ui.visits.replaceChildren();
  ui.noVisits.hidden = visits.length > 0;
  for (const v of visits) {
    const item = document.createElement('li');
    item.className = `visit-item state-${v.state}`;
    const title = document.createElement('strong');
    title.textContent = `${v.facility}, ${v.booth}`;
    const when = document.createElement('span');
    when.textContent = `${formatTime(v.starts_at)} to ${formatTime(v.ends_at)}`;
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = stateLabel(v.state);
    item.append(title, when, badge);
    if (v.state === 'open') {
      const join = document.createElement('button');
      join.type = 'button';
      join.className = 'join';
      join.dataset.visitId = String(v.id);
      join.textContent = 'Join';
      join.setAttribute('aria-label', `Join the visit at ${v.facility}, ${v.booth}`);
      join.addEventListener('click', () => joinVisit(v));
      item.append(join);
    }
    ui.visits.append(item);
  }
}

async function loadVisits() {
  try {
    const reply = await authorized('/api/lawyer/visits');
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
  ui.who.textContent = s.lawyer && s.lawyer.display_name ? `Signed in as ${s.lawyer.display_name}` : '';
  ui.who.hidden = false;
  ui.signOut.hidden = false;
  setPhase('visits');
  setStatus('Choose an open visit to join.');
  show(ui.visitsSection);
  await loadVisits();
  stopRefreshing();
  refreshTimer = setInterval(loadVisits, REFRESH_MS);
}

function addNotice(text) {
  const item = document.createElement('li');
  const time = new Date().toLocaleTimeString(undefined, { timeStyle: 'short' });
  item.textContent = `${time}: ${text}`;
  ui.notices.prepend(item);
}

async function joinVisit(v) {
  stopRefreshing();
  showError('');
  ui.notices.replaceChildren();
  ui.visitHeading.textContent = `Visit: ${v.facility}, ${v.booth}`;
  ui.timeLeft.textContent = '–';
  ui.connectionState.textContent = '–';
  ui.leave.hidden = false;
  show(ui.visitSection);
  setPhase('requesting-token');
  setStatus('Getting a visit pass…');
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
    ui: {
      ...sharedVisitUi(ui, addNotice),
      status: setStatus,
      ended: (message) => {
        ui.unmute.hidden = true;
        ui.leave.hidden = true;
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
  try {
    await visit.start(token);
  } catch {
    // `ended` has already told the person what happened.
  }
}

ui.loginForm.addEventListener('submit', signIn);
ui.refresh.addEventListener('click', loadVisits);
ui.signOut.addEventListener('click', () => {
  if (visit) visit.leave();
  showLogin('You are signed out.');
});
ui.leave.addEventListener('click', () => {
  if (visit) visit.leave();
});
window.addEventListener('pagehide', () => {
  if (visit) visit.leave();
});

if (session()) {
  showVisits();
} else {
  showLogin();
}
