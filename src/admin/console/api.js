// The admin API as the console uses it: the staff session token (kept for this tab
// only), JSON in and out, and 401 / 403 turned into errors the views explain.
const KEY = 'confer.staff';

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
}
export function setSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s)); else sessionStorage.removeItem(KEY);
}

function authHeaders(extra) {
  const s = session();
  const h = Object.assign({}, extra || {});
  if (s) h.Authorization = 'Bearer ' + s.token;
  return h;
}

async function failure(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  const err = new ApiError(resp.status, body?.code || 'http_' + resp.status, body?.message || resp.statusText);
  if (resp.status === 401 && session()) {
    setSession(null);
    window.dispatchEvent(new CustomEvent('confer:expired'));
  }
  return err;
}

export async function api(method, path, body) {
  const init = { method, headers: authHeaders(body ? { 'Content-Type': 'application/json' } : {}), cache: 'no-store' };
  if (body) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  if (!resp.ok) throw await failure(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/// A download through the session (the CSV export): fetched, then saved by the browser.
export async function download(path, fallbackName) {
  const resp = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (!resp.ok) throw await failure(resp);
  const disposition = resp.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(disposition);
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = m ? m[1] : fallbackName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/// The live health feed: Server-Sent Events read through fetch (EventSource cannot send
/// the session header). Calls onEvent(name, data) per event; resolves when the stream
/// ends; rejects on an HTTP error.
export async function stream(path, onEvent, signal) {
  const resp = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }), cache: 'no-store', signal });
  if (!resp.ok) throw await failure(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length) {
        let parsed = null;
        try { parsed = JSON.parse(data.join('\n')); } catch { parsed = null; }
        if (parsed !== null) onEvent(event, parsed);
      }
    }
  }
}
