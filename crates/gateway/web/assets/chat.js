// The chat overlay: the last messages over the video and an input. Messages
// come from `chat` room events; the list keeps only the last MAX_SHOWN.

import { h, setText } from './dom.js';

const MAX_SHOWN = 50;

export class Chat {
  /**
   * `list`: the message list element; `form`: the form with an input named
   * `text`; `send(text)`: a promise that resolves once the node took it.
   */
  constructor(list, form, send) {
    this.list = list;
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

  /** Replaces the list (a snapshot has no chat history: start empty). */
  clear() {
    this.list.replaceChildren();
  }

  /**
   * A message; `actions` (optional) is an element shown after it, such as
   * the studio's moderation buttons. The line carries its sender's id
   * (`data-user`) so those can be found again.
   */
  add(event, mine, actions) {
    const item = h('li', { class: mine ? 'chat-msg mine' : 'chat-msg', 'data-user': event.user },
      h('span', { class: 'chat-name' }, mine ? 'you' : event.name), ' ',
      h('span', { class: 'chat-text' }, event.text), actions ? [' ', actions] : null);
    this.list.append(item);
    while (this.list.childElementCount > MAX_SHOWN) this.list.firstElementChild.remove();
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** A line from the room itself (a lot opened, the host went live). */
  system(text) {
    this.list.append(h('li', { class: 'chat-msg system' }, text));
    while (this.list.childElementCount > MAX_SHOWN) this.list.firstElementChild.remove();
    this.list.scrollTop = this.list.scrollHeight;
  }
}
