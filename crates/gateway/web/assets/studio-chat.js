// The room's chat in the seller console, with moderation. The host can
// chat too; next to each buyer's line are "Mute"/"Unmute" and
// "Ban"/"Unban" (the `moderate` request, docs/protocol.md "Chat
// moderation"). The contract publishes no moderation event and has no list
// of who is muted or banned, so the buttons show what this browser did in
// the room: remembered for the tab's session (sessionStorage), per room.

import { Chat } from './chat.js';
import { h, toast } from './dom.js';
import { explain } from './errors.js';

const STORE_PREFIX = 'liveshop.moderation.';

const DONE = {
  mute: (n) => `${n} is muted: their messages are no longer sent. Hearts still count.`,
  unmute: (n) => `${n} can chat again.`,
  ban: (n) => `${n} is banned: they left the room and cannot come back.`,
  unban: (n) => `${n} is no longer banned and may join again.`,
};

export class StudioChat {
  /**
   * `list`, `form`: the chat list and its form (see chat.js).
   * `send(text)`: sends a chat line; `moderate(user, action)`: sends a
   * `moderate` request; both resolve once the node took it.
   * `me()`: the signed-in user's id.
   */
  constructor({ list, form, send, moderate, me }) {
    this.moderate = moderate;
    this.me = me;
    this.room = null;
    this.flags = new Map(); // user id -> {muted, banned}
    this.names = new Map(); // user id -> chat name
    this.chat = new Chat(list, form, async (text) => {
      try {
        await send(text);
      } catch (err) {
        throw new Error(explain(err, { bad_request: 'Messages are 1 to 500 characters of plain text.' }));
      }
    });
  }

  /** Shows `room`'s chat from now on (its history comes with `merge`). */
  show(room) {
    this.room = room;
    this.chat.clear();
    this.flags = new Map();
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE_PREFIX + room) || '{}');
      for (const [user, f] of Object.entries(saved)) this.flags.set(user, f);
    } catch {
      // Unreadable or unavailable storage: start with nothing known.
    }
    this.chat.system('Chat messages appear here as they are sent.');
  }

  /** The room's recent lines (`GET /rooms/{room}/chat`), with their buttons. */
  merge(room, lines) {
    if (room !== this.room) return;
    for (const l of lines) this.names.set(l.user, l.name);
    const me = this.me();
    this.chat.merge(lines, (l) => l.user === me, (l) => (l.user === me ? null : this.actions(l.user)));
  }

  /** A `chat` room event. */
  add(ev) {
    this.names.set(ev.user, ev.name);
    const mine = ev.user === this.me();
    this.chat.add(ev, mine, mine ? null : this.actions(ev.user));
  }

  system(text) {
    this.chat.system(text);
  }

  /** The moderation buttons for `user`'s lines, as far as this tab knows. */
  actions(user) {
    const f = this.flags.get(user) || {};
    const name = this.names.get(user) || 'this user';
    const button = (action, label) => h('button', {
      type: 'button',
      class: 'chip chat-action',
      'data-action': action,
      'aria-label': `${label} ${name}`,
      onclick: () => this.act(user, action),
    }, label);
    return h('span', { class: 'chat-actions' },
      f.muted ? button('unmute', 'Unmute') : button('mute', 'Mute'),
      f.banned ? button('unban', 'Unban') : button('ban', 'Ban'));
  }

  async act(user, action) {
    const name = this.names.get(user) || 'This user';
    if (action === 'ban') {
      // eslint-disable-next-line no-alert -- a native, keyboard-friendly confirmation
      const sure = window.confirm(`Ban ${name} from this room? They stop seeing it at once and cannot `
        + 'join, chat or send hearts until you unban them.');
      if (!sure) return;
    }
    try {
      await this.moderate(user, action);
    } catch (err) {
      toast(explain(err, {
        forbidden: 'Only the room\'s host can mute or ban people here.',
        not_found: 'That person or room does not exist any more.',
        bad_request: 'You cannot mute or ban yourself.',
      }), 'bad');
      return;
    }
    const f = { ...(this.flags.get(user) || {}) };
    if (action === 'mute' || action === 'unmute') f.muted = action === 'mute';
    else f.banned = action === 'ban';
    this.flags.set(user, f);
    this.save();
    this.refresh(user);
    toast(DONE[action](name), 'good');
  }

  /** Replaces the buttons on `user`'s lines, keeping keyboard focus on them. */
  refresh(user) {
    const active = document.activeElement;
    for (const line of this.chat.list.querySelectorAll(`li[data-user="${CSS.escape(user)}"]`)) {
      const old = line.querySelector('.chat-actions');
      if (!old) continue;
      const fresh = this.actions(user);
      const slot = [...old.children].indexOf(active);
      old.replaceWith(fresh);
      if (slot >= 0) fresh.children[slot].focus();
    }
  }

  save() {
    if (!this.room) return;
    try {
      sessionStorage.setItem(STORE_PREFIX + this.room, JSON.stringify(Object.fromEntries(this.flags)));
    } catch {
      // Storage full or disabled: the buttons still work for this page.
    }
  }
}
