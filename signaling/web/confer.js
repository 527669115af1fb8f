// confer: the part shared by the lawyer page and the booth page.
//
// - api(): same-origin JSON requests to the REST API; a refusal becomes a
//   ConferError carrying the server's code and its plain-language message.
// - Visit: one visit from the browser's side: camera and microphone, the
//   signalling WebSocket (/ws, protocol version 1), and one RTCPeerConnection
//   with the SFU. It shows media in the page's <video> elements and nothing
//   else: no recording, no snapshots, no copies of the media anywhere.
// - window.conferState / window.conferPc: read-only hooks for automated tests.
// - End-to-end encryption (R-PRIV-1) lives in e2ee.js and sframe-worker.js: a Visit
//   refuses to start without it, encrypts every sent frame, decrypts every received one
//   and shows the check code (`ui.checkCode`).
//
// Liveness (R-REMOTE-2, PROTOCOL.md "Liveness"): the browser answers the server's
// WebSocket Pings by itself. When the server says the other side is reconnecting, the
// remote video (whose last frame would freeze) is replaced by a placeholder until the
// other side is back (`participant_joined`) or has left (`participant_left`).

import { CODE_CHANGED, E2ee, E2EE_UNSUPPORTED, e2eeSupported, formatCode } from './e2ee.js';

export const PROTOCOL_VERSION = 1;
const CLIENT_NAME = 'confer-web/1';
const ICE_GATHERING_LIMIT_MS = 2000;
const REQUEST_TIMEOUT_MS = 15000;
const KEEPALIVE_MS = 25000;

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
  connectionState: 'new',
  iceConnectionState: 'new',
  lastError: null,
  checkCode: null,
};
window.conferState = state;
window.conferPc = null;

export function setPhase(phase) {
  state.phase = phase;
}

export function recordError(err) {
  state.lastError = err && err.code ? `${err.code}: ${err.message}` : String(err && err.message ? err.message : err);
}

/** A sentence for the person in front of the screen, whatever went wrong. */
export function describeError(err) {
  if (err instanceof ConferError) return err.message;
  if (err && err.name === 'NotAllowedError') {
    return 'The camera or microphone was blocked. Please allow them in the browser and try again.';
  }
  if (err && err.name === 'NotFoundError') {
    return 'No camera or microphone was found. Please connect them and try again.';
  }
  if (err && err.name === 'NotReadableError') {
    return 'The camera or microphone is in use by another program.';
  }
  return 'Something went wrong. Please try again.';
}

/**
 * Call the REST API. `token` (optional) is sent as a Bearer credential.
 * Resolves with the parsed JSON body; rejects with a ConferError.
 */
