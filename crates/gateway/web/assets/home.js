// The home page (/): rooms live now, most viewers first (`GET
// /rooms?status=live`), refreshed every few seconds, and sign-in.

import { byId, fill, h, setText } from './dom.js';
import { explain } from './errors.js';
import { plural } from './format.js';
import { mountAccount } from './auth-ui.js';
import * as session from './session.js';

const REFRESH_MS = 10000;

await session.restore();
mountAccount();

const list = byId('rooms');
const note = byId('rooms-state');

async function load() {
  try {
    const { rooms } = await session.api('GET', '/rooms?status=live');
    // The node sorts by viewers; sorting again keeps the promise here.
    rooms.sort((a, b) => b.viewers - a.viewers);
    fill(list, ...rooms.map((r) => h('li', { class: 'room-item' },
      h('a', { href: `/r/${encodeURIComponent(r.room_id)}`, class: 'room-link' },
        h('span', { class: 'badge live-badge on' }, 'LIVE'),
        h('span', { class: 'room-name' }, r.title),
        h('span', { class: 'room-host' }, `host …${String(r.host).slice(-4).toLowerCase()}`),
        h('span', { class: 'viewers' }, plural(r.viewers, 'viewer', 'viewers'))))));
    setText(note, rooms.length ? '' : 'Nobody is live right now. Check back soon.');
  } catch (err) {
    setText(note, explain(err));
  }
}

byId('rooms-refresh').addEventListener('click', load);
byId('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const room = e.target.room.value.trim();
  if (room) location.href = `/r/${encodeURIComponent(room)}`;
});
load();
setInterval(() => {
  if (!document.hidden) load();
}, REFRESH_MS);
