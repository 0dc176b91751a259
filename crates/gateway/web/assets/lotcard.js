// The pinned lot's card on the buyer's room page: an auction (current bid,
// high bidder, countdown, one-tap bid, max bid), a sale (price, units left,
// Buy -> hold -> Check out with the hold's countdown, queue place) or a
// raffle (Enter the draw). Only what the contract offers.
//
// The card is built once and then updated in place, so a countdown tick or a
// new bid never steals focus from the max-bid field. The countdown reads
// `ends_ms` from the latest `lot`/`bid` event, so anti-snipe extensions show
// at once.

import { h, setText } from './dom.js';
import { explain } from './errors.js';
import { money, countdown, secondsLeft, nextBid, parseMoney, who, plural } from './format.js';

const STATUS = { draft: 'Not open yet', open: 'Open', closed: 'Closed', settled: 'Closed' };

export class LotCard {
  /**
   * `root`: the card's container. `actions`: `bid(lot, amount)`,
   * `maxBid(lot, amount)`, `buy(lot)`, `checkout()`, `release()`,
   * `enter(lot)`, each a promise (rejected with a ShopError).
   */
  constructor(root, actions) {
    this.root = root;
    this.actions = actions;
    this.lot = null;
    this.ctx = {};
    this.build();
    setInterval(() => this.tick(), 250);
  }

