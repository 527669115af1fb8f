// confer: the part shared by the lawyer page and the booth page.
//
// - api(): same-origin JSON requests to the REST API; a refusal becomes a
//   ConferError carrying the server's code and its plain-language message.
// - Visit: one visit from the browser's side: camera and microphone, the
//   signalling WebSocket (/ws, protocol version 1), and one RTCPeerConnection
//   with the SFU. It shows media in the page's <video> elements and nothing
//   else: no recording, no snapshots, no copies of the media anywhere.
// - window.conferState / window.conferPc: read-only hooks for automated tests.
// - The roster (R-VERIFY-4): the server's list of everyone in the visit, shown as it comes
//   (never made up by the page), and one video tile per remote participant, fed from the
//   m-lines the roster names for it. The offer carries one sendrecv audio/video pair plus
//   receive-only pairs for further participants (PROTOCOL.md "Media").
// - End-to-end encryption (R-PRIV-1) lives in e2ee.js and sframe-worker.js: a Visit
//   refuses to start without it, encrypts every sent frame, decrypts every received one
//   and shows the check code (`ui.checkCode`).
//
// Liveness (R-REMOTE-2, PROTOCOL.md "Liveness"): the browser answers the server's
// WebSocket Pings by itself. When the server says the other side is reconnecting, the
// remote video (whose last frame would freeze) is replaced by a placeholder until the
// other side is back (`participant_joined`) or has left (`participant_left`).
//
// Surviving the network (R-REMOTE-2, PROTOCOL.md "Resume" and "ICE restart"): the page
// sends a ping every 5 s and treats a socket that stays silent for 15 s as lost. When
// signalling is lost it reconnects by itself (exponential backoff with jitter) and sends
// `resume` with the credential of the last `joined`, keeping its peer connection; when the
// peer connection's ICE is disconnected or failed while signalling works, it restarts ICE
// (a new offer with new ICE credentials on the same socket). It shows what it is doing
// ("正在重新连接… / Reconnecting…", attempt n); a final refusal shows the server's sentence.

import { E2ee, E2EE_UNSUPPORTED, e2eeSupported, formatCode } from './e2ee.js';
import { formatDateTime, lang, pick, t } from './i18n.js';
import { TEST_HOOKS } from './hooks.js';

export const PROTOCOL_VERSION = 1;
/** Resume attempts towards a node the visit was moved to before the page gives it up. */
const NODE_GONE_ATTEMPTS = 3;
/** While that node is gone, how often the page's own server is asked (±50 % jitter). */
const NODE_GONE_RETRY_MS = 1000;
const CLIENT_NAME = 'confer-web/1';
const ICE_GATHERING_LIMIT_MS = 2000;
const REQUEST_TIMEOUT_MS = 15000;
const KEEPALIVE_MS = 5000;
/** Nothing from the server for this long: the socket is lost (the server pings every 5 s). */
const SILENT_LIMIT_MS = 15000;
/** Reconnection backoff (R-REMOTE-2): 0.5 s, 1 s, 2 s, ... at most 15 s, each ±50 % jitter. */
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15000;
/** ICE disconnected for this long (it may recover by itself) before an ICE restart. */
const ICE_RESTART_AFTER_MS = 1500;
/** An ICE restart that has not connected after this long is tried again. */
const ICE_RESTART_RETRY_MS = 6000;
/** Errors of a `resume` after which trying again cannot help. */
/** How often the connection quality is assessed. */
const QUALITY_EVERY_MS = 3000;
const TRANSIENT = new Set(['closed', 'timeout', 'network', 'unavailable', 'internal']);
/** What the page says while it reconnects (Chinese first, English second). */
export const RECONNECTING = '正在重新连接… / Reconnecting…';

/**
 * Chromium settles a server's client-certificate request (booths prove themselves with one)
 * per host and port on an HTTPS request; a WebSocket alone cannot and cancels its handshake.
 * One small request to another node before its WebSocket settles it.
 */
async function settleNode(wsUrl) {
  try {
    await fetch(wsUrl.replace(/^wss:/, 'https:').replace(/\/ws$/, '/healthz'), {
      cache: 'no-store',
      credentials: 'include',
    });
  } catch {
    // the WebSocket that follows says whether the node can be reached
  }
}

/** A refusal from the server: `code` for programs, `message` for people. */
export class ConferError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ConferError';
    this.code = code;
  }
}

/** Test hook: the page's current phase, connection state and last error. */
export const state = {
  phase: 'idle',
  remote: 'shown',
  // The server's roster as last received (R-VERIFY-4); tests read it.
  roster: [],
  connectionState: 'new',
  iceConnectionState: 'new',
  lastError: null,
  // R-REMOTE-2 test hooks: reconnection attempts so far (0 when connected), resumes and
  // ICE restarts done.
  reconnectAttempt: 0,
  resumes: 0,
  // resumes answered with a new seat on another node (the old one went away)
  renegotiations: 0,
  // the slot end the server last gave (never moved by a resume or a failover)
  slotEndsAt: null,
  iceRestarts: 0,
  checkCode: null,
};
// Only a page served by a test build carries the test-hooks marker (hooks.js).
if (TEST_HOOKS) {
  window.conferState = state;
  window.conferPc = null;
}

