// The buyer's orders (/orders): `GET /orders`, with each lot's title from
// `GET /lots/{lot}` (orders name only the lot id).

import { byId, fill, setText } from './dom.js';
import { explain } from './errors.js';
import { mountAccount, signIn } from './auth-ui.js';
import { ordersTable, lotTitles } from './order-table.js';
import * as session from './session.js';

await session.restore();
mountAccount();

const box = byId('orders');
const note = byId('orders-state');
const titles = new Map();

async function load() {
  if (!session.user()) {
    setText(note, 'Log in to see your orders.');
    box.replaceChildren();
    return;
  }
  setText(note, 'Loading…');
  try {
    const { orders } = await session.api('GET', '/orders', undefined, { auth: true });
    orders.sort((a, b) => b.created_ms - a.created_ms);
    await lotTitles(orders.map((o) => o.lot), titles);
    fill(box, orders.length ? ordersTable(orders, titles) : '');
    setText(note, orders.length ? `${orders.length} order${orders.length === 1 ? '' : 's'}.`
      : 'No orders yet. Buy something in a live room!');
  } catch (err) {
    setText(note, explain(err, { unauthorized: 'Log in to see your orders.' }));
  }
}

byId('orders-refresh').addEventListener('click', load);
session.onChange(() => load());
if (!session.user()) signIn({ reason: 'to see your orders' });
