// confer: end-to-end encryption of the visit's media (R-PRIV-1), the page's side.
//
// - One ECDH P-256 key pair per visit connection; the private key is made non-extractable
//   and never leaves this page. The public key goes to the server (`e2ee_key`), which relays
//   it to the other participants of the visit only.
// - Each sender makes a fresh random media key per epoch (a new epoch whenever someone joins
//   or leaves), and sends it to each participant present wrapped with AES-GCM under their
//   pairwise key (ECDH, then HKDF-SHA256) in `e2ee_media_key`. A later joiner never gets an
//   earlier key; a leaver never gets a later one.
// - The media is SFrame-encrypted frame by frame in sframe-worker.js (RTCRtpScriptTransform):
//   the server forwards ciphertext it cannot read.
// - The check code: 6 digits from the visit id and every participant's public key, shown on
//   both screens; people compare them aloud. A swapped key changes it.
//
// See PROTOCOL.md, "End-to-end encryption", for the exact formats.

const enc = new TextEncoder();

/** Shown when this browser cannot do it: the visit is refused, never downgraded. */
import { TEST_E2EE_OFF, TEST_HOOKS } from './hooks.js';
export const E2EE_UNSUPPORTED =
  '此浏览器无法对会见进行端到端加密，因此不能加入。请使用最新版的 Chrome、Edge 或 Safari。\n' +
  'This browser cannot encrypt the visit end to end, so it cannot join. Please use a current Chrome, Edge or Safari.';

/** Whether this browser has everything end-to-end encryption needs. */
export function e2eeSupported() {
  return typeof window.RTCRtpScriptTransform === 'function'
    && typeof window.Worker === 'function'
    && Boolean(window.crypto && window.crypto.subtle);
}

function toBase64Url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Lower-case hex SHA-256 of a raw public key. */
export async function fingerprint(rawPublicKey) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', rawPublicKey)));
}

/**
 * The check code (same algorithm as confer-signaling's `e2ee::check_code`): SHA-256 of
 * "confer-e2ee-check-code/1" 0x00 visit-id 0x00 sorted fingerprints joined by ",";
 * the first 8 bytes big-endian modulo 1,000,000, six digits.
 */
export async function checkCode(visitId, fingerprints) {
  const sorted = [...fingerprints].sort();
  const parts = [enc.encode('confer-e2ee-check-code/1'), [0], enc.encode(String(visitId)), [0],
    enc.encode(sorted.join(','))];
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    input.set(p, at);
    at += p.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(d[i]);
  return String(v % 1000000n).padStart(6, '0');
}

/** "123 456" for reading aloud. */
export function formatCode(code) {
  return `${code.slice(0, 3)} ${code.slice(3)}`;
}

function wrapAad(visitId, from, to, kid) {
  return enc.encode(`confer-e2ee-wrap/1 ${visitId} ${from} ${to} ${kid}`);
}

/**
 * The page's end-to-end encryption. `onCode(code, changed)` is called with the check code
 * (null while alone) whenever the set of keys changes.
 */
export class E2ee {
  constructor({ onCode = () => {} } = {}) {
    this.onCode = onCode;
    this.worker = new Worker('/web/sframe-worker.js', { type: 'module', name: 'confer-sframe' });
    this.signaling = null;
    this.visitId = null;
    this.keyPair = null;
    this.publicKey = null; // base64url
    this.myFingerprint = null;
    this.me = null; // participant number the server gave this connection
    this.peers = new Map(); // number -> { role, publicKey, fingerprint, pairKey, kids: [] }
    this.epoch = 0;
    this.code = null;
    this.statsWaiters = new Map();
    this.nextStatsId = 1;
    this.rekeys = [];
    this.queue = Promise.resolve();
    this.worker.onmessage = (event) => {
      const m = event.data || {};
      if (m.op === 'stats' && this.statsWaiters.has(m.id)) {
        this.statsWaiters.get(m.id)(m.stats);
        this.statsWaiters.delete(m.id);
      }
    };
    // Test hook only in test builds (hooks.js, R-PRIV-1: production pages expose no globals).
    if (TEST_HOOKS) window.conferE2ee = this;
  }

  /** Make the key pair and publish the public key (after `joined`). */
  start(signaling, visitId) {
    return this.enqueue(() => this.begin(signaling, visitId));
  }

  async begin(signaling, visitId) {
    this.signaling = signaling;
    this.visitId = visitId;
    this.keyPair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', this.keyPair.publicKey));
    this.publicKey = toBase64Url(raw);
    this.myFingerprint = await fingerprint(raw);
    signaling.send({ type: 'e2ee_key', public_key: this.publicKey });
  }

  /**
   * After a resume on a new signalling connection (R-REMOTE-2): publish the same public key
   * there, so the relay knows it again; the echo gives back this connection's number and
   * starts a new epoch for everyone present. The check code does not change.
   */
  republish(signaling) {
    return this.enqueue(async () => {
      this.signaling = signaling;
      if (this.publicKey) signaling.send({ type: 'e2ee_key', public_key: this.publicKey });
    });
  }