export function setPhase(phase) {
  state.phase = phase;
}

export function recordError(err) {
  state.lastError = err && err.code ? `${err.code}: ${err.message}` : String(err && err.message ? err.message : err);
}

/** A sentence for the person in front of the screen, whatever went wrong. */
export function describeError(err) {
  if (err instanceof ConferError) return err.message;
  if (err && err.name === 'NotAllowedError') return t('error.devicesBlocked');
  if (err && err.name === 'NotFoundError') return t('error.noDevices');
  if (err && err.name === 'NotReadableError') return t('error.devicesBusy');
  return t('error.generic');
}

/**
 * Call the REST API. `token` (optional) is sent as a Bearer credential.
 * Resolves with the parsed JSON body; rejects with a ConferError.
 */
/** The sentence of an error answer, in English and (where the server gives one) Chinese. */
export function refusalText(data, status) {
  if (!data || typeof data.message !== 'string') {
    return t('error.serverStatus', { status });
  }
  return pick(data.message, data.message_zh);
}

export async function api(path, { method = 'GET', body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ConferError('network', 'The server cannot be reached. Please check the network connection.');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data && typeof data.code === 'string' ? data.code : `http_${response.status}`;
    throw new ConferError(code, refusalText(data, response.status));
  }
  return data;
}

/** "12:05" for 725 seconds; "1:02:03" past an hour. */
/**
 * The parts of a Visit's `ui` callbacks that both pages share: connection state, time
 * left, notices and the "turn on the sound" button. `els` needs `connectionState`,
 * `timeLeft` and `unmute` elements.
 */
export function sharedVisitUi(els, addNotice) {
  return {
    connection: (pcState, iceState, quality) => {
      const word = t(connectionWord(pcState, iceState, quality));
      els.connectionState.textContent = word;
      els.connectionState.dataset.state = pcState;
    },
    timeLeft: (seconds) => {
      els.timeLeft.textContent = seconds === null ? '–' : formatDuration(seconds);
    },
    notice: addNotice,
    checkCode: (code, changed) => {
      if (els.checkCode) els.checkCode.textContent = code ? formatCode(code) : '–';
      if (changed) addNotice(t('e2ee.codeChanged'));
    },
    soundBlocked: (enable) => {
      els.unmute.hidden = false;
      els.unmute.onclick = () => {
        enable();
        els.unmute.hidden = true;
      };
    },
  };
}

/**
 * The connection in plain words (catalogue key): good / weak / reconnecting, never ICE terms.
 * `quality` is 'weak' when the last stats showed much loss or a long round trip.
 */
export function connectionWord(pcState, iceState, quality = 'good') {
  if (pcState === 'closed') return 'conn.closed';
  if (iceState === 'disconnected' || iceState === 'failed' || pcState === 'failed' || pcState === 'disconnected') {
    return 'conn.reconnecting';
  }
  if (pcState === 'connected') return quality === 'weak' ? 'conn.weak' : 'conn.good';
  if (pcState === 'new') return 'conn.new';
  return 'conn.connecting';
}

export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A date and time for an RFC 3339 timestamp: 24-hour, in the facility's time zone. */
export function formatTime(rfc3339) {
  return formatDateTime(rfc3339);
}

/** Why the visit ended, in the page language (the server's `message` for English). */
export function endedSentence(notice) {
  const key = `ended.${notice.reason}`;
  if (lang() === 'zh-CN' && t(key) !== key) return t(key);
  return notice.message || t('booth.ended');
}

/** Who a role is, Chinese first, English second (R-VERIFY-4: the roster names everyone). */
export const ROLE_NAMES = {
  lawyer: { zh: '律师', en: 'Lawyer' },
  booth: { zh: '会见终端', en: 'Booth' },
  assistant: { zh: '律师助理', en: 'Assistant' },
  interpreter: { zh: '翻译人员', en: 'Interpreter' },
};

/** Receive-only audio + video m-line pairs offered besides the own sendrecv pair: one per
 *  further remote participant (a visit has at most 4 participants, so 3 others). */
const EXTRA_REMOTE_PAIRS = 2;

/** What the remote placeholder says, in the page's language (R-REMOTE-2). */
export const REMOTE_RECONNECTING = () => t('remote.reconnecting');
export const REMOTE_LEFT = () => t('remote.left');
export const REMOTE_BACK = () => t('remote.back');

/** Who a role is in a sentence ("The lawyer" / "律师"). */
function roleName(role) {
  return ROLE_NAMES[role] ? t(`who.${role}`) : t('who.other');
}

/** "Lawyer: Wang Fang, present" / "律师: 王芳, 在场" for a roster entry (R-VERIFY-4). */
export function rosterText(entry) {
  const role = ROLE_NAMES[entry.role] ? t(`roster.${entry.role}`) : t('roster.participant');
  const state = t(entry.state === 'reconnecting' ? 'roster.reconnecting' : 'roster.present');
  const you = entry.you ? t('roster.you') : '';
  return `${role}: ${entry.label}${you}, ${state}`;
}

