// The contract's error codes (docs/protocol.md) as plain sentences. No page
// shows a raw error object, a server message or a stack trace: whatever
// fails is shown through `sentence`.

const SENTENCES = {
  bad_request: 'That did not look right. Please check and try again.',
  unauthorized: 'Please log in first.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'That does not exist any more.',
  rate_limited: 'That was a lot at once. Wait a moment and try again.',
  lot_not_open: 'This item is not open right now.',
  bid_too_low: 'Someone bid more already. Try a higher bid.',
  sold_out: 'Sold out.',
  limit_exceeded: 'You have reached the limit for this item.',
  hold_expired: 'Your hold ran out and the item went back on sale.',
  already_entered: 'You are already in this draw.',
  bad_state: 'That cannot be done at this stage.',
  conflict: 'That name is taken. Try another one.',
  payload_too_large: 'That is too long.',
  internal: 'Something went wrong on our side. Please try again.',
  unavailable: 'The shop is busy right now. Please try again in a moment.',
  // Not server codes: what the client itself runs into.
  network: 'Lost connection. Check your network; we keep trying.',
  timeout: 'The shop did not answer in time. Please try again.',
};

/** An error the pages can show: a contract `code` and extra fields. */
export class ShopError extends Error {
  constructor(code, extra = {}) {
    super(sentence(code));
    this.code = code;
    Object.assign(this, extra);
  }
}

/**
 * The sentence for `code`; `overrides` maps codes to sentences that fit the
 * situation better (a wrong password is `unauthorized` too).
 */
export function sentence(code, overrides = {}) {
  return overrides[code] || SENTENCES[code] || 'Something went wrong. Please try again.';
}

/** The sentence for whatever was thrown (a ShopError or anything else). */
export function explain(err, overrides = {}) {
  if (err && typeof err.code === 'string') return sentence(err.code, overrides);
  return sentence('internal', overrides);
}
