// The seller console (/studio): the host's rooms (`GET /rooms` filtered by
// host), creating one, its RTMP URL and stream key (shown only when the
// node hands them out: at creation and on `POST /rooms/{id}/stream_key`),
// the encoder's state (`live` events), lots (create, pin, open, close),
// bids and stock as they arrive, viewers, the seller's orders, and the
// room's chat with moderation (studio-chat.js).

import { byId, fill, h, setText, copy, toast } from './dom.js';
import { explain } from './errors.js';
import { money, plural, who } from './format.js';
import { Live } from './live.js';
import { mountAccount, signIn } from './auth-ui.js';
import { renderLots, mountLotForm } from './studio-lots.js';
import { StudioChat } from './studio-chat.js';
import { ordersTable, lotTitles } from './order-table.js';
import * as session from './session.js';

const MAX_ACTIVITY = 100;
/** Chat lines the studio loads when it joins a room. */
const CHAT_HISTORY = 50;
/** Orders the studio lists: the room's newest. */
const ORDERS_SHOWN = 100;

const state = {
  room: null, // the selected room id
  view: null, // its RoomView from the snapshot
  lots: new Map(),
  names: new Map(),
  keys: new Map(), // room id -> {stream_key, rtmp_url}, as handed out this visit
  titles: new Map(), // lot id -> title, for the orders table
};

await session.restore();
mountAccount();

const banner = byId('conn-banner');
const select = byId('room-select');
const live = new Live({ status, snapshot, event, notice: () => {} }, session.token);
const chat = new StudioChat({
  list: byId('studio-chat-list'),
  form: byId('studio-chat-form'),
  send: async (text) => {
    await live.whenReady();
    await live.request({ type: 'chat', room: state.room, text });
  },
  moderate: async (user, action) => {
    await live.whenReady();
    await live.request({ type: 'moderate', room: state.room, user, action });
  },
  me: () => (session.user() ? session.user().user_id : null),
});

byId('studio-login').addEventListener('click', () => signIn({ reason: 'to host a room', role: 'seller' }));
byId('room-form').addEventListener('submit', createRoom);
select.addEventListener('change', () => choose(select.value));
byId('rotate-key').addEventListener('click', rotateKey);
byId('copy-rtmp').addEventListener('click', () => copy(byId('rtmp-url').textContent, 'RTMP URL'));
byId('copy-key').addEventListener('click', () => copy(byId('stream-key').textContent, 'Stream key'));
byId('orders-refresh').addEventListener('click', loadOrders);
mountLotForm(byId('lot-form-slot'), async (body) => {
  const lot = await session.api('POST', `/rooms/${encodeURIComponent(state.room)}/lots`, body, { auth: true });
  // The `lot` event brings it too; showing it now saves a wait.
  state.lots.set(lot.lot_id, { ...lot, lot: lot.lot_id });
  renderAll();
  toast(`Lot "${body.title}" created. Pin it and open it when you are ready.`, 'good');
});

let signedIn; // undefined until the first call, so that call always renders
session.onChange((u) => {
  const id = u ? u.user_id : null;
  if (id === signedIn) return;
  signedIn = id;
  byId('signed-out').hidden = !!u;
  byId('studio-body').hidden = !u;
  if (u) {
    loadRooms();
    live.reconnectNow();
  }
});
setInterval(() => {
  if (!document.hidden && state.room) loadOrders();
}, 10000);

async function loadRooms(selected) {
  try {
    const { rooms } = await session.api('GET', '/rooms');
    const mine = rooms.filter((r) => r.host === session.user().user_id);
    fill(select, h('option', { value: '' }, mine.length ? 'Choose a room…' : 'No rooms yet'),
      ...mine.map((r) => h('option', { value: r.room_id }, `${r.title}${r.status === 'live' ? ' (live)' : ''}`)));
    // A seller without a room starts by making one.
    if (!mine.length) byId('new-room').open = true;
    const pick = selected || state.room || (mine.length === 1 ? mine[0].room_id : '');
    if (pick) {
      select.value = pick;
      choose(pick);
    }
  } catch (err) {
    toast(explain(err), 'bad');
  }
}

async function createRoom(e) {
  e.preventDefault();
  const form = e.target;
  const error = form.querySelector('.form-error');
  setText(error, '');
  const title = form.title.value.trim();
  if (!title) {
    setText(error, 'Give the room a title.');
    return;
  }
  const body = { title };
  if (form.description.value.trim()) body.description = form.description.value.trim();
  try {
    const created = await session.api('POST', '/rooms', body, { auth: true });
    state.keys.set(created.room_id, { stream_key: created.stream_key, rtmp_url: created.rtmp_url });
    form.reset();
    byId('new-room').open = false;
    await loadRooms(created.room_id);
    toast('Room created. Start your encoder with the key below.', 'good');
  } catch (err) {
    setText(error, explain(err, {
      forbidden: 'This is a buyer account. Sign up as a seller to host rooms.',
      bad_request: 'Titles are 1 to 200 characters of plain text.',
    }));
  }
}

function choose(room) {
  if (!room || room === state.room) return;
  if (state.room) live.unwatch(state.room);
  state.room = room;
  state.view = null;
  state.lots = new Map();
  fill(byId('activity'));
  chat.show(room);
  byId('console').hidden = false;
  byId('room-link').href = `/r/${encodeURIComponent(room)}`;
  showKey();
  live.watch(room);
  loadOrders();
}

function showKey() {
  const key = state.keys.get(state.room);
  setText(byId('rtmp-url'), key ? key.rtmp_url : '–');
  setText(byId('stream-key'), key ? key.stream_key : 'hidden');
  byId('copy-rtmp').disabled = !key;
  byId('copy-key').disabled = !key;
  setText(byId('key-note'), key ? 'Anyone with this key can stream into your room: keep it private.'
    : 'The key is shown only when the room is created or the key is renewed. Renew it to see a new one.');
}