/** The sentence of an error answer, in English and (where the server gives one) Chinese. */
export function refusalText(data, status) {
  if (!data || typeof data.message !== 'string') {
    return `The server answered with an error (${status}).`;
  }
  return typeof data.message_zh === 'string' ? `${data.message}\n${data.message_zh}` : data.message;
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
    connection: (pcState, iceState) => {
      els.connectionState.textContent = `${pcState} (ICE: ${iceState})`;
    },
    timeLeft: (seconds) => {
      els.timeLeft.textContent = seconds === null ? '–' : formatDuration(seconds);
    },
    notice: addNotice,
    checkCode: (code, changed) => {
      if (els.checkCode) els.checkCode.textContent = code ? formatCode(code) : '–';
      if (changed) addNotice(CODE_CHANGED);
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

export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A readable local date and time for an RFC 3339 timestamp. */
export function formatTime(rfc3339) {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const ROLE_NAMES = { lawyer: 'The lawyer', booth: 'The booth' };

/** What the remote placeholder says (Chinese first, English second; R-REMOTE-2). */
export const REMOTE_RECONNECTING = '对方连接中断，正在恢复… / The other side\'s connection was interrupted; reconnecting…';
export const REMOTE_LEFT = '对方已离开。 / The other side left.';
export const REMOTE_BACK = '对方已恢复连接。 / The other side is back.';

function roleName(role) {
  return ROLE_NAMES[role] || 'The other side';
}

/** The signalling WebSocket, as request/answer pairs plus a stream of notices. */
class Signaling {
  constructor(url, { onNotice, onClose, onKeyMessage }) {
    this.url = url;
    this.onNotice = onNotice;
    this.onKeyMessage = onKeyMessage;
    this.onClose = onClose;
    this.waiter = null;
    this.closed = false;
    this.ws = null;
    this.keepalive = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => {
        this.keepalive = setInterval(() => this.send({ type: 'ping' }), KEEPALIVE_MS);
        resolve();
      };
      ws.onmessage = (event) => this.receive(event.data);
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
  constructor({ localVideo, remoteVideo, remotePlaceholder = null, ui = {} }) {
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
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
    this.e2ee = null;
  }

  /** Run the visit with a join token. Resolves once media is negotiated. */
  async start(joinToken) {
    try {
      // R-PRIV-1: end-to-end encryption or no visit; never a silent downgrade.
      if (!e2eeSupported()) throw new ConferError('e2ee_unsupported', E2EE_UNSUPPORTED);
      this.e2ee = new E2ee({ onCode: (code, changed) => this.onCheckCode(code, changed) });
      setPhase('starting-media');
      this.status('Starting the camera and microphone…');
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: 1280, height: 720 },
      });
      this.localVideo.muted = true;
      this.localVideo.srcObject = this.stream;

      setPhase('connecting');
      this.status('Connecting to the visit…');
      this.signaling = new Signaling(socketUrl(), {
        onNotice: (notice) => this.onNotice(notice),
        onClose: () => this.finish('The connection to the server was lost.'),
        onKeyMessage: (message) => this.e2ee.onMessage(message),
      });
      await this.signaling.open();
      await this.signaling.request({ type: 'hello', version: PROTOCOL_VERSION, client: CLIENT_NAME }, 'welcome');
      const joined = await this.signaling.request({ type: 'join', token: joinToken }, 'joined');
      setPhase('joined');
      await this.e2ee.start(this.signaling, joined.visit_id);
      this.setSlotEnd(joined.slot_ends_at);
      const others = Array.isArray(joined.participants) ? joined.participants : [];
      this.status(others.length > 0 ? 'Joined. Setting up video…' : 'Joined. Waiting for the other side…');

      setPhase('negotiating');
      const pc = new RTCPeerConnection({ iceServers: [] });
      this.pc = pc;
      window.conferPc = pc;
      pc.addEventListener('connectionstatechange', () => this.onConnectionState());
      pc.addEventListener('iceconnectionstatechange', () => this.onConnectionState());
      pc.addEventListener('track', (event) => this.onTrack(event));
      for (const track of this.stream.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.stream] });
        // Both directions get their transform before the offer: Chromium hands a receiver's
        // frames to a transform only if it is in place before the remote description.
        this.e2ee.protectSender(transceiver.sender, track.kind);
        this.e2ee.protectReceiver(transceiver.receiver, track.kind);
      }
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc, ICE_GATHERING_LIMIT_MS);
      const answer = await this.signaling.request({ type: 'offer', sdp: pc.localDescription.sdp }, 'answer');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
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
    this.finish('You left the visit.');
  }

  status(text) {
    if (this.ui.status) this.ui.status(text);
  }

  setSlotEnd(rfc3339) {
    const end = new Date(rfc3339);
    if (Number.isNaN(end.getTime())) return;
    this.slotEndsAt = end;
    const tick = () => {
      const seconds = (this.slotEndsAt.getTime() - Date.now()) / 1000;
      if (this.ui.timeLeft) this.ui.timeLeft(seconds);
    };
    tick();
    if (!this.clock) this.clock = setInterval(tick, 1000);
  }

  onNotice(notice) {
    switch (notice.kind) {
      case 'participant_joined':
        if (this.remoteAway) {
          this.showRemote(null);
          this.notice(REMOTE_BACK);
        } else {
          this.notice(`${roleName(notice.role)} joined.`);
        }
        if (state.phase !== 'connected') this.status(`${roleName(notice.role)} joined. Connecting…`);
        else this.status('Connected');
        break;
      case 'participant_reconnecting':
        this.showRemote('reconnecting');
        this.notice(REMOTE_RECONNECTING);
        this.status(REMOTE_RECONNECTING);
        break;
      case 'participant_left':
        if (this.e2ee) this.e2ee.participantLeft(notice.role);
        this.showRemote('left');
        this.notice(`${roleName(notice.role)} left. They may come back.`);
        this.status(`${roleName(notice.role)} left. Waiting for them to come back…`);
        break;
      case 'time_warning':
        this.notice(notice.minutes_left === 1
          ? 'One minute left.'
          : `${notice.minutes_left} minutes left.`);
        break;
      case 'slot_extended':
        this.setSlotEnd(notice.slot_ends_at);
        this.notice(`The visit was extended until ${formatTime(notice.slot_ends_at)}.`);
        break;
      case 'visit_ended':
        this.endedByServer = true;
        this.finish(notice.message || 'The visit has ended.');
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
    placeholder.textContent = away === 'reconnecting' ? REMOTE_RECONNECTING : away === 'left' ? REMOTE_LEFT : '';
    placeholder.hidden = !away;
    this.remoteVideo.hidden = Boolean(away);
  }

  onTrack(event) {
    if (!this.remoteStream) {
      this.remoteStream = new MediaStream();
      this.remoteVideo.srcObject = this.remoteStream;
    }
    this.remoteStream.addTrack(event.track);
    this.playRemote();
  }

  playRemote() {
    const played = this.remoteVideo.play();
    if (!played || !this.ui.soundBlocked) return;
    played.catch((err) => {
      if (err && err.name === 'NotAllowedError' && !this.finished) {
        // Autoplay with sound was blocked: show the picture muted, and let the
        // person turn the sound on with one tap.
        this.remoteVideo.muted = true;
        this.remoteVideo.play().catch(() => {});
        this.ui.soundBlocked(() => {
          this.remoteVideo.muted = false;
          this.remoteVideo.play().catch(() => {});
        });
      }
    });
  }

  onConnectionState() {
    const pc = this.pc;
    if (!pc) return;
    state.connectionState = pc.connectionState;
    state.iceConnectionState = pc.iceConnectionState;
    if (this.ui.connection) this.ui.connection(pc.connectionState, pc.iceConnectionState);
    if (this.finished) return;
    if (pc.connectionState === 'connected') {
      setPhase('connected');
      this.status('Connected');
    } else if (pc.connectionState === 'failed') {
      recordError(new ConferError('media_failed', 'The video connection failed.'));
      this.finish('The video connection failed. Please check the network and join again.', 'error');
    } else if (pc.connectionState === 'disconnected') {
      this.status('Connection interrupted. Trying to reconnect…');
    }
  }

  /** Close everything: peer connection, camera, microphone, socket, clock. */
  finish(message, phase = 'ended') {
    if (this.finished) return;
    this.finished = true;
    setPhase(phase);
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
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
    this.showRemote(null);
    if (this.ui.timeLeft) this.ui.timeLeft(null);
    if (this.ui.ended) this.ui.ended(message, { endedByServer: this.endedByServer });
  }
}
