// confer: the encoded-frame transform (WebRTC Encoded Transform, RTCRtpScriptTransform).
// Every outgoing audio and video frame is SFrame-encrypted here before it is packetized;
// every incoming frame is decrypted here before it is decoded (R-PRIV-1). Keys come from
// e2ee.js by postMessage; they never leave the page.
//
// Fails closed: with no media key yet, an outgoing frame is dropped, never sent in clear;
// an incoming frame that does not decrypt (unknown key, altered, not SFrame) is dropped,
// never shown.

import { clearPrefixLen, decrypt, deriveKeySalt, encrypt } from './sframe.js';

let send = null; // { kid, keys: {key, salt}, ctr }
const receive = new Map(); // kid -> {key, salt}
const stats = {
  encrypted: 0,
  decrypted: 0,
  droppedNoKey: 0,
  droppedUndecryptable: 0,
  cryptoMs: 0,
  firstDecrypted: { audio: null, video: null },
  // The figures of R-PRIV-1 (tests/e2ee_figures_browser.rs), counters in this page only:
  // per transform ("encrypt video", ...) frames, bytes in and crypto ms; per KID, when this
  // worker first sent and first opened a frame under it (ms since the epoch, for re-key time).
  byTransform: {},
  firstSentByKid: {},
  firstDecryptedByKid: {},
  transforms: [],
  errors: [],
};

function tally(name, bytes, ms) {
  const t = stats.byTransform[name] || (stats.byTransform[name] = { frames: 0, bytes: 0, ms: 0 });
  t.frames += 1;
  t.bytes += bytes;
  t.ms += ms;
}

self.onmessage = async (event) => {
  const m = event.data || {};
  if (m.op === 'send-key') {
    const keys = await deriveKeySalt(m.base, m.kid);
    send = { kid: m.kid, keys, ctr: 0 };
  } else if (m.op === 'receive-key') {
    receive.set(m.kid, await deriveKeySalt(m.base, m.kid));
  } else if (m.op === 'forget-keys') {
    for (const kid of m.kids) receive.delete(kid);
  } else if (m.op === 'stats') {
    self.postMessage({ op: 'stats', id: m.id, stats: { ...stats, receiveKeys: receive.size } });
  }
};

function protect(kind) {
  return async (frame, controller) => {
    const s = send;
    if (!s) {
      stats.droppedNoKey += 1;
      return;
    }
    const started = performance.now();
    const data = new Uint8Array(frame.data);
    const n = clearPrefixLen(kind, data);
    const ctr = s.ctr;
    s.ctr += 1;
    const out = await encrypt(s.keys, s.kid, ctr, data.subarray(0, n), data.subarray(n));
    const ms = performance.now() - started;
    stats.cryptoMs += ms;
    stats.encrypted += 1;
    tally(`encrypt ${kind}`, data.length, ms);
    if (!(s.kid in stats.firstSentByKid)) stats.firstSentByKid[s.kid] = performance.timeOrigin + performance.now();
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

function open(kind) {
  return async (frame, controller) => {
    const started = performance.now();
    const data = new Uint8Array(frame.data);
    let kid = null;
    const out = await decrypt((k) => {
      kid = k;
      return receive.get(k);
    }, clearPrefixLen(kind, data), data);
    const ms = performance.now() - started;
    stats.cryptoMs += ms;
    if (!out) {
      stats.droppedUndecryptable += 1;
      return;
    }
    stats.decrypted += 1;
    tally(`decrypt ${kind}`, data.length, ms);
    if (!(kid in stats.firstDecryptedByKid)) stats.firstDecryptedByKid[kid] = performance.timeOrigin + performance.now();
    if (stats.firstDecrypted[kind] === null) {
      stats.firstDecrypted[kind] = performance.timeOrigin + performance.now();
    }
    frame.data = out.buffer;
    controller.enqueue(frame);
  };
}

self.onrtctransform = (event) => {
  const t = event.transformer;
  const { operation, kind } = t.options;
  const transform = operation === 'encrypt' ? protect(kind) : open(kind);
  stats.transforms.push(`${operation} ${kind}`);
  t.readable.pipeThrough(new TransformStream({ transform })).pipeTo(t.writable)
    .catch((err) => stats.errors.push(`${operation} ${kind}: ${err && err.message}`));
};
