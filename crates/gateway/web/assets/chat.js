// The chat overlay: the last messages over the video and an input. Messages
// come from `chat` room events, and from the room's history when a page
// joins; the list keeps only the last MAX_SHOWN.

import { h, setText } from './dom.js';

const MAX_SHOWN = 50;

export class Chat {
  /**
   * `list`: the message list element; `form`: the form with an input named
   * `text`; `send(text)`: a promise that resolves once the node took it.
   */
  constructor(list, form, send) {
    this.list = list;
    this.seen = new Set(); // keys of the chat lines shown
    this.form = form;
    this.input = form.querySelector('input[name=text]');
    this.note = form.querySelector('.chat-note');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.disabled = true;
      try {
        await send(text);
        this.input.value = '';
        this.say('');
      } catch (err) {
        this.say(err.message);
      } finally {
        this.input.disabled = false;
        this.input.focus();
      }
    });
  }

  /** A short line under the input (why a message was not sent). */
  say(text) {
    if (this.note) setText(this.note, text);
  }

  /** Empties the list. */
  clear() {
    this.list.replaceChildren();
    this.seen.clear();
  }

  /**
   * A message; `actions` (optional) is an element shown after it, such as
   * the studio's moderation buttons. The line carries its sender's id
   * (`data-user`) so those can be found again.
   */
  add(event, mine, actions) {
    const item = this.item(event, mine, actions);
    if (!item) return;
    this.list.append(item);
    this.trim();
  }

  /**
   * Lines of the room's history (`GET /rooms/{room}/chat`, oldest first),
   * for a page that just joined or rejoined: each goes where its time puts
   * it among the lines shown, and one already shown is skipped. `mine(line)`
   * and `actions(line)` as for `add`.
   */
  merge(lines, mine, actions) {
    for (const line of lines) {
      const item = this.item(line, mine(line), actions ? actions(line) : null);
      if (!item) continue;
      const later = [...this.list.querySelectorAll('li[data-at]')]
        .find((li) => Number(li.dataset.at) > line.at_ms);
      this.list.insertBefore(item, later || null);
    }
    this.trim();
  }

  /** A line from the room itself (a lot opened, the host went live). */
  system(text) {
    this.list.append(h('li', { class: 'chat-msg system' }, text));
    this.trim();
  }

  /** The element for a chat line, or null when it is already shown. */
  item(event, mine, actions) {
    // A line has no id: who, when and what tell a repeat apart.
    const key = `${event.user}\u0000${event.at_ms}\u0000${event.text}`;
    if (this.seen.has(key)) return null;
    this.seen.add(key);
    const item = h('li', {
      class: mine ? 'chat-msg mine' : 'chat-msg',
      'data-user': event.user,
      'data-at': String(event.at_ms),
    }, h('span', { class: 'chat-name' }, mine ? 'you' : event.name), ' ',
    h('span', { class: 'chat-text' }, event.text), actions ? [' ', actions] : null);
    item.chatKey = key;
    return item;
  }

  trim() {
    while (this.list.childElementCount > MAX_SHOWN) {
      const gone = this.list.firstElementChild;
      if (gone.chatKey) this.seen.delete(gone.chatKey);
      gone.remove();
    }
    this.list.scrollTop = this.list.scrollHeight;
  }
}
