// confer: the lawyer's check before joining (R-REMOTE-1): camera preview, microphone level,
// the choice of camera and microphone (used for the visit), and a network check.
//
// The network check: the HTTPS round trip to this server (three HEAD requests for a small
// page asset, the median shown), whether the signalling WebSocket answers `hello` with
// `welcome` (then the page says `leave`: the connection joins nothing), and the media
// transports themselves (R-REMOTE-2): one WebRTC data channel to the server's media ports
// (`POST /api/network-check`), which tells whether UDP gets through or only TCP, and the
// round trip of a few echoed messages. No media leaves this page here: the check's
// connection has no audio or video (the server refuses one that has), the preview and the
// level meter are local, nothing is recorded or sent (R-PRIV-1).
import { PROTOCOL_VERSION, socketUrl, state } from './confer.js';
import { onLangChange, t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const WS_CHECK_MS = 10000;
const MEDIA_CHECK_MS = 12000;
const MEDIA_PINGS = 5;

/** The median of three HTTPS round trips to this server, in ms; null when unreachable. */
async function httpsRoundTrip() {
  const times = [];
  for (let i = 0; i < 3; i += 1) {
    const start = performance.now();
    try {
      const r = await fetch('/web/icon.svg', { method: 'HEAD', cache: 'no-store', credentials: 'same-origin' });
      if (!r.ok) return null;
    } catch {
      return null;
    }
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[1]);
}

/** Whether the signalling endpoint answers `hello` with `welcome` (within 10 s). */
function signallingReachable() {
  return new Promise((resolve) => {
    let done = false;
    let ws;
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'leave' }));
        if (ws) ws.close(1000);
      } catch {
        // closing anyway
      }
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), WS_CHECK_MS);
    try {
      ws = new WebSocket(socketUrl());
    } catch {
      finish(false);
      return;
    }
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, client: 'confer-web/1 check' }));
    ws.onmessage = (event) => {
      try {
        finish(JSON.parse(event.data).type === 'welcome');
      } catch {
        finish(false);
      }
    };
    ws.onerror = () => finish(false);
    ws.onclose = () => finish(false);
  });
}

/**
 * The media transports (R-REMOTE-2): a data channel to the server's media ports, a few
 * echoed messages. Resolves `{ ok, transport: 'udp'|'tcp'|null, rttMs, relay }`; `ok` false
 * when no path was found within 12 s (then `relay` says whether the visit may still use the
 * facility's relay over port 443). `openCheck(sdp)` posts the offer and returns the answer.
 */
async function mediaPath(openCheck) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const channel = pc.createDataChannel('check', { ordered: true });
  let relay = false;
  const times = [];
  const sent = new Map();
  try {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const answer = await openCheck(pc.localDescription.sdp);
    relay = Boolean(answer.relay);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    const opened = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), MEDIA_CHECK_MS);
      channel.onopen = () => {
        clearTimeout(timer);
        resolve(true);
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') {
          clearTimeout(timer);
          resolve(false);
        }
      };
    });
    if (!opened) return { ok: false, transport: null, rttMs: null, relay };
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      channel.onmessage = (event) => {
        const at = sent.get(String(event.data));
        if (at !== undefined) times.push(performance.now() - at);
        if (times.length >= MEDIA_PINGS) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (let i = 0; i < MEDIA_PINGS; i += 1) {
        setTimeout(() => {
          if (channel.readyState !== 'open') return;
          const text = `ping ${i}`;
          sent.set(text, performance.now());
          channel.send(text);
        }, i * 100);
      }
    });
    let transport = null;
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = stats.get(r.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local && local.protocol) transport = local.protocol;
      }
    });
    times.sort((a, b) => a - b);
    const rttMs = times.length ? Math.round(times[Math.floor(times.length / 2)]) : null;
    return { ok: times.length > 0, transport, rttMs, relay };
  } catch (err) {
    return { ok: false, transport: null, rttMs: null, relay, error: err && err.code ? err.code : 'failed' };
  } finally {
    try {
      channel.close();
      pc.close();
    } catch {
      // closing anyway
    }
  }
}

/**
 * Wire the check. Returns `chosen()` (the device ids the lawyer picked, for the visit's
 * getUserMedia) and `stop()` (release camera and microphone: called before joining).
 */
