// Money, time and names as people read them. Money on the wire is an integer
// count of minor units plus an ISO 4217 currency (docs/protocol.md); it is
// never turned into a float except to display it.

/** Digits after the decimal point of `currency` (2 for USD, 0 for JPY). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency })
      .resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** `2500, "USD"` -> "$25.00". */
export function money(minor, currency) {
  if (minor === undefined || minor === null) return '–';
  const digits = minorDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency', currency, minimumFractionDigits: digits,
    }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/**
 * What a person typed ("25", "25.5", "25,50") as minor units, or null when it
 * is not an amount. Parsed as text so 0.1 + 0.2 never happens.
 */
export function parseMoney(text, currency) {
  const digits = minorDigits(currency);
  const m = String(text).trim().replace(',', '.').match(/^(\d{1,13})(?:\.(\d*))?$/);
  if (!m) return null;
  const fraction = (m[2] || '');
  if (fraction.length > digits) return null;
  return Number(m[1]) * 10 ** digits + Number(fraction.padEnd(digits, '0') || 0);
}

/** Minor units as the plain number an input field shows ("25.00"). */
export function moneyInput(minor, currency) {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

// The auction increment ladder of docs/protocol.md ("Bid increments"), in
// major units: from a price of `from`, the next bid is `step` higher. The
// server has the last word (a `bid_too_low` carries `min_amount`); this only
// saves a round trip for the one-tap bid after each `bid` event.
const LADDER = [[2000, 50], [1000, 20], [300, 10], [100, 5], [50, 3], [30, 2], [0, 1]];

/** The lowest bid that beats `price` (minor units) on the ladder. */
export function nextBid(price, currency) {
  const unit = 10 ** minorDigits(currency);
  const [, step] = LADDER.find(([from]) => price >= from * unit);
  return price + step * unit;
}

// The server's clock, estimated from the Date header of HTTP answers, so a
// countdown to `ends_ms` is right even when this device's clock is off. The
// header has a resolution of one second, so offsets under two seconds are
// ignored as noise.
let offsetMs = 0;

/** Notes a response's Date header, the request taking from `t0` to `t1`. */
export function noteServerDate(header, t0, t1) {
  const server = Date.parse(header || '');
  if (Number.isNaN(server)) return;
  const estimate = server + 500 - (t0 + t1) / 2;
  offsetMs = Math.abs(estimate) < 2000 ? 0 : estimate;
}

/** Now on the server's clock, ms since the epoch. */
export function serverNow() {
  return Date.now() + offsetMs;
}

/** Time left until `ms` as "4:05" or "1:02:03"; "0:00" once past. */
export function countdown(ms) {
  const left = Math.max(0, Math.ceil((ms - serverNow()) / 1000));
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = String(left % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Seconds left until `ms` (0 once past). */
export function secondsLeft(ms) {
  return Math.max(0, Math.ceil((ms - serverNow()) / 1000));
}

/** A date and time in the reader's locale. */
export function dateTime(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * How to call user `id`: "you", their chat name when they chatted, or a short
 * form of the opaque id (ids carry no name; the contract has no user lookup).
 */
export function who(id, me, names) {
  if (!id) return 'nobody';
  if (me && id === me.user_id) return 'you';
  const name = names && names.get(id);
  return name || `bidder …${String(id).slice(-4).toLowerCase()}`;
}

/** "1 viewer", "12 viewers". */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