/** The signalling WebSocket, as request/answer pairs plus a stream of notices. */
class Signaling {
  constructor(url, { onNotice, onRoster, onClose, onKeyMessage }) {
    this.url = url;
    this.onNotice = onNotice;
    this.onRoster = onRoster;
    this.onKeyMessage = onKeyMessage;
    this.onClose = onClose;
    this.waiter = null;
    this.closed = false;
    this.ws = null;
    this.keepalive = null;
    this.lastHeard = 0;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => {
        this.lastHeard = Date.now();
        // R-REMOTE-2: a socket that hears nothing (not even a pong) for 15 s is lost.
        this.keepalive = setInterval(() => {
          if (Date.now() - this.lastHeard > SILENT_LIMIT_MS) {
            this.lost();
          } else {
            this.send({ type: 'ping' });
          }
        }, KEEPALIVE_MS);
        resolve();
      };
      ws.onmessage = (event) => {
        this.lastHeard = Date.now();
        this.receive(event.data);
      };
      ws.onclose = (event) => {
        const wasOpen = !this.closed;
        this.shutdown();
        const err = new ConferError('closed', 'The connection to the server was lost.');
        if (this.waiter) {
          this.waiter.reject(err);
          this.waiter = null;
        }
        reject(err);
        if (wasOpen && this.onClose) this.onClose(event);
      };
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Send `message` and wait for a reply of type `expected`. */
  request(message, expected) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new ConferError('timeout', 'The server did not answer in time. Please try again.'));
      }, REQUEST_TIMEOUT_MS);
      this.waiter = {
        expected,
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      this.send(message);
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (!message || typeof message.type !== 'string') return;
    const waiter = this.waiter;
    if (message.type === 'notice') {
      if (message.notice && this.onNotice) this.onNotice(message.notice);
    } else if (message.type === 'roster') {
      if (Array.isArray(message.participants) && this.onRoster) this.onRoster(message.participants);
    } else if (message.type === 'moved') {
      // Several nodes: the visit is served by another node; join there (the token was not used).
      const err = new ConferError('moved', 'The visit is served by another server.');
      err.url = typeof message.url === 'string' ? message.url : null;
      // The server closes this connection next: that is no loss of the visit.
      this.onClose = null;
      if (waiter) {
        this.waiter = null;
        waiter.reject(err);
      }
    } else if (message.type === 'error') {
      const err = new ConferError(message.code, message.message);
      if (waiter) {
        this.waiter = null;
        waiter.reject(err);
      } else {
        recordError(err);
      }
    } else if (waiter && message.type === waiter.expected) {
      this.waiter = null;
      waiter.resolve(message);
    } else if (message.type.startsWith('e2ee_') && this.onKeyMessage) {
      this.onKeyMessage(message);
    }
    // `pong` and anything unexpected are ignored.
  }

  /** The socket went silent: give it up as if it had closed (without waiting for TCP). */
  lost() {
    const ws = this.ws;
    if (!ws || this.closed) return;
    const onclose = ws.onclose;
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close(4000);
    } catch {
      // already closing
    }
    if (onclose) onclose({ code: 1006, reason: 'silent' });
  }

  shutdown() {
    this.closed = true;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
  }

  close() {
    this.shutdown();
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}

