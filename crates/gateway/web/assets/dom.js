// A tiny DOM kit. Text always goes in as text nodes (never innerHTML), so a
// chat message or a lot title can never become markup.

/**
 * `h('button', {class: 'primary', onclick}, 'Bid')`: an element with
 * attributes (`on*` become listeners, `false`/null ones are left out) and
 * children (strings become text).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `document.getElementById`, failing loudly on a page without the element. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** Sets `el`'s text only when it changed (no needless layout work). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

let toastRegion = null;

/**
 * A short message at the top of the screen, read out by screen readers.
 * `kind` is `info`, `good` or `bad`; each kind also has its own icon and
 * word, so it does not rely on colour alone.
 */
export function toast(text, kind = 'info', ms = 5000) {
  if (!toastRegion) {
    toastRegion = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const icon = { info: 'ℹ', good: '✓', bad: '⚠' }[kind] || 'ℹ';
  const item = h('div', { class: `toast toast-${kind}` },
    h('span', { class: 'toast-icon', 'aria-hidden': 'true' }, icon), h('span', {}, text),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss',
      onclick: () => item.remove() }, '×'));
  toastRegion.append(item);
  while (toastRegion.children.length > 4) toastRegion.firstChild.remove();
  setTimeout(() => item.remove(), ms);
  return item;
}

/** Copies `text` to the clipboard; says so in a toast either way. */
export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied.`, 'good', 2500);
  } catch {
    toast(`Could not copy the ${what.toLowerCase()}: select it and copy it by hand.`, 'bad');
  }
}
