// confer: whether this page may publish its state for automated tests (R-PRIV-1).
// Only a page served by a test build carries the marker (signaling/src/web_marker.rs);
// production pages expose no globals (no window.conferState, conferPc, conferE2ee).
export const TEST_HOOKS = document.querySelector('meta[name="confer-test-hooks"]') !== null;
// The "without" arm of the end-to-end encryption figures (R-PRIV-1,
// tests/e2ee_figures_browser.rs): a test build's page opened with `?confer-test-e2ee=off`
// installs no media transform. A production page has no marker, so this is false there.
export const TEST_E2EE_OFF = TEST_HOOKS
  && new URLSearchParams(window.location.search).get('confer-test-e2ee') === 'off';
