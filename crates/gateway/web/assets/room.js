// The buyer's room (/r/{room}): video, chat, hearts, viewers and the pinned
// lot, all from one WebSocket (live.js). Room state comes from the join
// snapshot and then from events in seq order; personal notices become
// toasts. While the connection is down everything shown is marked stale.

import { byId, setText, toast, h } from './dom.js';
import { explain } from './errors.js';
import { money, countdown, plural, serverNow } from './format.js';
import { Live } from './live.js';
import { LotCard } from './lotcard.js';
import { Chat } from './chat.js';
import { Hearts } from './hearts.js';
import { play } from './video.js';
import { mountAccount, signIn } from './auth-ui.js';
import * as session from './session.js';

const roomId = decodeURIComponent(location.pathname.split('/')[2] || '');
const HOLD_KEY = `liveshop.hold.${roomId}`;
/** Chat lines a page loads when it joins. */
const CHAT_HISTORY = 30;

const state = {
  room: null,
  lots: new Map(), // lot id -> lot state (with `kind`)
  names: new Map(), // user id -> chat name
  hold: loadHold(), // {hold, lot, qty, expires_ms, idem} or null
  queued: new Map(), // lot id -> queue position
  entered: new Set(), // raffle lots entered
  winners: new Map(), // lot id -> winners of a closed lot
  stale: true,
  banned: false, // the host banned us (the `banned` notice)
  // The snapshot's room carries no `hls_url`; `GET /rooms/{id}` does.
  hlsUrl: null,
};

// Why chat is refused (`forbidden`): the host muted or banned us.
const MUTED = 'The host has muted you in this room, so your messages are not sent. You can still watch and send hearts.';
const BANNED = 'The host has removed you from this room. You can no longer watch it or chat here.';

const banner = byId('conn-banner');
const chat = new Chat(byId('chat-list'), byId('chat-form'), sendChat);
const hearts = new Hearts(byId('hearts'));
const card = new LotCard(byId('lot'), { bid, maxBid, buy, checkout, release, enter });
const video = byId('video');
let stopVideo = null;
let videoUrl = null;

await session.restore();
mountAccount();

const live = new Live({ status, snapshot, event, notice }, session.token);
if (!roomId) status('gone', 'not_found');
else {
  live.watch(roomId);
  fetchHlsUrl();
}

// A new sign-in needs a connection that presents the new token.
let first = true;
session.onChange(() => {
  if (!first) live.reconnectNow();
  first = false;
});

byId('heart-button').addEventListener('click', like);
byId('unmute').addEventListener('click', () => {
  video.muted = !video.muted;
  setText(byId('unmute'), video.muted ? 'Unmute' : 'Mute');
  byId('unmute').setAttribute('aria-pressed', String(!video.muted));
});

function status(s, detail) {
  state.stale = s !== 'live';
  document.body.classList.toggle('stale', state.stale);
  byId('chat-input').disabled = state.stale;
  if (s === 'live') {
    banner.hidden = true;
  } else {
    banner.hidden = false;
    const text = {
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting… what you see may be out of date.',
      gone: detail === 'forbidden' ? 'You cannot watch this room.' : 'This room does not exist.',
    }[s];
    setText(banner, text || 'Reconnecting…');
    banner.dataset.state = s;
  }
  render();
}

/**
 * The room's newest chat lines, after a join or a rejoin (snapshots carry
 * no chat): merged into what is shown, so a late viewer walks into the
 * conversation and a reconnected one gets back what it missed.
 */
async function loadChat(reset) {
  try {
    const path = `/rooms/${encodeURIComponent(roomId)}/chat?limit=${CHAT_HISTORY}`;
    const { lines } = await session.api('GET', path);
    const me = session.user() ? session.user().user_id : null;
    for (const l of lines) state.names.set(l.user, l.name);
    chat.merge(lines, (l) => l.user === me);
  } catch {
    if (reset) chat.system('Reconnected. Some chat messages may be missing.');
  }
}

function snapshot(_room, snap) {
  const reset = state.room !== null;
  state.room = snap.room;
  state.lots = new Map(snap.lots.map((l) => [l.lot, l]));
  loadChat(reset);
  document.title = `${snap.room.title} · liveshop`;
  setText(byId('room-title'), snap.room.title);
  setViewers(snap.room.viewers);
  setLive(snap.room.status === 'live');
  if (snap.room.pinned && !state.lots.has(snap.room.pinned)) fetchLot(snap.room.pinned);
  render();
}

