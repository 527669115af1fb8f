// confer: the pages' language (Simplified Chinese first, English second).
//
// One message catalogue per language (i18n-zh-CN.js, i18n-en.js; a test checks that both
// have the same keys). The language is the one chosen on this device (the switch on every
// page, kept in localStorage), else the browser's first preference when it is English,
// else Simplified Chinese. Static text is marked in the HTML with `data-i18n="key"`
// (`data-i18n-aria-label="key"` for labels); pages render the rest with `t()`.
import zh from './i18n-zh-CN.js';
import en from './i18n-en.js';

const STORE_KEY = 'confer-lang';
export const CATALOGUES = { 'zh-CN': zh, en };
const listeners = [];

function stored() {
  try {
    const v = window.localStorage.getItem(STORE_KEY);
    return v === 'zh-CN' || v === 'en' ? v : null;
  } catch {
    return null;
  }
}

/** The language a browser asks for: English when it prefers English, else Chinese. */
export function preferred(languages) {
  const first = Array.isArray(languages) && languages.length > 0 ? String(languages[0]) : '';
  return /^en\b/i.test(first) ? 'en' : 'zh-CN';
}

let current = stored() || preferred(navigator.languages || [navigator.language]);

export function lang() {
  return current;
}

/** The sentence `key` in the page language, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES['zh-CN'][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A server sentence in the page language: `message_zh` for Chinese when there is one. */
export function pick(english, chinese) {
  if (current === 'zh-CN' && typeof chinese === 'string' && chinese) return chinese;
  return english;
}

/** Re-render the marked static text of `root` in the page language. */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  }
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  const title = document.querySelector('title[data-i18n-doc]');
  if (title) document.title = t(title.dataset.i18nDoc);
}

/** Switch the language (remembered on this device) and re-render. */
export function setLang(next) {
  if (!CATALOGUES[next] || next === current) return;
  current = next;
  try {
    window.localStorage.setItem(STORE_KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyStatic();
  for (const fn of listeners) fn(current);
}

/** Call `fn(lang)` after every switch (pages re-render their dynamic text). */
export function onLangChange(fn) {
  listeners.push(fn);
}

/**
 * The switch (`#lang-switch`, a button in the header): names the other language in that
 * language, so a reader of either can find it.
 */
export function mountSwitch(button) {
  if (!button) return;
  const render = () => {
    const other = current === 'zh-CN' ? 'en' : 'zh-CN';
    button.textContent = other === 'en' ? 'English' : '中文';
    button.lang = other;
    button.dataset.lang = other;
    // The visible name is the accessible name (WCAG 2.5.3); the title explains it.
    button.title = t('lang.switch');
  };
  button.addEventListener('click', () => setLang(button.dataset.lang));
  onLangChange(render);
  render();
}

/**
 * The facility's time zone (IANA name, from the server's `time_zone`; R-REMOTE-1, R-BOOK-1): dates
 * and times are shown on the facility's clock, 24-hour, wherever the reader is. Until the
 * server has said, and if the browser does not know the name, the device's own zone.
 */
let facilityZone = null;

export function setTimeZone(tz) {
  if (typeof tz !== 'string' || !tz) return;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    facilityZone = tz;
  } catch {
    // an unknown zone name: keep the device's zone
  }
}

export function timeZone() {
  return facilityZone;
}

function parts(date, withDate) {
  const options = { hourCycle: 'h23', hour: '2-digit', minute: '2-digit' };
  if (withDate) Object.assign(options, { year: 'numeric', month: '2-digit', day: '2-digit' });
  if (facilityZone) options.timeZone = facilityZone;
  const out = {};
  for (const p of new Intl.DateTimeFormat('en-US', options).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** 24-hour date and time in the facility's zone ("2026-12-02 14:05"). */
export function formatDateTime(rfc3339) {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return String(rfc3339);
  const p = parts(date, true);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/**
 * The instant at which the facility's clock shows `local` ("2026-12-04T10:00", what a
 * `datetime-local` input holds): a time the lawyer types is the facility's time, like every
 * time the pages show. Null for an invalid value. Without a facility zone: the device's.
 */
export function parseFacilityTime(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(local));
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  if (!facilityZone) {
    const date = new Date(y, mo - 1, d, h, mi);
    return Number.isNaN(date.getTime()) ? null : date;
  }
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  // The zone's offset at a guess, twice (enough across a daylight-saving change).
  let guess = wall;
  for (let i = 0; i < 2; i += 1) {
    const p = parts(new Date(guess), true);
    const shown = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute));
    guess += wall - shown;
  }
  const date = new Date(guess);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** 24-hour time of day in the facility's zone ("14:05"). */
export function formatClock(date = new Date()) {
  const p = parts(date, false);
  return `${p.hour}:${p.minute}`;
}

applyStatic();
