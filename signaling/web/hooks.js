// confer: whether this page may publish its state for automated tests (R-PRIV-1).
// Only a page served by a test build carries the marker (signaling/src/web_marker.rs);
// production pages expose no globals (no window.conferState, conferPc, conferE2ee).
export const TEST_HOOKS = document.querySelector('meta[name="confer-test-hooks"]') !== null;