function event(_room, ev) {
  const lot = ev.lot && state.lots.get(ev.lot);
  switch (ev.kind) {
    case 'chat':
      state.names.set(ev.user, ev.name);
      chat.add(ev, session.user() && ev.user === session.user().user_id);
      break;
    case 'hearts':
      hearts.burst(ev.count);
      break;
    case 'viewers':
      setViewers(ev.count);
      break;
    case 'live':
      state.room.status = ev.on ? 'live' : 'offline';
      setLive(ev.on);
      chat.system(ev.on ? 'The host is live.' : 'The host stopped streaming.');
      break;
    case 'pinned':
      state.room.pinned = ev.lot;
      if (!lot) fetchLot(ev.lot);
      break;
    case 'lot': {
      const next = { ...ev, kind: ev.lot_kind };
      if (lot && lot.status !== 'open' && next.status === 'open' && ev.lot === state.room.pinned) {
        chat.system(`${next.title} is open.`);
      }
      state.lots.set(ev.lot, next);
      break;
    }
    case 'bid':
      if (lot) {
        lot.high_bid = ev.amount;
        lot.high_bidder = ev.bidder;
        lot.ends_ms = ev.ends_ms;
        delete lot.min_bid; // the next one follows from the new price
      }
      break;
    case 'stock':
      if (lot) lot.available = ev.available;
      break;
    case 'lot_closed':
      state.winners.set(ev.lot, ev.winners);
      state.queued.delete(ev.lot);
      if (lot && lot.status === 'open') lot.status = 'closed';
      break;
    default:
      break;
  }
  render();
}

function notice(n) {
  const lot = n.lot && state.lots.get(n.lot);
  const title = lot ? lot.title : 'an item';
  const cur = lot ? lot.currency : 'USD';
  switch (n.kind) {
    case 'outbid':
      toast(`You were outbid on ${title}: now ${money(n.amount, cur)}.`, 'bad');
      break;
    case 'hold_expiring':
      toast(`Your hold ends in ${countdown(n.expires_ms)}. Check out now to keep it.`, 'bad', 8000);
      break;
    case 'hold_expired':
      if (state.hold && state.hold.hold === n.hold) setHold(null);
      toast('Your hold ran out and the item went back on sale.', 'bad');
      break;
    case 'queue_offer':
      state.queued.delete(n.lot);
      setHold({ hold: n.hold, lot: n.lot, qty: 1, expires_ms: n.expires_ms, idem: newKey() });
      toast(`Good news: one came back for you. Check out before ${countdown(n.expires_ms)} runs out.`, 'good', 8000);
      break;
    case 'queue_ended':
      state.queued.delete(n.lot);
      toast(n.reason === 'closed' ? `The queue for ${title} ended: the sale closed.`
        : `${title} sold out. No unit came back for you.`, 'info');
      break;
    case 'won':
      toast(`You won ${title} for ${money(n.amount, cur)}! See your orders.`, 'good', 10000);
      break;
    case 'order':
      toast(`Your order is now ${n.status}.`, 'info');
      break;
    case 'banned':
      // The node stopped sending this room to us: say so instead of
      // showing a room that silently stands still.
      if (n.room !== roomId) break;
      state.banned = true;
      chat.system(BANNED);
      setText(banner, BANNED);
      banner.hidden = false;
      break;
    default:
      break;
  }
  render();
}

function render() {
  const pinned = state.room && state.room.pinned ? state.lots.get(state.room.pinned) : null;
  byId('no-lot').hidden = !!pinned || !state.room;
  const me = session.user();
  card.show(pinned || null, pinned ? {
    me,
    names: state.names,
    hold: state.hold && state.hold.lot === pinned.lot ? state.hold : null,
    queued: state.queued.get(pinned.lot),
    entered: state.entered.has(pinned.lot),
    winners: state.winners.get(pinned.lot),
    stale: state.stale,
  } : {});
}

function setViewers(n) {
  setText(byId('viewers'), `${plural(n, 'viewer', 'viewers')}`);
}

function setLive(on) {
  const badge = byId('live-badge');
  setText(badge, on ? 'LIVE' : 'Offline');
  badge.classList.toggle('on', on);
  const url = on ? state.hlsUrl : null;
  if (url === videoUrl) return;
  if (stopVideo) stopVideo();
  stopVideo = null;
  videoUrl = url;
  const overlay = byId('video-state');
  overlay.hidden = false;
  setText(overlay, url ? 'Starting the video…' : 'The host is not streaming right now.');
  if (url) {
    stopVideo = play(video, url, (s) => {
      overlay.hidden = s === 'playing';
      if (s === 'waiting') setText(overlay, 'Buffering…');
      if (s === 'error') setText(overlay, 'The video cannot play here right now.');
      if (s === 'paused') setText(overlay, 'Tap Unmute or the video to start it.');
    });
  }
}