export function initPrejoin({ openCheck } = {}) {
  const ui = {
    start: $('prejoin-start'),
    stopButton: $('prejoin-stop'),
    panel: $('prejoin-panel'),
    video: $('prejoin-video'),
    camera: $('prejoin-camera'),
    mic: $('prejoin-mic'),
    level: $('mic-level'),
    network: $('network-check'),
  };
  const picked = { video: null, audio: null };
  let stream = null;
  let audio = null;
  let meterTimer = null;
  /** The network lines shown, as [key, vars, ok] (re-rendered on a language switch). */
  let lines = [];
  const report = { micPeak: 0, httpsRttMs: null, signalling: null, media: null, running: false, devices: [] };
  state.prejoin = report;

  function renderNetwork() {
    ui.network.replaceChildren(...lines.map(([key, vars, ok]) => {
      const li = document.createElement('li');
      li.textContent = t(key, vars);
      if (ok !== null) li.dataset.ok = String(ok);
      return li;
    }));
  }

  function release() {
    if (meterTimer) clearInterval(meterTimer);
    meterTimer = null;
    if (audio) audio.close().catch(() => {});
    audio = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    ui.video.srcObject = null;
    ui.level.value = 0;
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      devices = [];
    }
    report.devices = devices.map((d) => ({ kind: d.kind, label: d.label }));
    for (const [select, kind, media] of [[ui.camera, 'videoinput', 'video'], [ui.mic, 'audioinput', 'audio']]) {
      const found = devices.filter((d) => d.kind === kind);
      select.replaceChildren(...found.map((d, i) => {
        const option = document.createElement('option');
        option.value = d.deviceId;
        option.textContent = d.label || `${t(kind === 'videoinput' ? 'lawyer.camera' : 'lawyer.microphone')} ${i + 1}`;
        return option;
      }));
      const track = stream ? stream.getTracks().find((x) => x.kind === media) : null;
      const now = track && track.getSettings ? track.getSettings().deviceId : '';
      if (now) select.value = now;
    }
  }

  /** Open the chosen (or default) camera and microphone, and meter the microphone. */
  async function open() {
    release();
    const want = (id) => (id ? { deviceId: { exact: id } } : {});
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { ...want(picked.audio) },
        video: { width: 1280, height: 720, ...want(picked.video) },
      });
    } catch {
      lines = [['prejoin.noDevice', {}, false], ...lines.filter(([k]) => k !== 'prejoin.noDevice')];
      renderNetwork();
      return;
    }
    for (const track of stream.getTracks()) {
      const id = track.getSettings ? track.getSettings().deviceId : null;
      if (id) picked[track.kind] = id;
    }
    ui.video.srcObject = stream;
    ui.video.play().catch(() => {});
    // The level meter: an AnalyserNode on the local microphone, nothing leaves the page.
    const Context = window.AudioContext || window.webkitAudioContext;
    if (Context && stream.getAudioTracks().length > 0) {
      audio = new Context();
      const source = audio.createMediaStreamSource(stream);
      const analyser = audio.createAnalyser();
      analyser.fftSize = 1024;
      source.connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      meterTimer = setInterval(() => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const x of samples) sum += x * x;
        const rms = Math.sqrt(sum / samples.length);
        const level = Math.min(1, rms * 4);
        ui.level.value = level;
        ui.level.textContent = String(Math.round(level * 100));
        report.micPeak = Math.max(report.micPeak, level);
      }, 100);
      if (audio.state === 'suspended') audio.resume().catch(() => {});
    }
    await listDevices();
  }

  async function checkNetwork() {
    lines = [['prejoin.netChecking', {}, null]];
    renderNetwork();
    const rtt = await httpsRoundTrip();
    report.httpsRttMs = rtt;
    const ws = await signallingReachable();
    report.signalling = ws;
    lines = [
      rtt === null ? ['prejoin.httpsFail', {}, false] : ['prejoin.httpsOk', { ms: rtt }, true],
      ws ? ['prejoin.wsOk', {}, true] : ['prejoin.wsFail', {}, false],
      ['prejoin.mediaChecking', {}, null],
    ];
    renderNetwork();
    const media = openCheck ? await mediaPath(openCheck) : { ok: false, transport: null, rttMs: null, relay: false, error: 'unavailable' };
    report.media = media;
    let mediaLine;
    if (media.ok && media.transport === 'udp') mediaLine = ['prejoin.mediaUdp', { ms: media.rttMs }, true];
    else if (media.ok) mediaLine = ['prejoin.mediaTcp', { ms: media.rttMs }, true];
    else if (media.relay) mediaLine = ['prejoin.mediaRelayOnly', {}, false];
    else mediaLine = ['prejoin.mediaFail', {}, false];
    lines = [lines[0], lines[1], mediaLine];
    if (rtt !== null && ws && stream && (media.ok || media.relay)) lines.push(['prejoin.ready', {}, true]);
    renderNetwork();
  }

  async function start() {
    ui.panel.hidden = false;
    ui.start.hidden = true;
    report.running = true;
    await open();
    await checkNetwork();
  }

  function stop() {
    release();
    report.running = false;
    ui.panel.hidden = true;
    ui.start.hidden = false;
  }

  ui.start.addEventListener('click', () => {
    start();
  });
  ui.stopButton.addEventListener('click', () => {
    stop();
    ui.start.focus();
  });
  ui.camera.addEventListener('change', () => {
    picked.video = ui.camera.value || null;
    open();
  });
  ui.mic.addEventListener('change', () => {
    picked.audio = ui.mic.value || null;
    open();
  });
  onLangChange(renderNetwork);

  return {
    /** The devices picked here (null: the browser's default), for the visit. */
    chosen: () => ({ ...picked }),
    stop,
  };
}