async function rotateKey() {
  if (!state.room) return;
  // eslint-disable-next-line no-alert -- a native, keyboard-friendly confirmation
  if (!window.confirm('Make a new stream key? The old one will not start a stream any more.')) return;
  try {
    const reply = await session.api('POST', `/rooms/${encodeURIComponent(state.room)}/stream_key`,
      undefined, { auth: true });
    state.keys.set(state.room, reply);
    showKey();
    toast('New stream key ready. Update your encoder.', 'good');
  } catch (err) {
    toast(explain(err, { forbidden: 'Only the room\'s host can renew its key.' }), 'bad');
  }
}

function status(s, detail) {
  document.body.classList.toggle('stale', s !== 'live');
  banner.hidden = s === 'live';
  setText(banner, s === 'gone' ? explain({ code: detail }) : s === 'connecting' ? 'Connecting…'
    : 'Reconnecting… what you see may be out of date.');
}

/** The room's newest chat lines, after a join or a rejoin (see room.js). */
async function loadChat(room, reset) {
  try {
    const path = `/rooms/${encodeURIComponent(room)}/chat?limit=${CHAT_HISTORY}`;
    const { lines } = await session.api('GET', path);
    chat.merge(room, lines);
  } catch {
    if (reset && room === state.room) chat.system('Reconnected. Some chat messages may be missing.');
  }
}

function snapshot(room, snap) {
  if (room !== state.room) return;
  loadChat(room, snap.reset);
  state.view = snap.room;
  state.lots = new Map(snap.lots.map((l) => [l.lot, l]));
  setEncoder(snap.room.status === 'live');
  setText(byId('studio-viewers'), plural(snap.room.viewers, 'viewer', 'viewers'));
  renderAll();
}

function event(room, ev) {
  if (room !== state.room || !state.view) return;
  const lot = ev.lot && state.lots.get(ev.lot);
  const title = lot ? lot.title : 'a lot';
  switch (ev.kind) {
    case 'live':
      setEncoder(ev.on);
      log(ev.on ? 'Your encoder is live.' : 'Your encoder stopped.');
      break;
    case 'viewers':
      setText(byId('studio-viewers'), plural(ev.count, 'viewer', 'viewers'));
      break;
    case 'pinned':
      state.view.pinned = ev.lot;
      break;
    case 'lot':
      state.lots.set(ev.lot, { ...ev, kind: ev.lot_kind });
      break;
    case 'bid':
      if (lot) Object.assign(lot, { high_bid: ev.amount, high_bidder: ev.bidder, ends_ms: ev.ends_ms });
      log(`Bid ${money(ev.amount, lot ? lot.currency : 'USD')} on ${title} by ${who(ev.bidder, null, state.names)}.`, 'bid');
      break;
    case 'stock':
      if (lot) lot.available = ev.available;
      log(`${title}: ${ev.available} available (held or sold: ${lot ? lot.stock - ev.available : '?'}).`, 'stock', ev.lot);
      break;
    case 'lot_closed':
      log(`${title} closed: ${plural(ev.winners.length, 'buyer', 'buyers')}.`, 'closed');
      loadOrders();
      break;
    case 'chat':
      state.names.set(ev.user, ev.name);
      chat.add(ev);
      break;
    default:
      break;
  }
  renderAll();
}

function setEncoder(on) {
  const badge = byId('encoder');
  setText(badge, on ? 'Encoder LIVE' : 'Encoder offline');
  badge.classList.toggle('on', on);
}

/** An activity line; `stock` lines of one lot replace each other. */
function log(text, kind = 'info', key) {
  const list = byId('activity');
  const id = key ? `${kind}-${key}` : null;
  const old = id && list.querySelector(`[data-key="${CSS.escape(id)}"]`);
  if (old) old.remove();
  const item = h('li', { class: `activity-${kind}`, ...(id ? { 'data-key': id } : {}) },
    h('time', {}, new Date().toLocaleTimeString()), ' ', text);
  list.prepend(item);
  while (list.childElementCount > MAX_ACTIVITY) list.lastElementChild.remove();
}

function renderAll() {
  renderLots(byId('lot-list'), state.lots, state.view && state.view.pinned, act);
}

async function act(action, lot) {
  await live.whenReady();
  if (action === 'pin') await live.request({ type: 'pin', room: state.room, lot });
  if (action === 'open') await live.request({ type: 'open_lot', lot });
  if (action === 'close') await live.request({ type: 'close_lot', lot });
}

async function loadOrders() {
  if (!state.room || !session.user()) return;
  try {
    // This room's newest orders only: a busy seller has thousands.
    const query = `room=${encodeURIComponent(state.room)}&limit=${ORDERS_SHOWN}`;
    const { orders: here } = await session.api('GET', `/seller/orders?${query}`, undefined, { auth: true });
    for (const [id, lot] of state.lots) state.titles.set(id, lot.title);
    await lotTitles(here.map((o) => o.lot), state.titles);
    const more = here.length === ORDERS_SHOWN
      ? h('p', { class: 'muted' }, `The newest ${ORDERS_SHOWN} orders.`) : null;
    fill(byId('seller-orders'), here.length ? [ordersTable(here, state.titles, { seller: true }), more]
      : h('p', { class: 'muted' }, 'No orders in this room yet.'));
  } catch (err) {
    fill(byId('seller-orders'), h('p', { class: 'form-error' }, explain(err, {
      forbidden: 'Only seller accounts have orders to fulfil.',
    })));
  }
}
