// The studio's lots: the list with Pin / Open / Close per lot, and the form
// that creates one (`POST /rooms/{room}/lots` with the contract's fields).
// Amounts are typed in major units ("25.00") and sent as minor units;
// durations are typed in seconds and sent as milliseconds.

import { h, fill, setText } from './dom.js';
import { explain } from './errors.js';
import { money, parseMoney, countdown } from './format.js';

const STATUS = { draft: 'Draft', open: 'Open', closed: 'Closed', settled: 'Settled' };
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'];

/**
 * Renders `lots` (lot states) into `list`, the `pinned` one marked.
 * `act(kind, lot)` runs `pin`, `open` or `close` and returns a promise.
 */
export function renderLots(list, lots, pinned, act) {
  const items = [...lots.values()].map((lot) => {
    const kind = lot.kind || lot.lot_kind;
    const isPinned = lot.lot === pinned;
    const note = h('span', { class: 'lot-note', role: 'status' });
    const button = (label, action, enabled) => h('button', {
      type: 'button', class: 'chip', disabled: !enabled, 'data-action': action,
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await act(action, lot.lot);
          setText(note, '');
        } catch (err) {
          setText(note, explain(err, {
            forbidden: 'Only the room\'s host can do that.',
            bad_state: action === 'open' ? 'It is not a draft any more.' : 'It is not open.',
          }));
          e.target.disabled = false;
        }
      },
    }, label);
    return h('li', { class: isPinned ? 'lot-row pinned' : 'lot-row', 'data-lot': lot.lot },
      h('div', { class: 'lot-row-main' },
        h('strong', {}, lot.title), ' ',
        h('span', { class: 'badge' }, kind === 'auction' ? 'Auction'
          : lot.allocation === 'raffle' ? 'Raffle' : 'Sale'), ' ',
        h('span', { class: `status status-${lot.status}` }, STATUS[lot.status] || lot.status),
        isPinned ? h('span', { class: 'badge pin-badge' }, '★ Pinned') : null),
      h('div', { class: 'lot-row-facts' }, facts(lot, kind)),
      h('div', { class: 'row' },
        button(isPinned ? 'Pinned' : 'Pin', 'pin', !isPinned),
        button('Open', 'open', lot.status === 'draft'),
        button('Close', 'close', lot.status === 'open'),
        note));
  });
  fill(list, ...(items.length ? items : [h('li', { class: 'muted' }, 'No lots yet: create one below.')]));
}

function facts(lot, kind) {
  if (kind === 'auction') {
    const bid = lot.high_bid ? `High bid ${money(lot.high_bid, lot.currency)}`
      : `Starts at ${money(lot.start_price, lot.currency)}`;
    const clock = lot.status === 'open' && lot.ends_ms ? ` · ends in ${countdown(lot.ends_ms)}` : '';
    return bid + clock;
  }
  const left = lot.available ?? lot.stock;
  return `${money(lot.price, lot.currency)} · ${left} of ${lot.stock} left`;
}