  /** Encrypt what this sender sends (before its first frame). */
  protectSender(sender, kind) {
    if (TEST_E2EE_OFF) return; // test builds only (hooks.js)
    sender.transform = new RTCRtpScriptTransform(this.worker, { operation: 'encrypt', kind });
  }

  /** Decrypt what this receiver gets (in the `track` event, before its first frame). */
  protectReceiver(receiver, kind) {
    if (TEST_E2EE_OFF) return; // test builds only (hooks.js)
    receiver.transform = new RTCRtpScriptTransform(this.worker, { operation: 'decrypt', kind });
  }

  /** Run `step` after every earlier key event (they are asynchronous; order matters). */
  enqueue(step) {
    this.queue = this.queue.then(step).catch((err) => {
      // A key that does not import or unwrap is ignored: its frames stay undecryptable.
      console.warn('e2ee: key message ignored', err && err.message);
    });
    return this.queue;
  }

  /** A key message from the server (`e2ee_key`, `e2ee_media_key`). */
  onMessage(m) {
    if (m.type === 'e2ee_key') return this.enqueue(() => this.onKey(m));
    if (m.type === 'e2ee_media_key') return this.enqueue(() => this.onMediaKey(m));
    return Promise.resolve();
  }

  async onKey(m) {
    if (m.public_key === this.publicKey) {
      this.me = m.from;
      await this.rekey();
      return;
    }
    // A participant back on a new connection replaces its old one (same role).
    for (const [number, p] of this.peers) {
      if (p.role === m.role && number !== m.from) this.dropPeer(number);
    }
    const raw = fromBase64Url(m.public_key);
    const theirs = await crypto.subtle.importKey('raw', raw, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    const shared = await crypto.subtle.deriveBits({ name: 'ECDH', public: theirs }, this.keyPair.privateKey, 256);
    const hkdf = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
    const pairKey = await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('confer-e2ee-wrap/1'), info: enc.encode(`visit ${this.visitId}`) },
      hkdf, { name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
    this.peers.set(m.from, { role: m.role, publicKey: m.public_key, fingerprint: await fingerprint(raw), pairKey, kids: [] });
    await this.updateCode();
    await this.rekey();
  }

  async onMediaKey(m) {
    const peer = this.peers.get(m.from);
    if (!peer || this.me === null) return;
    const wrapped = fromBase64Url(m.wrapped);
    const base = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: wrapped.subarray(0, 12), additionalData: wrapAad(this.visitId, m.from, this.me, m.kid) },
      peer.pairKey, wrapped.subarray(12));
    this.worker.postMessage({ op: 'receive-key', kid: m.kid, base });
    peer.kids.push(m.kid);
    // Keep the sender's previous key a moment for frames still on the way.
    if (peer.kids.length > 2) this.worker.postMessage({ op: 'forget-keys', kids: peer.kids.splice(0, peer.kids.length - 2) });
  }

  /** `participant_left` (by role): its keys go, and a new epoch starts without it. */
  participantLeft(role) {
    return this.enqueue(() => this.onLeft(role));
  }

  async onLeft(role) {
    let changed = false;
    for (const [number, p] of this.peers) {
      if (p.role === role) {
        this.dropPeer(number);
        changed = true;
      }
    }
    if (changed) {
      await this.updateCode();
      await this.rekey();
    }
  }

  dropPeer(number) {
    const p = this.peers.get(number);
    if (!p) return;
    this.worker.postMessage({ op: 'forget-keys', kids: p.kids });
    this.peers.delete(number);
  }

  /** A new media key for a new epoch, to everyone present. */
  async rekey() {
    if (this.me === null) return;
    const started = performance.now();
    this.epoch += 1;
    const kid = this.me * 65536 + (this.epoch % 65536);
    const base = crypto.getRandomValues(new Uint8Array(16));
    for (const [number, p] of this.peers) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = new Uint8Array(await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: wrapAad(this.visitId, this.me, number, kid) }, p.pairKey, base));
      const wrapped = new Uint8Array(12 + ct.length);
      wrapped.set(iv, 0);
      wrapped.set(ct, 12);
      this.signaling.send({ type: 'e2ee_media_key', to: number, kid, wrapped: toBase64Url(wrapped) });
    }
    this.worker.postMessage({ op: 'send-key', kid, base: base.buffer });
    this.rekeys.push(performance.now() - started);
  }

  async updateCode() {
    const previous = this.code;
    if (this.peers.size === 0) {
      this.code = null;
    } else {
      const prints = [this.myFingerprint, ...Array.from(this.peers.values(), (p) => p.fingerprint)];
      this.code = await checkCode(this.visitId, prints);
    }
    if (this.code !== previous) this.onCode(this.code, previous !== null);
  }

  /** Counters of the transform worker (tests, figures): frames and crypto time. */
  stats() {
    return new Promise((resolve) => {
      const id = this.nextStatsId++;
      this.statsWaiters.set(id, resolve);
      this.worker.postMessage({ op: 'stats', id });
    });
  }

  close() {
    this.worker.terminate();
    this.peers.clear();
  }
}