  build() {
    const el = (name, tag = 'span', attrs = {}, ...kids) => (this[name] = h(tag, attrs, ...kids));
    this.card = h('article', { class: 'lot-card', 'aria-labelledby': 'lot-title' },
      h('header', { class: 'lot-head' },
        el('kindBadge', 'span', { class: 'badge' }),
        el('title', 'h2', { id: 'lot-title', class: 'lot-title' }),
        el('status', 'span', { class: 'lot-status' })),
      el('staleNote', 'p', { class: 'stale-note', hidden: true }),
      // Auctions.
      el('auction', 'div', { class: 'lot-auction' }),
      // Sales and raffles.
      el('sale', 'div', { class: 'lot-sale' }),
      el('message', 'p', { class: 'lot-message', role: 'status', 'aria-live': 'polite' }));
    this.staleNote.textContent = 'Not up to date: reconnecting…';

    this.auction.append(
      h('dl', { class: 'facts' },
        h('div', {}, el('bidLabel', 'dt'), el('bidValue', 'dd', { class: 'big', id: 'lot-high-bid' })),
        h('div', {}, h('dt', {}, 'High bidder'), el('bidder', 'dd', { id: 'lot-high-bidder' })),
        h('div', {}, h('dt', {}, 'Ends in'), el('clock', 'dd', { class: 'big', id: 'lot-countdown' }))),
      el('extended', 'p', { class: 'extended', hidden: true }),
      el('bidButton', 'button', { type: 'button', class: 'primary wide', id: 'bid-button' }),
      el('maxForm', 'form', { class: 'max-bid row' }));
    this.bidButton.addEventListener('click', () => this.bid());
    this.maxForm.append(
      h('label', { for: 'max-bid' }, 'Max bid'),
      el('maxInput', 'input', { id: 'max-bid', name: 'max', inputmode: 'decimal',
        autocomplete: 'off', 'aria-describedby': 'max-bid-help' }),
      h('button', { type: 'submit', class: 'secondary' }, 'Set max'),
      h('p', { id: 'max-bid-help', class: 'hint' },
        'We bid for you, one step at a time, up to this amount.'));
    this.maxForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.maxBid();
    });

    this.sale.append(
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Price'), el('price', 'dd', { class: 'big', id: 'lot-price' })),
        h('div', {}, h('dt', {}, 'Left'), el('left', 'dd', { class: 'big', id: 'lot-left' })),
        h('div', {}, h('dt', {}, 'Limit'), el('limit', 'dd'))),
      el('holdBox', 'div', { class: 'hold', hidden: true }),
      el('buyButton', 'button', { type: 'button', class: 'primary wide', id: 'buy-button' }),
      el('seedNote', 'p', { class: 'hint', hidden: true }));
    this.buyButton.addEventListener('click', () => this.buy());
    this.holdBox.append(
      h('p', {}, 'Held for you for ', el('holdClock', 'strong', { id: 'hold-countdown' }),
        h('span', { class: 'sr-only' }, ' (then it goes back on sale)')),
      h('div', { class: 'row' },
        el('checkoutButton', 'button', { type: 'button', class: 'primary', id: 'checkout-button' },
          'Check out'),
        el('releaseButton', 'button', { type: 'button', class: 'secondary' }, 'Release')));
    this.checkoutButton.addEventListener('click', () => this.run(() => this.actions.checkout()));
    this.releaseButton.addEventListener('click', () => this.run(() => this.actions.release()));
    this.root.replaceChildren(this.card);
  }

  /**
   * Shows `lot` (a lot state, `kind` or `lot_kind`) in context `ctx`:
   * `{me, names, hold, queued, entered, winners, stale}`. `null` hides it.
   */
  show(lot, ctx) {
    this.root.hidden = !lot;
    if (!lot) return;
    if (!this.lot || this.lot.lot !== lot.lot) {
      setText(this.message, '');
      this.maxInput.value = '';
      this.extended.hidden = true;
    } else if (this.lot.ends_ms && lot.ends_ms && lot.ends_ms > this.lot.ends_ms && lot.status === 'open') {
      // Anti-snipe: a late bid moved the end.
      this.extended.hidden = false;
      setText(this.extended, 'Extended: a late bid added time.');
    }
    this.lot = lot;
    this.ctx = ctx;
    const kind = lot.kind || lot.lot_kind;
    const raffle = lot.allocation === 'raffle';
    this.card.dataset.lot = lot.lot;
    this.card.dataset.status = lot.status;
    this.card.classList.toggle('stale', !!ctx.stale);
    this.staleNote.hidden = !ctx.stale;
    setText(this.kindBadge, kind === 'auction' ? 'Auction' : raffle ? 'Raffle' : 'Sale');
    setText(this.title, lot.title);
    setText(this.status, STATUS[lot.status] || lot.status);
    this.auction.hidden = kind !== 'auction';
    this.sale.hidden = kind === 'auction';
    if (kind === 'auction') this.showAuction(lot, ctx);
    else this.showSale(lot, ctx, raffle);
    this.tick();
  }

  showAuction(lot, ctx) {
    const open = lot.status === 'open';
    const bids = lot.high_bid !== undefined && lot.high_bid !== null;
    setText(this.bidLabel, bids ? 'Current bid' : 'Starting bid');
    setText(this.bidValue, money(bids ? lot.high_bid : lot.start_price, lot.currency));
    const mine = bids && ctx.me && lot.high_bidder === ctx.me.user_id;
    setText(this.bidder, bids ? (mine ? 'You' : who(lot.high_bidder, ctx.me, ctx.names)) : 'No bids yet');
    this.bidder.classList.toggle('you', !!mine);
    const next = this.nextAmount();
    setText(this.bidButton, mine ? `You lead · bid ${money(next, lot.currency)}` : `Bid ${money(next, lot.currency)}`);
    this.bidButton.disabled = !open || !!ctx.stale;
    this.maxForm.hidden = !open;
    this.maxForm.querySelector('button').disabled = !!ctx.stale;
    if (!this.maxInput.placeholder || document.activeElement !== this.maxInput) {
      this.maxInput.placeholder = money(next, lot.currency);
    }
    if (!open && ctx.winners) {
      const w = ctx.winners[0];
      setText(this.message, w ? `Won by ${who(w.user, ctx.me, ctx.names)} for ${money(w.amount, lot.currency)}.`
        : 'Closed without a bid.');
    }
  }

  showSale(lot, ctx, raffle) {
    const open = lot.status === 'open';
    setText(this.price, money(lot.price, lot.currency));
    const available = lot.available ?? lot.stock;
    setText(this.left, raffle ? plural(lot.stock, 'unit', 'units') : `${available} of ${lot.stock}`);
    setText(this.limit, lot.per_user_limit ? `${lot.per_user_limit} per buyer` : 'None');
    const hold = ctx.hold;
    this.holdBox.hidden = !hold;
    this.checkoutButton.disabled = !!ctx.stale;
    this.releaseButton.disabled = !!ctx.stale;
    this.seedNote.hidden = !(raffle && lot.seed_hash);
    if (raffle && lot.seed_hash) {
      setText(this.seedNote, lot.seed ? `Draw seed: ${lot.seed}` : `Draw seed hash: ${lot.seed_hash}`);
    }
    let label;
    let enabled = open && !ctx.stale && !hold;
    if (raffle) {
      label = ctx.entered ? 'You are in the draw' : 'Enter the draw';
      enabled = enabled && !ctx.entered;
    } else if (ctx.queued) {
      label = `In the queue: #${ctx.queued}`;
      enabled = false;
    } else if (available === 0) {
      label = 'Sold out · join the queue';
    } else {
      label = `Buy · ${money(lot.price, lot.currency)}`;
    }
    if (hold) label = 'Held for you';
    setText(this.buyButton, label);
    this.buyButton.disabled = !enabled;
    this.buyButton.hidden = !open && !hold;
    if (!open && ctx.winners) {
      const mine = ctx.me && ctx.winners.find((w) => w.user === ctx.me.user_id);
      setText(this.message, mine ? (raffle ? 'You won the draw! See your orders.' : 'Bought. See your orders.')
        : `Closed: ${plural(ctx.winners.length, 'buyer', 'buyers')}.`);
    }
  }

  /** The one-tap bid: the lot's `min_bid` when known, else the ladder's next step. */
  nextAmount() {
    const lot = this.lot;
    if (lot.min_bid) return lot.min_bid;
    if (lot.high_bid === undefined || lot.high_bid === null) return Math.max(lot.start_price || 1, 1);
    return nextBid(lot.high_bid, lot.currency);
  }

  tick() {
    const lot = this.lot;
    if (!lot) return;
    if (lot.status === 'open' && lot.ends_ms) {
      setText(this.clock, countdown(lot.ends_ms));
      this.clock.classList.toggle('ending', secondsLeft(lot.ends_ms) <= 10);
    } else {
      setText(this.clock, lot.status === 'draft' ? 'Not started' : 'Ended');
      this.clock.classList.remove('ending');
    }
    const hold = this.ctx.hold;
    if (hold) setText(this.holdClock, countdown(hold.expires_ms));
  }

  async bid() {
    const lot = this.lot;
    await this.run(async () => {
      const amount = this.nextAmount();
      await this.actions.bid(lot.lot, amount);
      return `Bid placed: ${money(amount, lot.currency)}.`;
    });
  }

  async maxBid() {
    const lot = this.lot;
    const amount = parseMoney(this.maxInput.value, lot.currency);
    if (!amount) {
      setText(this.message, 'Enter an amount, like 25 or 25.50.');
      return;
    }
    await this.run(async () => {
      const reply = await this.actions.maxBid(lot.lot, amount);
      this.maxInput.value = '';
      return `Max bid set to ${money(amount, lot.currency)}. Current bid: ${money(reply.current, lot.currency)}.`;
    });
  }

  async buy() {
    const lot = this.lot;
    await this.run(() => (lot.allocation === 'raffle' ? this.actions.enter(lot.lot) : this.actions.buy(lot.lot)));
  }

  /** Runs an action with the buttons busy; shows what it says or why it failed. */
  async run(action) {
    const lot = this.lot;
    this.card.setAttribute('aria-busy', 'true');
    try {
      const said = await action();
      if (typeof said === 'string') setText(this.message, said);
    } catch (err) {
      if (err.code === 'bid_too_low' && err.min_amount) {
        // Someone got there first: the next tap bids what the node asks.
        lot.min_bid = err.min_amount;
        setText(this.message, `Someone bid more. Tap again to bid ${money(err.min_amount, lot.currency)}.`);
        this.show(lot, this.ctx);
      } else {
        setText(this.message, explain(err, {
          lot_not_open: lot.status === 'draft' ? 'Not open yet: wait for the seller.' : 'This lot has closed.',
          not_found: 'That hold is gone. Try buying again.',
        }));
      }
    } finally {
      this.card.removeAttribute('aria-busy');
    }
  }
}
