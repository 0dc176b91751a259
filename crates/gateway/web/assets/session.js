// Who is signed in, and the HTTP API (`/api/v1`, docs/protocol.md).
//
// The access token lives in memory only; the refresh token, the user id and
// the name typed at sign-in live in sessionStorage (this tab, until it
// closes), so a page load or a link to another page restores the session
// with one `POST /auth/refresh`. Refresh tokens rotate: every refresh stores
// the new one at once. The access token is renewed silently a minute before
// it expires.

import { ShopError } from './errors.js';
import { noteServerDate } from './format.js';

const STORE_KEY = 'liveshop.session';
const REQUEST_TIMEOUT_MS = 15000;
/** Renew this long before the access token expires. */
const RENEW_EARLY_MS = 60000;

let access = null; // { token, expiresAt }
let current = null; // { user_id, name, role? }
let renewTimer = null;
let refreshing = null; // the refresh in flight, shared by every caller
const listeners = new Set();

/** The signed-in user (`{user_id, name, role?}`) or null. */
export function user() {
  return current;
}

/** Calls `fn(user)` now and whenever someone signs in or out. */
export function onChange(fn) {
  listeners.add(fn);
  fn(current);
  return () => listeners.delete(fn);
}

function changed() {
  for (const fn of listeners) fn(current);
}

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
  } catch {
    return null;
  }
}

function save(refreshToken) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ refresh_token: refreshToken, ...current }));
}

/** Takes an auth reply (`{user_id, access_token, refresh_token, expires_in}`). */
function adopt(reply, name, role) {
  const before = current && current.user_id;
  current = { user_id: reply.user_id, name, ...(role ? { role } : {}) };
  access = { token: reply.access_token, expiresAt: Date.now() + reply.expires_in * 1000 };
  save(reply.refresh_token);
  clearTimeout(renewTimer);
  const wait = Math.max(5000, reply.expires_in * 1000 - RENEW_EARLY_MS);
  renewTimer = setTimeout(() => refresh().catch(() => {}), wait);
  if (before !== current.user_id) changed();
}

/** Restores the tab's session, if it has one. Never throws. */
export async function restore() {
  const s = saved();
  if (!s || !s.refresh_token) return null;
  current = { user_id: s.user_id, name: s.name, ...(s.role ? { role: s.role } : {}) };
  try {
    await refresh();
  } catch {
    // `refresh` signed out if the session is gone; a network failure keeps
    // the stored token for the next try.
  }
  return current;
}

/**
 * A new access token from the stored refresh token. A refused refresh
 * (expired, revoked family) signs out; a network failure retries later.
 */
export function refresh() {
  if (refreshing) return refreshing;
  const s = saved();
  if (!s || !s.refresh_token) return Promise.reject(new ShopError('unauthorized'));
  refreshing = call('POST', '/auth/refresh', { refresh_token: s.refresh_token })
    .then((reply) => {
      adopt(reply, s.name, s.role);
      return current;
    })
    .catch((err) => {
      if (err.code === 'unauthorized' || err.code === 'bad_request') {
        logout();
      } else {
        clearTimeout(renewTimer);
        renewTimer = setTimeout(() => refresh().catch(() => {}), 10000);
      }
      throw err;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function login(username, password) {
  const reply = await call('POST', '/auth/login', { username, password });
  adopt(reply, username, null);
  return current;
}

export async function register(username, password, role) {
  const reply = await call('POST', '/auth/register', { username, password, role });
  adopt(reply, username, role);
  return current;
}

export function logout() {
  const was = current;
  access = null;
  current = null;
  clearTimeout(renewTimer);
  sessionStorage.removeItem(STORE_KEY);
  if (was) changed();
}

/** An access token good for at least a while, renewed first if needed; null when signed out. */
export async function token() {
  if (!current) return null;
  if (!access || access.expiresAt - Date.now() < 30000) {
    try {
      await refresh();
    } catch {
      return null;
    }
  }
  return access ? access.token : null;
}

/**
 * `fetch` of `/api/v1{path}` with JSON in and out; the contract's errors
 * become ShopErrors. With `auth`, sends the access token and, if the node
 * answers `unauthorized`, renews it once and tries again.
 */
export async function api(method, path, body, { auth = false } = {}) {
  if (!auth) return call(method, path, body);
  const t = await token();
  if (!t) throw new ShopError('unauthorized');
  try {
    return await call(method, path, body, t);
  } catch (err) {
    if (err.code !== 'unauthorized') throw err;
    await refresh();
    return call(method, path, body, access && access.token);
  }
}

async function call(method, path, body, bearer) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const t0 = Date.now();
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method, headers, signal: controller.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ShopError(err && err.name === 'AbortError' ? 'timeout' : 'network');
  } finally {
    clearTimeout(timer);
  }
  noteServerDate(response.headers.get('date'), t0, Date.now());
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data && data.error && typeof data.error.code === 'string'
      ? data.error.code : (response.status >= 500 ? 'unavailable' : 'bad_request');
    throw new ShopError(code, { status: response.status });
  }
  return data;
}
