// The WebSocket side of the contract (`GET /ws`, JSON subprotocol): requests
// with a `rid` and their one reply, room events in `seq` order, personal
// notices. A dropped connection is reopened with exponential backoff and
// jitter (so a node restart is not met by every viewer at the same instant),
// and each watched room is joined again with `since` = the last seq seen:
// the node replays what was missed, or answers a fresh snapshot with
// `reset`. While it is down, the pages are told (`status`), so they can
// mark what they show as stale instead of passing it off as live.

import { ShopError } from './errors.js';

const REQUEST_TIMEOUT_MS = 10000;
/** A ping this often finds a dead connection the browser has not noticed. */
const PING_EVERY_MS = 25000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
/** How many connection steps `window.liveshopTrace` keeps. */
const TRACE_KEPT = 60;

/**
 * The page's last connection steps (opened, joined, reset, gap, closed...),
 * newest last: for support and for the browser tests to print when a page
 * does not show what it should. Holds no tokens and no message text.
 */
function trace(step) {
  const steps = (window.liveshopTrace ||= []);
  steps.push(`${new Date().toISOString().slice(11, 23)} ${step}`);
  if (steps.length > TRACE_KEPT) steps.shift();
}

/**
 * One connection to the node for a page. `handlers`:
 * - `status(state)`: `connecting`, `live`, `reconnecting`, or `gone` (the
 *   room cannot be watched; `detail` is the error code).
 * - `snapshot(room, snapshot)`: the state of a watched room (on join, and
 *   on a `reset`); replace everything known about it.
 * - `event(room, event, seq)`: the next room event, in order, exactly once.
 * - `notice(notice)`: a personal notice.
 * `token()`: a promise of the access token to present, or null.
 */
export class Live {
  constructor(handlers, token) {
    this.handlers = handlers;
    this.token = token;
    this.rooms = new Map(); // room id -> last seq seen (0 before the first snapshot)
    this.pending = new Map(); // rid -> {resolve, reject, timer}
    this.nextRid = 1;
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.ready = false;
    this.stopped = false;
    window.addEventListener('online', () => {
      if (!this.ready) this.reconnectNow();
    });
  }

  /** Starts following `room` (joining it now when connected). */
  watch(room) {
    if (!this.rooms.has(room)) this.rooms.set(room, 0);
    if (!this.socket) this.connect();
    else if (this.ready) this.join(room);
  }

