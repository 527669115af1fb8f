// confer: SFrame (RFC 9605) over one encoded media frame, cipher suite
// AES_128_GCM_SHA256_128 (0x0004), with WebCrypto. Used by sframe-worker.js; the same
// format as confer-signaling's e2ee module (Rust), checked against RFC 9605 Appendix C.
//
// A protected frame is `clear prefix | SFrame header | ciphertext | tag`. The clear prefix
// is the codec header Chromium's depacketizer reads (Opus TOC: 1 byte; VP8 frame tag: 3
// bytes, 10 in a key frame with its start code and dimensions); it is authenticated as
// SFrame metadata (AAD = header | prefix). See PROTOCOL.md, "End-to-end encryption".

export const CIPHER_SUITE = 0x0004;
const NK = 16;
const NN = 12;
const enc = new TextEncoder();

/** How many leading bytes of a frame stay in clear: 'audio' or 'video' (VP8). */
export function clearPrefixLen(kind, data) {
  let n;
  if (kind === 'audio') n = 1;
  else n = data.length > 0 && (data[0] & 0x01) === 0 ? 10 : 3;
  return Math.min(n, data.length);
}

/** Minimal big-endian bytes of a non-negative integer (< 2^53). */
function uintBytes(v) {
  const out = [];
  let x = v;
  do {
    out.unshift(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  return out;
}

function u64be(v) {
  const out = new Uint8Array(8);
  let x = v;
  for (let i = 7; i >= 0; i--) {
    out[i] = x % 256;
    x = Math.floor(x / 256);
  }
  return out;
}

/** RFC 9605 §4.3: the SFrame header for KID and CTR. */
export function encodeHeader(kid, ctr) {
  const bytes = [0];
  let config = 0;
  if (kid < 8) {
    config |= kid << 4;
  } else {
    const k = uintBytes(kid);
    config |= 0x80 | ((k.length - 1) << 4);
    bytes.push(...k);
  }
  if (ctr < 8) {
    config |= ctr;
  } else {
    const c = uintBytes(ctr);
    config |= 0x08 | (c.length - 1);
    bytes.push(...c);
  }
  bytes[0] = config;
  return Uint8Array.from(bytes);
}

/** Parses the SFrame header at `data[offset]`: {kid, ctr, length} or null. */
export function parseHeader(data, offset) {
  if (offset >= data.length) return null;
  const config = data[offset];
  let pos = offset + 1;
  const field = (flag, value) => {
    if (!flag) return value;
    const len = value + 1;
    if (pos + len > data.length) return null;
    let v = 0;
    for (let i = 0; i < len; i++) v = v * 256 + data[pos + i];
    pos += len;
    return v;
  };
  const kid = field(config & 0x80, (config >> 4) & 0x07);
  if (kid === null) return null;
  const ctr = field(config & 0x08, config & 0x07);
  if (ctr === null) return null;
  return { kid, ctr, length: pos - offset };
}

/** RFC 9605 §4.4.2: the AES-GCM key and salt of a base key under `kid`. */
export async function deriveKeySalt(baseKey, kid) {
  const ikm = await crypto.subtle.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const label = (text) => {
    const t = enc.encode(text);
    const out = new Uint8Array(t.length + 10);
    out.set(t, 0);
    out.set(u64be(kid), t.length);
    out[t.length + 8] = CIPHER_SUITE >> 8;
    out[t.length + 9] = CIPHER_SUITE & 0xff;
    return out;
  };
  const bits = (info, n) => crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, ikm, n * 8);
  const keyBytes = await bits(label('SFrame 1.0 Secret key '), NK);
  const salt = new Uint8Array(await bits(label('SFrame 1.0 Secret salt '), NN));
  const key = await crypto.subtle.importKey('raw', keyBytes, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return { key, salt };
}

function nonce(salt, ctr) {
  const out = Uint8Array.from(salt);
  const c = u64be(ctr);
  for (let i = 0; i < 8; i++) out[NN - 8 + i] ^= c[i];
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Protect `payload` with `metadata` in clear ahead: metadata | header | ct | tag. */
export async function encrypt({ key, salt }, kid, ctr, metadata, payload) {
  const header = encodeHeader(kid, ctr);
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce(salt, ctr), additionalData: concat(header, metadata), tagLength: 128 },
    key, payload);
  return concat(metadata, header, new Uint8Array(ct));
}

/**
 * Open `data` (metadata of `metaLen` bytes, then an SFrame ciphertext) with the key
 * `lookup(kid)` returns. Resolves with metadata | payload, or null when it does not open.
 */
export async function decrypt(lookup, metaLen, data) {
  const h = parseHeader(data, metaLen);
  if (!h) return null;
  const keys = lookup(h.kid);
  if (!keys) return null;
  const metadata = data.subarray(0, metaLen);
  const header = data.subarray(metaLen, metaLen + h.length);
  try {
    const pt = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: nonce(keys.salt, h.ctr), additionalData: concat(header, metadata), tagLength: 128 },
      keys.key, data.subarray(metaLen + h.length));
    return concat(metadata, new Uint8Array(pt));
  } catch {
    return null;
  }
}