function iceGatheringComplete(pc, limitMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, limitMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * This tab's device id (R-REMOTE-2): random, kept for the tab's life in sessionStorage, so a
 * resume credential works only from the tab it was issued to.
 */
function deviceId() {
  const key = 'confer-device';
  try {
    let id = window.sessionStorage.getItem(key);
    if (!id || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
      id = window.crypto.randomUUID();
      window.sessionStorage.setItem(key, id);
    }
    return id;
  } catch {
    if (!deviceId.fallback) deviceId.fallback = window.crypto.randomUUID();
    return deviceId.fallback;
  }
}

function hello() {
  return { type: 'hello', version: PROTOCOL_VERSION, client: CLIENT_NAME, device: deviceId() };
}

/** The WebSocket URL on this page's own host. */
export function socketUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/ws`;
}

/**
 * One visit, from getUserMedia to the end.
 *
 * `ui` callbacks (all optional): status(text), connection(pcState, iceState),
 * timeLeft(seconds | null), notice(text), soundBlocked(enableSound),
 * ended(text, { endedByServer }): endedByServer is true when the server said
 * the visit is over (not when the connection was lost or the person left).
 */
export class Visit {
  /**
   * `remoteVideo` shows the `primaryRole` participant (the booth for the lawyer side, the
   * lawyer for the booth); every further remote participant gets a tile of its own in
   * `tiles`, labelled from the server's roster, which is listed in `rosterList`.
   */
  constructor({
    localVideo, remoteVideo, remotePlaceholder = null, remoteCaption = null,
    primaryRole = null, tiles = null, rosterList = null, ui = {}, devices = null,
  }) {
    // The camera and microphone chosen before joining (R-REMOTE-1), else the defaults.
    this.devices = devices || {};
    // This participant's own microphone / camera, as the person set them; told to the
    // others over signalling (`media_state`, R-REMOTE-1) once joined.
    this.mediaState = { audio: true, video: true };
    this.inVisit = false;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.remoteCaption = remoteCaption;
    this.primaryRole = primaryRole;
    this.tilesEl = tiles;
    this.rosterList = rosterList;
    // Remote tracks by the m-line they arrive on, and the roster's tiles by participant id.
    this.tracksByMid = new Map();
    this.tiles = new Map();
    this.roster = null;
    // Shown instead of the remote video while the other side is away (R-REMOTE-2).
    this.remotePlaceholder = remotePlaceholder;
    this.remoteAway = null;
    this.showRemote(null);
    this.ui = ui;
    this.stream = null;
    this.remoteStream = null;
    this.pc = null;
    this.signaling = null;
    this.slotEndsAt = null;
    this.clock = null;
    this.finished = false;
    this.endedByServer = false;
    // R-REMOTE-2: the last resume credential, and what the page is doing to recover.
    this.resumeToken = null;
    this.reconnecting = false;
    this.iceRestarting = false;
    this.iceTimer = null;
    this.e2ee = null;
    // Plain-language connection quality (good / weak), from the stats every few seconds.
    this.quality = 'good';
    this.qualityTimer = null;
    this.qualityTotals = null;
  }

  /** Run the visit with a join token. Resolves once media is negotiated. */
  async start(joinToken) {
    try {
      // R-PRIV-1: end-to-end encryption or no visit; never a silent downgrade.
      if (!e2eeSupported()) throw new ConferError('e2ee_unsupported', E2EE_UNSUPPORTED);
      this.e2ee = new E2ee({ onCode: (code, changed) => this.onCheckCode(code, changed) });
      setPhase('starting-media');
      this.say('visit.startingMedia');
      this.stream = await this.openMedia();
      this.localVideo.muted = true;
      this.localVideo.srcObject = this.stream;

      setPhase('connecting');
      this.say('visit.connecting');
      const joined = await this.joinFollowingMoves(joinToken);
      this.resumeToken = joined.resume && typeof joined.resume.token === 'string' ? joined.resume.token : null;
      setPhase('joined');
      this.inVisit = true;
      this.sendMediaState();
      await this.e2ee.start(this.signaling, joined.visit_id);
      this.setSlotEnd(joined.slot_ends_at);
      const others = Array.isArray(joined.participants) ? joined.participants : [];
      this.say(others.length > 0 ? 'visit.joinedSetting' : 'visit.joinedWaiting');

      setPhase('negotiating');
      await this.negotiate(joined);
      if (this.finished) return;
      setPhase('connecting-media');
      this.onConnectionState();
    } catch (err) {
      if (this.finished) return; // already ended (visit over, or the person left)
      recordError(err);
      this.finish(describeError(err), 'error');
      throw err;
    }
  }

  /**
   * A new peer connection for the seat `joined` gave: our tracks and the spare receive-only
   * pairs, each with its end-to-end transform, offered to the server. After `join`, and
   * after a `resume` answered with `renegotiate` (the node that held the seat went away).
   */
  async negotiate(joined) {
    {
      // The TURN relay and this participant's credential, when the server offers one
      // (R-REMOTE-2: networks that allow only TLS to port 443).
      const iceServers = Array.isArray(joined.ice_servers) ? joined.ice_servers : [];
      const pc = new RTCPeerConnection({ iceServers });
      this.pc = pc;
      if (TEST_HOOKS) window.conferPc = pc;
      pc.addEventListener('connectionstatechange', () => this.onConnectionState());
      pc.addEventListener('iceconnectionstatechange', () => this.onConnectionState());
      pc.addEventListener('track', (event) => this.onTrack(event));
      // One sendrecv audio and video pair carries our own media (and one other
      // participant's); each further remote participant arrives on a receive-only pair
      // (PROTOCOL.md "Media"). The roster says which m-line carries whom. Every m-line gets
      // its end-to-end transform before the offer (R-PRIV-1): Chromium hands a receiver's
      // frames to a transform only if it is in place before the remote description.
      for (const kind of ['audio', 'video']) {
        const track = this.stream.getTracks().find((t) => t.kind === kind);
        const transceiver = track
          ? pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.stream] })
          : pc.addTransceiver(kind, { direction: 'recvonly' });
        if (track) this.e2ee.protectSender(transceiver.sender, kind);
        this.e2ee.protectReceiver(transceiver.receiver, kind);
      }
      for (let i = 0; i < EXTRA_REMOTE_PAIRS; i += 1) {
        for (const kind of ['audio', 'video']) {
          const transceiver = pc.addTransceiver(kind, { direction: 'recvonly' });
          this.e2ee.protectReceiver(transceiver.receiver, kind);
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc, ICE_GATHERING_LIMIT_MS);
      const answer = await this.signaling.request({ type: 'offer', sdp: pc.localDescription.sdp }, 'answer');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    }
  }

  /** Camera and microphone: the devices chosen before joining, else the defaults. */
  async openMedia() {
    const want = (id) => (id ? { deviceId: { exact: id } } : {});
    const { audio = null, video = null } = this.devices;
    try {
      return await navigator.mediaDevices.getUserMedia({
        audio: { ...want(audio) },
        video: { width: 1280, height: 720, ...want(video) },
      });
    } catch (err) {
      // A chosen device that went away: the defaults rather than no visit.
      if (!(audio || video) || !err || err.name !== 'OverconstrainedError') throw err;
      return navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    }
  }

  /**
   * The person muted / unmuted the microphone or turned the camera off / on (R-REMOTE-1):
   * the others see it in their roster. Display only: the server trusts it for nothing else.
   */
  setMediaState(audio, video) {
    this.mediaState = { audio: Boolean(audio), video: Boolean(video) };
    this.sendMediaState();
  }

  sendMediaState() {
    if (!this.inVisit || this.finished || !this.signaling) return;
    this.signaling.send({ type: 'media_state', audio: this.mediaState.audio, video: this.mediaState.video });
  }

  /**
   * Open signalling, say hello and join. A deployment of several nodes may answer `moved`
   * (the visit is served by another node): join there with the same token, at most twice.
   * Later reconnections (resume) go to the node that holds the seat.
   */
  async joinFollowingMoves(joinToken) {
    for (let moves = 0; ; moves += 1) {
      this.signaling = this.newSignaling();
      await this.signaling.open();
      await this.signaling.request(hello(), 'welcome');
      try {
        return await this.signaling.request({ type: 'join', token: joinToken }, 'joined');
      } catch (err) {
        const next = err && err.code === 'moved' ? err.url : null;
        if (!next || moves >= 2 || !/^wss:\/\/[^/\s]+\/ws$/.test(next)) throw err;
        const old = this.signaling;
        old.onClose = null;
        old.close();
        this.signalingUrl = next;
        await settleNode(next);
      }
    }
  }

  newSignaling() {
    return new Signaling(this.signalingUrl || socketUrl(), {
      onNotice: (notice) => this.onNotice(notice),
      onRoster: (participants) => this.onRoster(participants),
      onClose: () => this.onSignalingLost(),
      onKeyMessage: (message) => this.e2ee && this.e2ee.onMessage(message),
    });
  }

  /**
   * R-REMOTE-2: the signalling socket closed or went silent without the visit ending.
   * Reconnect with backoff and jitter and `resume` the seat; the peer connection stays.
   */
  async onSignalingLost() {
    if (this.finished || this.reconnecting) return;
    if (!this.resumeToken || !this.pc) {
      this.finish('The connection to the server was lost.');
      return;
    }
    this.reconnecting = true;
    // A node that did not answer during this reconnection: a `moved` back to it is not
    // followed (the deployment has not noticed yet that it went away; it will within 10 s).
    let unreachable = null;
    for (let attempt = 1; !this.finished; attempt += 1) {
      state.reconnectAttempt = attempt;
      setPhase('reconnecting');
      this.status(`${RECONNECTING}（第 ${attempt} 次 / attempt ${attempt}）`);
      const signaling = this.newSignaling();
      try {
        await signaling.open();
        await signaling.request(hello(), 'welcome');
        const joined = await signaling.request({ type: 'resume', token: this.resumeToken }, 'joined');
        if (this.finished) {
          signaling.close();
          return;
        }
        this.signaling = signaling;
        this.sendMediaState();
        // The same keys on the new connection (R-PRIV-1): the relay learns them again.
        if (this.e2ee) this.e2ee.republish(signaling);
        this.resumeToken = joined.resume && typeof joined.resume.token === 'string' ? joined.resume.token : null;
        this.setSlotEnd(joined.slot_ends_at);
        state.resumes += 1;
        if (joined.renegotiate === true) {
          // A new seat on another node (the one that held ours went away): the old peer
          // connection leads nowhere; a new one, offered as after joining.
          state.renegotiations += 1;
          const old = this.pc;
          this.pc = null;
          if (old) old.close();
          await this.negotiate(joined);
        }
        state.reconnectAttempt = 0;
        this.reconnecting = false;
        this.status('已重新连接 / Reconnected');
        this.onConnectionState();
        if (joined.renegotiate === true) return;
        const ice = this.pc ? this.pc.iceConnectionState : 'closed';
        if (ice !== 'connected' && ice !== 'completed') this.restartIce();
        return;
      } catch (err) {
        signaling.close();
        if (this.finished) return;
        // Several nodes: the visit lives on another node now; resume there at once.
        const next = err instanceof ConferError && err.code === 'moved' ? err.url : null;
        if (next && /^wss:\/\/[^/\s]+\/ws$/.test(next)) {
          if (next === unreachable) {
            await new Promise((resolve) => setTimeout(resolve, NODE_GONE_RETRY_MS * (0.5 + Math.random())));
          } else {
            this.signalingUrl = next;
            await settleNode(next);
          }
          continue;
        }
        if (err instanceof ConferError && !TRANSIENT.has(err.code)) {
          // A final refusal (slot over, visit ended, seat not kept, ...): say why.
          recordError(err);
          this.reconnecting = false;
          this.finish(err.message, 'error');
          return;
        }
        // Several nodes: the node that held this visit does not answer (it may have gone
        // away). Ask the page's own server instead: it gives the seat back on a node that
        // is left, or sends us to the node the visit lives on (`moved`), with the same slot.
        if (this.signalingUrl && attempt >= NODE_GONE_ATTEMPTS) {
          unreachable = this.signalingUrl;
          this.signalingUrl = null;
          this.status(`${RECONNECTING}（${t('visit.nodeGone')}）`);
        }
        // While a node is gone, the page's own server is asked often: it takes the visit
        // over as soon as the deployment notices (R-REMOTE-2, failover within 15 s).
        const backoff = unreachable
          ? NODE_GONE_RETRY_MS
          : Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random())));
      }
    }
  }

  /**
   * R-REMOTE-2: the network changed under a working signalling socket: a new offer with new
   * ICE credentials on the same socket; the SFU answers and media takes the new path.
   */
  async restartIce() {
    const pc = this.pc;
    if (!pc || this.finished || this.iceRestarting || this.reconnecting) return;
    if (!this.signaling || this.signaling.closed) return;
    this.iceRestarting = true;
    state.iceRestarts += 1;
    this.status(`${RECONNECTING}（网络已变化 / the network changed）`);
    try {
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      await iceGatheringComplete(pc, ICE_GATHERING_LIMIT_MS);
      const answer = await this.signaling.request({ type: 'offer', sdp: pc.localDescription.sdp }, 'answer');
      if (!this.finished) await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } catch (err) {
      recordError(err);
      if (pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      }
    } finally {
      this.iceRestarting = false;
    }
    this.watchIce(ICE_RESTART_RETRY_MS);
  }

  /** Restart ICE if it is still not connected after `ms` (and signalling works). */
  watchIce(ms) {
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null;
      const ice = this.pc ? this.pc.iceConnectionState : 'closed';
      if (!this.finished && (ice === 'disconnected' || ice === 'failed' || ice === 'checking')) {
        this.restartIce();
      }
    }, ms);
  }

  /** The check code changed (null while alone): shown, and a change is announced. */
  onCheckCode(code, changed) {
    state.checkCode = code;
    if (this.ui.checkCode) this.ui.checkCode(code, changed);
  }

  /** The people compared the check codes and they differ: the server ends the visit. */
  codesDiffer() {
    if (this.finished || !this.signaling) return;
    this.signaling.send({ type: 'e2ee_check_failed' });
  }

  /** The person chose to leave. */
  leave() {
    if (this.finished) return;
    if (this.signaling) this.signaling.send({ type: 'leave' });
    this.finish(t('visit.youLeft'));
  }

  status(text) {
    this.lastSay = null;
    if (this.ui.status) this.ui.status(text);
  }

  /** A status line from the catalogue (said again in the new language on a switch). */
  say(key, vars = {}) {
    if (this.ui.status) this.ui.status(t(key, vars));
    this.lastSay = [key, vars];
  }

  /** The language was switched: the status line and the connection state again. */
  rerender() {
    if (this.lastSay && this.ui.status) this.ui.status(t(this.lastSay[0], this.lastSay[1]));
    this.renderRoster();
    const pc = this.pc;
    if (pc && this.ui.connection) this.ui.connection(pc.connectionState, pc.iceConnectionState, this.quality);
  }

  setSlotEnd(rfc3339) {
    const end = new Date(rfc3339);
    if (Number.isNaN(end.getTime())) return;
    this.slotEndsAt = end;
    state.slotEndsAt = end.toISOString();
    const tick = () => {
      const seconds = (this.slotEndsAt.getTime() - Date.now()) / 1000;
      if (this.ui.timeLeft) this.ui.timeLeft(seconds);
    };
    tick();
    if (!this.clock) this.clock = setInterval(tick, 1000);
  }

  onNotice(notice) {
    // Pages react to notices too (booth headline, warnings on screen).
    if (this.ui.event) this.ui.event(notice);
    switch (notice.kind) {
      case 'participant_joined':
        if (this.remoteAway && this.isPrimary(notice.role)) {
          this.showRemote(null);
          this.notice(REMOTE_BACK());
        } else {
          this.notice(t('notice.joined', { who: roleName(notice.role) }));
        }
        if (state.phase !== 'connected') this.say('visit.otherJoined', { who: roleName(notice.role) });
        else this.say('visit.connected');
        break;
      case 'participant_reconnecting':
        if (!this.isPrimary(notice.role)) {
          this.notice(t('notice.reconnecting', { who: roleName(notice.role) }));
          break;
        }
        this.showRemote('reconnecting');
        this.notice(REMOTE_RECONNECTING());
        this.status(REMOTE_RECONNECTING());
        break;
      case 'participant_left':
        if (this.e2ee) this.e2ee.participantLeft(notice.role);
        if (!this.isPrimary(notice.role)) {
          this.notice(t('notice.left', { who: roleName(notice.role) }));
          break;
        }
        this.showRemote('left');
        this.notice(t('notice.leftMayReturn', { who: roleName(notice.role) }));
        this.status(t('status.waitingReturn', { who: roleName(notice.role) }));
        break;
      case 'time_warning':
        this.notice(notice.minutes_left === 1
          ? t('warn.oneMinute')
          : t('warn.minutes', { n: notice.minutes_left }));
        break;
      case 'slot_extended':
        this.setSlotEnd(notice.slot_ends_at);
        this.notice(t('visit.extended', { at: formatTime(notice.slot_ends_at) }));
        break;
      case 'visit_ended':
        // The server is restarting or shutting down (an upgrade, a drained node): not the
        // end of the visit. The socket closes next and the page resumes: on the same server
        // when it is back, or on another node of the deployment (R-REMOTE-2).
        if (notice.reason === 'server_shutdown' && this.resumeToken && this.pc) {
          this.status(`${RECONNECTING}（${t('ended.server_shutdown')}）`);
          break;
        }
        this.endedByServer = true;
        this.endedReason = notice.reason || 'other';
        this.finish(endedSentence(notice));
        break;
      default:
        break; // a notice from a newer server: nothing to show
    }
  }

  notice(text) {
    if (this.ui.notice) this.ui.notice(text);
  }

  /**
   * The remote video, or in its place a placeholder saying why it is not there:
   * `away` is null (show the video), 'reconnecting' or 'left' (R-REMOTE-2: never a
   * frozen last frame). Exposed to tests as `conferState.remote`.
   */
  showRemote(away) {
    this.remoteAway = away;
    state.remote = away || 'shown';
    const placeholder = this.remotePlaceholder;
    if (!placeholder) return;
    placeholder.textContent = away === 'reconnecting' ? REMOTE_RECONNECTING() : away === 'left' ? REMOTE_LEFT() : '';
    placeholder.hidden = !away;
    this.remoteVideo.hidden = Boolean(away);
  }

  /** Whether notices about `role` concern the main remote video (no primary: any role). */
  isPrimary(role) {
    return !this.primaryRole || role === this.primaryRole;
  }

  onTrack(event) {
    const mid = event.transceiver ? event.transceiver.mid : null;
    if (mid !== null && mid !== undefined) this.tracksByMid.set(String(mid), event.track);
    if (this.roster) {
      this.renderTiles();
      return;
    }
    // No roster (yet): the first pair's media goes to the main remote video.
    if (!this.remoteStream) {
      this.remoteStream = new MediaStream();
      this.remoteVideo.srcObject = this.remoteStream;
    }
    if (!this.remoteStream.getTracks().some((t) => t.kind === event.track.kind)) {
      this.remoteStream.addTrack(event.track);
      this.playRemote(this.remoteVideo);
    }
  }

  /**
   * The server's roster (R-VERIFY-4, docs/DESIGN.md invariant 10): listed as it is, and one
   * tile per remote participant, fed from the m-lines the roster names for it.
   */
  onRoster(participants) {
    this.roster = participants;
    state.roster = participants.map((p) => ({
      id: p.id, role: p.role, label: p.label, state: p.state, you: Boolean(p.you),
      audio_mid: p.audio_mid ?? null, video_mid: p.video_mid ?? null,
      audio_muted: p.audio_muted === true, video_off: p.video_off === true,
    }));
    this.renderRoster();
    if (this.ui.roster) this.ui.roster(participants);
    this.renderTiles();
  }

  /** The roster list; a participant's own mute / camera off (R-REMOTE-1) in the page language. */
  renderRoster() {
    if (!this.rosterList || !this.roster) return;
    this.rosterList.replaceChildren(...this.roster.map((p) => {
      const item = document.createElement('li');
      item.dataset.role = p.role;
      item.dataset.participantId = String(p.id);
      item.dataset.audioMuted = String(p.audio_muted === true);
      item.dataset.videoOff = String(p.video_off === true);
      item.className = p.state === 'reconnecting' ? 'reconnecting' : 'present';
      item.textContent = rosterText(p);
      for (const [flag, key, cls] of [[p.audio_muted, 'roster.muted', 'muted'], [p.video_off, 'roster.videoOff', 'video-off']]) {
        if (flag !== true) continue;
        const badge = document.createElement('span');
        badge.className = `media-state ${cls}`;
        badge.textContent = t(key);
        item.append(' ', badge);
      }
      return item;
    }));
  }

  /** The tile of remote participant `p`: the main video for the primary role, else its own. */
  tileFor(p) {
    let tile = this.tiles.get(p.id);
    if (tile) return tile;
    const primaryTaken = [...this.tiles.values()].some((t) => t.primary);
    if (this.isPrimary(p.role) && !primaryTaken) {
      tile = { primary: true, video: this.remoteVideo, caption: this.remoteCaption, placeholder: this.remotePlaceholder, figure: null };
    } else if (this.tilesEl) {
      const figure = document.createElement('figure');
      figure.className = 'remote-tile';
      const video = document.createElement('video');
      video.autoplay = true;
      video.playsInline = true;
      const placeholder = document.createElement('p');
      placeholder.className = 'remote-placeholder';
      placeholder.hidden = true;
      const caption = document.createElement('figcaption');
      figure.append(video, placeholder, caption);
      this.tilesEl.append(figure);
      tile = { primary: false, video, caption, placeholder, figure };
    } else {
      return null;
    }
    tile.stream = null;
    tile.mids = '';
    this.tiles.set(p.id, tile);
    return tile;
  }

  renderTiles() {
    if (!this.roster || this.finished) return;
    const others = this.roster.filter((p) => !p.you);
    for (const [id, tile] of this.tiles) {
      if (others.some((p) => p.id === id)) continue;
      // Gone from the roster: its tile goes (the main video stays, emptied).
      if (tile.figure) tile.figure.remove();
      else {
        tile.video.srcObject = null;
        delete tile.video.dataset.participantId;
        this.remoteStream = null;
      }
      this.tiles.delete(id);
    }
    for (const p of others) {
      const tile = this.tileFor(p);
      if (!tile) continue;
      tile.video.dataset.participantId = String(p.id);
      tile.video.dataset.role = p.role;
      const role = ROLE_NAMES[p.role] ? t(`roster.${p.role}`) : t('roster.participant');
      if (tile.caption) tile.caption.textContent = `${role}: ${p.label}`;
      if (!tile.primary && tile.placeholder) {
        tile.placeholder.textContent = p.state === 'reconnecting' ? REMOTE_RECONNECTING() : '';
        tile.placeholder.hidden = p.state !== 'reconnecting';
        tile.video.hidden = p.state === 'reconnecting';
      }
      const tracks = [p.audio_mid, p.video_mid]
        .map((mid) => (mid === null || mid === undefined ? null : this.tracksByMid.get(String(mid))))
        .filter(Boolean);
      const key = tracks.map((t) => t.id).join(',');
      if (key === tile.mids) continue;
      tile.mids = key;
      tile.stream = new MediaStream(tracks);
      tile.video.srcObject = tile.stream;
      if (tile.primary) this.remoteStream = tile.stream;
      if (tracks.length > 0) this.playRemote(tile.video);
    }
  }

  playRemote(video) {
    const played = video.play();
    if (!played || !this.ui.soundBlocked) return;
    played.catch((err) => {
      if (err && err.name === 'NotAllowedError' && !this.finished) {
        // Autoplay with sound was blocked: show the picture muted, and let the
        // person turn the sound on with one tap.
        video.muted = true;
        video.play().catch(() => {});
        this.ui.soundBlocked(() => {
          video.muted = false;
          video.play().catch(() => {});
        });
      }
    });
  }

  onConnectionState() {
    const pc = this.pc;
    if (!pc) return;
    state.connectionState = pc.connectionState;
    state.iceConnectionState = pc.iceConnectionState;
    if (this.ui.connection) this.ui.connection(pc.connectionState, pc.iceConnectionState, this.quality);
    if (this.finished) return;
    if (pc.connectionState === 'connected' && !this.qualityTimer) {
      this.qualityTimer = setInterval(() => this.checkQuality(), QUALITY_EVERY_MS);
    }
    if (pc.connectionState === 'connected') {
      // R-REMOTE-2: media is back but the socket missed two pongs: it died with the network,
      // so resume now rather than waiting out the silence limit.
      const sig = this.signaling;
      if (sig && !sig.closed && !this.reconnecting && Date.now() - sig.lastHeard > 2 * KEEPALIVE_MS) {
        sig.lost();
        return;
      }
      if (this.reconnecting) return;
      setPhase('connected');
      this.say('visit.connected');
    } else if (pc.iceConnectionState === 'failed') {
      // R-REMOTE-2: never give up on the media while the seat is kept: restart ICE now.
      this.status(RECONNECTING);
      this.restartIce();
    } else if (pc.iceConnectionState === 'disconnected') {
      this.status(RECONNECTING);
      if (!this.iceRestarting) this.watchIce(ICE_RESTART_AFTER_MS);
    }
  }

  /**
   * The connection in plain words (good / weak): 'weak' when, over the last interval, more
   * than 5 % of the packets were lost or the round trip exceeded 400 ms.
   */
  async checkQuality() {
    const pc = this.pc;
    if (!pc || this.finished) return;
    let rtt = null;
    let lost = 0;
    let received = 0;
    try {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number') {
          rtt = s.currentRoundTripTime;
        } else if (s.type === 'inbound-rtp') {
          lost += s.packetsLost || 0;
          received += s.packetsReceived || 0;
        }
      });
    } catch {
      return;
    }
    const prev = this.qualityTotals || { lost, received };
    this.qualityTotals = { lost, received };
    const dLost = Math.max(0, lost - prev.lost);
    const dAll = dLost + Math.max(0, received - prev.received);
    const lossy = dAll > 0 && dLost / dAll > 0.05;
    const quality = lossy || (rtt !== null && rtt > 0.4) ? 'weak' : 'good';
    if (quality !== this.quality) {
      this.quality = quality;
      if (this.ui.connection) this.ui.connection(pc.connectionState, pc.iceConnectionState, quality);
    }
  }

  /** Close everything: peer connection, camera, microphone, socket, clock. */
  finish(message, phase = 'ended') {
    if (this.finished) return;
    this.finished = true;
    setPhase(phase);
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
    if (this.qualityTimer) clearInterval(this.qualityTimer);
    this.qualityTimer = null;
    if (this.pc) {
      this.pc.close();
      state.connectionState = this.pc.connectionState;
      state.iceConnectionState = this.pc.iceConnectionState;
      if (this.ui.connection) this.ui.connection(state.connectionState, state.iceConnectionState);
    }
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.signaling) this.signaling.close();
    if (this.e2ee) this.e2ee.close();
    this.localVideo.srcObject = null;
    this.remoteVideo.srcObject = null;
    for (const tile of this.tiles.values()) if (tile.figure) tile.figure.remove();
    this.tiles.clear();
    this.tracksByMid.clear();
    this.roster = null;
    if (this.rosterList) this.rosterList.replaceChildren();
    this.showRemote(null);
    if (this.ui.timeLeft) this.ui.timeLeft(null);
    if (this.ui.ended) this.ui.ended(message, { endedByServer: this.endedByServer, reason: this.endedReason });
  }
}
