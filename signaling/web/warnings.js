// confer: the slot warnings on screen (R-ARRANGE-4): "5 minutes left", "1 minute left",
// in the page language, with a short tone so a person not looking at the screen notices.
import { t } from './i18n.js';

let audio = null;

/** Show the warning for `minutes` left in `el` (a role="alert" element); null hides it. */
export function showWarning(el, minutes) {
  if (!el) return;
  if (minutes === null || minutes === undefined) {
    el.hidden = true;
    el.textContent = '';
    delete el.dataset.minutes;
    return;
  }
  el.textContent = minutes === 1 ? t('warn.oneMinute') : t('warn.minutes', { n: minutes });
  el.dataset.minutes = String(minutes);
  el.hidden = false;
}

/** A short tone (two 880 Hz beeps of 150 ms) through WebAudio; silent if audio is blocked. */
export function beep() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const start = audio.currentTime + 0.05;
    for (const offset of [0, 0.3]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.16);
    }
  } catch {
    // No audio output: the warning is still on screen.
  }
}