async function fetchHlsUrl() {
  try {
    const room = await session.api('GET', `/rooms/${encodeURIComponent(roomId)}`);
    state.hlsUrl = room.hls_url || null;
    if (state.room) setLive(state.room.status === 'live');
  } catch {
    // The join reports a missing room; without the URL there is no video.
  }
}

async function fetchLot(id) {
  try {
    const lot = await session.api('GET', `/lots/${encodeURIComponent(id)}`);
    if (!state.lots.has(id)) state.lots.set(id, lot);
    render();
  } catch {
    // The `lot` event that follows a change brings it too.
  }
}

/** Signed in, and the connection up with the token, before acting. */
async function acting(reason) {
  if (!session.user()) {
    const u = await signIn({ reason });
    if (!u) throw Object.assign(new Error('not signed in'), { code: 'unauthorized' });
  }
  await live.whenReady();
}

async function sendChat(text) {
  try {
    await acting('to chat');
    await live.request({ type: 'chat', room: roomId, text });
  } catch (err) {
    throw new Error(explain(err, {
      forbidden: state.banned ? BANNED : MUTED,
      bad_request: 'Messages are 1 to 500 characters of plain text.',
    }));
  }
}

let likes = 0;
let likeTimer = null;
async function like() {
  if (!session.user()) {
    await acting('to send hearts').catch(() => {});
    return;
  }
  hearts.one();
  likes += 1;
  // One `like` per short burst of taps, as the contract's `count` allows.
  if (likeTimer) return;
  likeTimer = setTimeout(() => {
    const count = Math.min(likes, 50);
    likes = 0;
    likeTimer = null;
    live.request({ type: 'like', room: roomId, count }).catch(() => {});
  }, 400);
}

async function bid(lot, amount) {
  await acting('to bid');
  return live.request({ type: 'bid', lot, amount });
}

async function maxBid(lot, amount) {
  await acting('to bid');
  return live.request({ type: 'max_bid', lot, amount });
}

async function buy(lot) {
  await acting('to buy');
  const reply = await live.request({ type: 'hold', lot, qty: 1 });
  if (reply.queued) {
    state.queued.set(lot, reply.position);
    render();
    return `Sold out for now: you are #${reply.position} in the queue. We will hold one for you if it comes back.`;
  }
  setHold({ hold: reply.hold, lot, qty: reply.qty, expires_ms: reply.expires_ms, idem: newKey() });
  return 'Held for you. Check out before the timer runs out.';
}

async function checkout() {
  const hold = state.hold;
  if (!hold) return 'Nothing held.';
  await acting('to check out');
  try {
    // The same idempotency key on every try: a retry after a dropped
    // connection returns the same order, never a second one.
    const reply = await live.request({ type: 'checkout', hold: hold.hold, idem: hold.idem });
    setHold(null);
    const lot = state.lots.get(hold.lot);
    toast(h('span', {}, `Order placed: ${money(reply.amount, lot ? lot.currency : 'USD')}. `,
      h('a', { href: '/orders' }, 'See your orders')), 'good', 10000);
    return 'Bought! Your order is in My orders.';
  } catch (err) {
    if (err.code === 'hold_expired' || err.code === 'not_found') setHold(null);
    throw err;
  }
}

async function release() {
  const hold = state.hold;
  if (!hold) return '';
  await acting('to release');
  await live.request({ type: 'release', hold: hold.hold }).catch((err) => {
    if (err.code !== 'not_found') throw err;
  });
  setHold(null);
  return 'Released.';
}

async function enter(lot) {
  await acting('to enter the draw');
  try {
    await live.request({ type: 'enter', lot });
  } catch (err) {
    if (err.code !== 'already_entered') throw err;
  }
  state.entered.add(lot);
  render();
  return 'You are in the draw. Winners are drawn when it closes.';
}

function setHold(hold) {
  state.hold = hold;
  if (hold) sessionStorage.setItem(HOLD_KEY, JSON.stringify(hold));
  else sessionStorage.removeItem(HOLD_KEY);
  render();
}

/** A hold kept across a reload of the page, while it lasts. */
function loadHold() {
  try {
    const hold = JSON.parse(sessionStorage.getItem(HOLD_KEY) || 'null');
    return hold && hold.expires_ms > serverNow() ? hold : null;
  } catch {
    return null;
  }
}

/** A random idempotency key (works outside secure contexts too). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