  /** Resolves once the connection is up and every room joined (rejects after `ms`). */
  whenReady(ms = REQUEST_TIMEOUT_MS) {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = setInterval(() => {
        if (this.ready) {
          clearInterval(check);
          resolve();
        } else if (Date.now() - started > ms) {
          clearInterval(check);
          reject(new ShopError('network'));
        }
      }, 50);
    });
  }

  /** Stops following `room`. */
  unwatch(room) {
    this.rooms.delete(room);
    if (this.ready) this.request({ type: 'leave', room }).catch(() => {});
  }

  /** Opens the connection now if it is waiting to retry (e.g. after sign-in). */
  reconnectNow() {
    if (this.stopped) return;
    // Nothing may go out on the old connection from here on: `whenReady`
    // waits for the new one (a request right after sign-in must carry the
    // new identity).
    this.ready = false;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) {
      this.socket.close(4000, 'reconnect');
      return;
    }
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /**
   * Sends `msg` and resolves with its `ok` reply, or rejects with a
   * ShopError (the `error` reply's code and fields, `network` when the
   * connection is down or drops, `timeout`).
   */
  request(msg) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ShopError('network'));
    }
    const rid = `r${this.nextRid++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new ShopError('timeout'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(rid, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ ...msg, rid }));
    });
  }

  async connect() {
    if (this.stopped) return;
    this.ready = false;
    this.status(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let socket;
    try {
      socket = new WebSocket(`${scheme}://${location.host}/ws`, 'liveshop.v1.json');
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    trace(`connect attempt ${this.attempt}`);
    socket.onmessage = (e) => this.receive(e.data);
    socket.onclose = (e) => {
      trace(`closed ${e.code} ${e.reason}${this.socket === socket ? '' : ' (old)'}`);
      if (this.socket !== socket) return;
      this.socket = null;
      this.dropped();
    };
    socket.onopen = () => this.opened(socket);
  }

  async opened(socket) {
    trace('opened');
    try {
      const t = await this.token();
      if (t) await this.request({ type: 'auth', token: t });
    } catch (err) {
      trace(`auth failed: ${err.code}`);
      // No answer (or no token, the refresh unreachable): start over on a
      // new connection, never sit on this one unjoined. An expired or
      // refused token: watch anonymously rather than not at all.
      if (err.code === 'network' || err.code === 'timeout') {
        if (this.socket === socket) socket.close(4000, 'auth failed');
        return;
      }
    }
    if (this.socket !== socket) return;
    const joins = [...this.rooms.keys()].map((room) => this.join(room));
    await Promise.allSettled(joins);
    if (this.socket !== socket) return;
    this.attempt = 0;
    this.ready = true;
    trace('ready');
    this.status('live');
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      this.request({ type: 'ping' }).catch(() => socket.close(4000, 'no pong'));
    }, PING_EVERY_MS);
  }

  async join(room) {
    const since = this.rooms.get(room);
    try {
      const reply = await this.request(since ? { type: 'join', room, since } : { type: 'join', room });
      trace(`joined ${room} since ${since}: ${reply.snapshot ? `snapshot ${reply.snapshot.seq}` : 'replay'}`);
      // With `since` and nothing lost, the reply has no snapshot: the
      // missed events follow it.
      if (reply.snapshot) this.applySnapshot(room, reply.snapshot);
    } catch (err) {
      trace(`join ${room} failed: ${err.code}`);
      if (err.code === 'not_found' || err.code === 'forbidden') {
        this.rooms.delete(room);
        this.status('gone', err.code, room);
      } else if (this.socket) {
        this.socket.close(4000, 'join failed');
      }
    }
  }

  applySnapshot(room, snapshot) {
    if (!this.rooms.has(room)) return;
    this.rooms.set(room, snapshot.seq);
    this.handlers.snapshot(room, snapshot);
  }

  receive(data) {
    if (typeof data !== 'string') return;
    for (const line of data.split('\n')) {
      if (!line.trim()) continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      this.dispatch(msg);
    }
  }

  dispatch(msg) {
    if ((msg.type === 'ok' || msg.type === 'error') && msg.rid && this.pending.has(msg.rid)) {
      const p = this.pending.get(msg.rid);
      this.pending.delete(msg.rid);
      clearTimeout(p.timer);
      if (msg.type === 'ok') p.resolve(msg);
      else p.reject(new ShopError(msg.code, { min_amount: msg.min_amount }));
    } else if (msg.type === 'ok' && !msg.rid && msg.snapshot) {
      // A resynchronisation after `lagged`.
      trace(`resync ${msg.snapshot.room.room_id}: snapshot ${msg.snapshot.seq}`);
      this.applySnapshot(msg.snapshot.room.room_id, msg.snapshot);
    } else if (msg.type === 'event') {
      const last = this.rooms.get(msg.room);
      if (last === undefined || msg.seq <= last) return; // not watched, or seen
      if (last > 0 && msg.seq !== last + 1) {
        // A gap breaks the contract's promise; rejoining repairs it.
        trace(`gap in ${msg.room}: ${last} then ${msg.seq}`);
        if (this.socket) this.socket.close(4000, 'gap');
        return;
      }
      this.rooms.set(msg.room, msg.seq);
      trace(`event ${msg.seq} ${msg.event.kind}`);
      this.handlers.event(msg.room, msg.event, msg.seq);
    } else if (msg.type === 'notice' && msg.notice && msg.notice.kind === 'lagged') {
      trace('lagged');
    } else if (msg.type === 'notice' && msg.notice) {
      this.handlers.notice(msg.notice);
    }
  }

  dropped() {
    clearInterval(this.pingTimer);
    this.ready = false;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ShopError('network'));
    }
    this.pending.clear();
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    this.status('reconnecting');
    // Full jitter over an exponentially growing window.
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.attempt = Math.min(this.attempt + 1, 10);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  status(state, detail, room) {
    if (this.handlers.status) this.handlers.status(state, detail, room);
  }
}
