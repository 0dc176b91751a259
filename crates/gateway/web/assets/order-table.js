// The orders table of /orders and of the studio, and the lot titles it
// shows (orders carry only the lot id).

import { h } from './dom.js';
import { money, dateTime } from './format.js';
import * as session from './session.js';

const STATUS = { placed: 'Placed (awaiting payment)', paid: 'Paid', cancelled: 'Cancelled' };

/** An orders table (shared with the studio's seller orders). */
export function ordersTable(orders, lotTitles, { seller = false } = {}) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'orders' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col' }, 'Qty'),
      h('th', { scope: 'col' }, 'Total'), h('th', { scope: 'col' }, 'Status'),
      seller ? h('th', { scope: 'col' }, 'Buyer') : null,
      h('th', { scope: 'col' }, 'When'))),
    h('tbody', {}, ...orders.map((o) => h('tr', { 'data-order': o.order },
      h('td', {}, lotTitles.get(o.lot) || o.lot), h('td', {}, String(o.qty)),
      h('td', {}, money(o.amount, o.currency)),
      h('td', {}, h('span', { class: `status status-${o.status}` }, STATUS[o.status] || o.status)),
      seller ? h('td', {}, `…${String(o.buyer).slice(-4).toLowerCase()}`) : null,
      h('td', {}, dateTime(o.created_ms)))))));
}

/** Fetches the titles of `lots` not known yet into `into`. */
export async function lotTitles(lots, into) {
  const missing = [...new Set(lots)].filter((l) => !into.has(l));
  await Promise.all(missing.map(async (l) => {
    try {
      const lot = await session.api('GET', `/lots/${encodeURIComponent(l)}`);
      into.set(l, lot.title);
    } catch {
      // Shown by id.
    }
  }));
  return into;
}
