// Floating hearts. A `hearts` event carries the likes since the last one (the
// room batches them), so a burst of N animates min(N, MAX_BURST) hearts, and
// at most MAX_ON_SCREEN float at once: a busy room must not flood the page.

const MAX_BURST = 8;
const MAX_ON_SCREEN = 40;
const COLOURS = ['#ff3b6b', '#ff7a59', '#ffb020', '#e040fb', '#ff5c8a'];

export class Hearts {
  constructor(layer) {
    this.layer = layer;
    this.reduced = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  }

  /** Animates a burst for `count` likes. */
  burst(count) {
    const n = Math.min(Math.max(1, count), MAX_BURST);
    for (let i = 0; i < n; i++) setTimeout(() => this.one(), i * 90);
  }

  one() {
    if (this.reduced || this.layer.childElementCount >= MAX_ON_SCREEN) return;
    const heart = document.createElement('span');
    heart.className = 'heart';
    heart.textContent = '♥';
    heart.setAttribute('aria-hidden', 'true');
    // CSSOM properties, not a style attribute: the CSP allows no inline styles.
    heart.style.setProperty('--drift', `${Math.round(Math.random() * 60 - 30)}px`);
    heart.style.setProperty('--colour', COLOURS[Math.floor(Math.random() * COLOURS.length)]);
    heart.style.setProperty('--dur', `${(1.8 + Math.random()).toFixed(2)}s`);
    heart.addEventListener('animationend', () => heart.remove());
    this.layer.append(heart);
  }
}
