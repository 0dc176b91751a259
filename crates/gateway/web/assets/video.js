// The room's video: HLS from the room's `hls_url`, with hls.js (Media
// Source Extensions) wherever it runs, with low-latency settings so viewers
// stay a few seconds behind the seller; natively where hls.js cannot run
// (older iPhones) or cannot be loaded (the CDN blocked, an offline
// install). hls.js is loaded on first use from the URL the node's
// configuration names (`[web] hls_js_url`, served to pages as /config.js).
//
// hls.js first, as its own documentation advises: its live tuning is ours
// to set and it behaves the same in every browser. Chromium's newer native
// HLS player, for one, gave up for good (MEDIA_ERR_SRC_NOT_SUPPORTED) on
// rooms that had just gone live, in our tests on a busy machine.

import config from '/config.js';

/** How long a page waits for hls.js before playing natively. */
const HLS_JS_WAIT_MS = 4000;

let hlsLoading = null;

/**
 * Loads hls.js once (a classic script that defines `window.Hls`). A failed
 * load is not retried before the page is reloaded; a slow one is waited for
 * HLS_JS_WAIT_MS at a time, and used by a later start if it arrives.
 */
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = config.hls_js_url;
      script.async = true;
      script.crossOrigin = 'anonymous';
      // A copy that does not match is refused (onerror): native HLS then.
      if (config.hls_js_integrity) script.integrity = config.hls_js_integrity;
      script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('no Hls')));
      script.onerror = () => reject(new Error('hls.js did not load'));
      document.head.append(script);
    });
  }
  const slow = new Promise((_, reject) => {
    setTimeout(() => reject(new Error('hls.js is slow to load')), HLS_JS_WAIT_MS);
  });
  return Promise.race([hlsLoading, slow]);
}

/**
 * A stalled player (no progress for this long) starts over; each start
 * that makes no progress doubles the wait (up to STALL_MAX_MS), so a slow
 * first load on a busy phone is not cut off again and again.
 */
const STALL_MS = 6000;
const STALL_MAX_MS = 30000;

/**
 * Plays `url` in `video` (muted: browsers only autoplay muted video; the
 * page offers an unmute button). `onState(state)` hears `playing`,
 * `waiting` and `error`. Returns a function that stops playback.
 *
 * A room goes live a moment before its first segment exists, and a native
 * player that finds no playlist gives up for good; so a player that makes
 * no progress for a while starts over, for as long as the page plays.
 */
export function play(video, url, onState) {
  let hls = null;
  let stopped = false;
  // Which start is current: a start still waiting for hls.js when the
  // watchdog starts over (or the page stops) must not attach a player.
  let generation = 0;
  let lastTime = -1;
  let lastProgress = Date.now();
  let stallMs = STALL_MS;
  video.muted = true;
  video.playsInline = true;
  const events = {
    playing: () => onState('playing'),
    waiting: () => onState('waiting'),
    error: () => onState('error'),
  };
  for (const [name, fn] of Object.entries(events)) video.addEventListener(name, fn);
  const resume = () => video.play().catch(() => onState('paused'));

  const playNatively = () => {
    if (!video.canPlayType('application/vnd.apple.mpegurl')) {
      onState('error');
      return;
    }
    video.src = url;
    resume();
  };

  const playWithHlsJs = (Hls) => {
    hls = new Hls({
      lowLatencyMode: true,
      liveSyncDurationCount: 2,
      liveMaxLatencyDurationCount: 5,
      maxLiveSyncPlaybackRate: 1.5,
      backBufferLength: 30,
      manifestLoadingMaxRetry: 6,
      levelLoadingMaxRetry: 6,
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else onState('error');
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    resume();
  };

  const start = () => {
    const mine = ++generation;
    const current = () => !stopped && mine === generation;
    loadHlsJs().then(
      (Hls) => {
        if (!current()) return;
        if (Hls.isSupported()) playWithHlsJs(Hls);
        else playNatively();
      },
      () => {
        if (current()) playNatively();
      },
    );
  };

  const teardown = () => {
    generation += 1;
    if (hls) hls.destroy();
    hls = null;
    video.removeAttribute('src');
    video.load();
  };

  const watchdog = setInterval(() => {
    // Paused on purpose, unless by an error: a failed element is paused
    // too, even with data (readyState 4), and must start over.
    if (!video.error && video.paused && video.readyState >= 2) return;
    if (video.currentTime !== lastTime) {
      lastTime = video.currentTime;
      lastProgress = Date.now();
      stallMs = STALL_MS;
    } else if (Date.now() - lastProgress > stallMs) {
      lastProgress = Date.now();
      stallMs = Math.min(stallMs * 2, STALL_MAX_MS);
      teardown();
      start();
    }
  }, 1000);

  start();
  return () => {
    stopped = true;
    clearInterval(watchdog);
    for (const [name, fn] of Object.entries(events)) video.removeEventListener(name, fn);
    teardown();
  };
}