/** The "New lot" form in `slot`; `create(body)` posts it. */
export function mountLotForm(slot, create) {
  const field = (label, name, attrs = {}) => {
    const id = `lot-${name}`;
    return h('div', { class: 'field', 'data-for': attrs['data-kind'] || 'all' },
      h('label', { for: id }, label), h('input', { id, name, ...attrs }));
  };
  const error = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { id: 'lot-form', class: 'stack', novalidate: true },
    h('h3', {}, 'New lot'),
    h('fieldset', { class: 'choices' }, h('legend', {}, 'Kind'),
      h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'auction', checked: true }), ' Auction'),
      h('label', {}, h('input', { type: 'radio', name: 'kind', value: 'sale' }), ' Sale')),
    field('Title', 'title', { maxlength: 200, required: true }),
    h('div', { class: 'field' }, h('label', { for: 'lot-currency' }, 'Currency'),
      h('select', { id: 'lot-currency', name: 'currency' },
        ...CURRENCIES.map((c) => h('option', { value: c }, c)))),
    field('Starting price', 'start_price', { inputmode: 'decimal', 'data-kind': 'auction', value: '10' }),
    field('Runs for (seconds)', 'duration', { type: 'number', min: 1, 'data-kind': 'auction', value: '60' }),
    field('Anti-snipe (seconds; 0 = none)', 'anti_snipe', { type: 'number', min: 0, 'data-kind': 'auction', value: '10' }),
    field('Fixed increment (optional)', 'min_increment', { inputmode: 'decimal', 'data-kind': 'auction' }),
    field('Price', 'price', { inputmode: 'decimal', 'data-kind': 'sale', value: '25' }),
    field('Units', 'stock', { type: 'number', min: 1, 'data-kind': 'sale', value: '10' }),
    field('Limit per buyer (optional)', 'per_user_limit', { type: 'number', min: 1, 'data-kind': 'sale' }),
    field('Hold time (seconds)', 'hold_ttl', { type: 'number', min: 1, 'data-kind': 'sale', value: '300' }),
    h('div', { class: 'field', 'data-for': 'sale' }, h('label', { for: 'lot-allocation' }, 'Allocation'),
      h('select', { id: 'lot-allocation', name: 'allocation' },
        h('option', { value: 'fifo' }, 'First come (queue when sold out)'),
        h('option', { value: 'raffle' }, 'Raffle (draw at close)'))),
    field('Closes by itself after (seconds, optional)', 'sale_duration', { type: 'number', min: 1, 'data-kind': 'sale' }),
    error,
    h('button', { type: 'submit', class: 'primary', id: 'lot-create' }, 'Create lot'));
  const sync = () => {
    const kind = form.kind.value;
    for (const f of form.querySelectorAll('.field')) {
      f.hidden = f.dataset.for !== 'all' && f.dataset.for !== kind;
    }
  };
  form.addEventListener('change', sync);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setText(error, '');
    const body = lotBody(form);
    if (typeof body === 'string') {
      setText(error, body);
      return;
    }
    const submit = form.querySelector('#lot-create');
    submit.disabled = true;
    try {
      await create(body);
      form.title.value = '';
    } catch (err) {
      setText(error, explain(err, {
        bad_request: 'Check the fields: a title, positive amounts, and durations from 1 second to 7 days.',
        forbidden: 'Only the room\'s host can add lots.',
      }));
    } finally {
      submit.disabled = false;
    }
  });
  sync();
  slot.replaceChildren(form);
}

/** The lot body from the form, or a sentence saying what is missing. */
function lotBody(form) {
  const currency = form.currency.value;
  const title = form.title.value.trim();
  if (!title) return 'Give the lot a title.';
  const seconds = (name) => {
    const v = form[name].value.trim();
    return v === '' ? null : Math.round(Number(v) * 1000);
  };
  const int = (name) => {
    const v = form[name].value.trim();
    return v === '' ? null : Number.parseInt(v, 10);
  };
  if (form.kind.value === 'auction') {
    const start = parseMoney(form.start_price.value, currency);
    const duration = seconds('duration');
    if (start === null) return 'Enter a starting price, like 10 or 10.50.';
    if (!duration || duration < 1000) return 'Enter how many seconds the auction runs.';
    const body = { title, currency, kind: 'auction', start_price: start, duration_ms: duration,
      anti_snipe_ms: seconds('anti_snipe') ?? 10000 };
    if (form.min_increment.value.trim()) {
      const inc = parseMoney(form.min_increment.value, currency);
      if (!inc) return 'The fixed increment must be an amount above zero.';
      body.min_increment = inc;
    }
    return body;
  }
  const price = parseMoney(form.price.value, currency);
  const stock = int('stock');
  if (price === null) return 'Enter a price, like 25 or 25.50.';
  if (!stock || stock < 1) return 'Enter how many units are for sale.';
  const body = { title, currency, kind: 'sale', price, stock,
    hold_ttl_ms: seconds('hold_ttl') ?? 300000, allocation: form.allocation.value };
  const limit = int('per_user_limit');
  if (limit) body.per_user_limit = limit;
  const duration = seconds('sale_duration');
  if (duration) body.duration_ms = duration;
  return body;
}
