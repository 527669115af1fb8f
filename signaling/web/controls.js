// confer: the lawyer's controls during a visit: mute, camera off, and switching camera or
// microphone (the new device's track replaces the old one on the same sender, so the
// end-to-end transform and the negotiated m-lines stay as they are; R-PRIV-1).
import { t } from './i18n.js';

/**
 * Wire the controls to `getVisit()` (the running Visit, or null). `els` needs `mute`,
 * `camera`, `cameraChoice`, `micChoice`, `selfState` and `localVideo`.
 */
export function initControls(els, getVisit) {
  const flags = { muted: false, cameraOff: false };

  function render() {
    els.mute.textContent = t(flags.muted ? 'lawyer.unmuteMic' : 'lawyer.mute');
    els.mute.setAttribute('aria-pressed', String(flags.muted));
    els.camera.textContent = t(flags.cameraOff ? 'lawyer.cameraOn' : 'lawyer.cameraOff');
    els.camera.setAttribute('aria-pressed', String(flags.cameraOff));
    const lines = [];
    if (flags.muted) lines.push(t('lawyer.micMuted'));
    if (flags.cameraOff) lines.push(t('lawyer.cameraIsOff'));
    els.selfState.textContent = lines.join(' ');
    document.body.dataset.muted = String(flags.muted);
    document.body.dataset.cameraOff = String(flags.cameraOff);
  }

  function apply() {
    const visit = getVisit();
    if (visit && visit.stream) {
      for (const track of visit.stream.getAudioTracks()) track.enabled = !flags.muted;
      for (const track of visit.stream.getVideoTracks()) track.enabled = !flags.cameraOff;
    }
    // R-REMOTE-1: the other side is told (its roster shows it), not only sent silence.
    if (visit && visit.setMediaState) visit.setMediaState(!flags.muted, !flags.cameraOff);
    render();
  }

  els.mute.addEventListener('click', () => {
    flags.muted = !flags.muted;
    apply();
  });
  els.camera.addEventListener('click', () => {
    flags.cameraOff = !flags.cameraOff;
    apply();
  });

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      devices = [];
    }
    const visit = getVisit();
    const current = (kind) => {
      const track = visit && visit.stream ? visit.stream.getTracks().find((x) => x.kind === kind) : null;
      return track && track.getSettings ? track.getSettings().deviceId : '';
    };
    for (const [select, kind, media] of [[els.cameraChoice, 'videoinput', 'video'], [els.micChoice, 'audioinput', 'audio']]) {
      const found = devices.filter((d) => d.kind === kind);
      select.replaceChildren(...found.map((d, i) => {
        const option = document.createElement('option');
        option.value = d.deviceId;
        option.textContent = d.label || `${t(kind === 'videoinput' ? 'lawyer.camera' : 'lawyer.microphone')} ${i + 1}`;
        return option;
      }));
      const now = current(media);
      if (now) select.value = now;
      select.disabled = found.length < 2;
    }
  }

  /** Replace our `kind` track with one from `deviceId` on the same sender. */
  async function switchDevice(kind, deviceId) {
    const visit = getVisit();
    if (!visit || !visit.stream || !visit.pc || !deviceId) return;
    const constraints = kind === 'video'
      ? { video: { deviceId: { exact: deviceId }, width: 1280, height: 720 } }
      : { audio: { deviceId: { exact: deviceId } } };
    const fresh = await navigator.mediaDevices.getUserMedia(constraints);
    const track = fresh.getTracks()[0];
    const old = visit.stream.getTracks().find((x) => x.kind === kind);
    const sender = visit.pc.getSenders().find((s) => s.track && s.track.kind === kind);
    if (sender) await sender.replaceTrack(track);
    if (old) {
      visit.stream.removeTrack(old);
      old.stop();
    }
    visit.stream.addTrack(track);
    apply();
  }

  els.cameraChoice.addEventListener('change', () => switchDevice('video', els.cameraChoice.value).catch(() => listDevices()));
  els.micChoice.addEventListener('change', () => switchDevice('audio', els.micChoice.value).catch(() => listDevices()));

  return {
    /** A new visit started: controls back to "on", device lists refreshed. */
    reset() {
      flags.muted = false;
      flags.cameraOff = false;
      render();
    },
    /** The visit's media is running: apply the flags and list the devices. */
    started() {
      apply();
      listDevices();
    },
    render,
    flags,
  };
}
