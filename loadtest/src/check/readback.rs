//! The `readback` rule: what the clients were told against the state the
//! API returns at the end.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{OrderReadback, Readback, SaleSpec, Verdict};
use crate::history::History;

pub(super) fn check_readback(
    history: &History,
    sale: &SaleSpec,
    readback: &Readback,
    acked: &HashMap<Arc<str>, (usize, u64)>,
    all_answered: bool,
    v: &mut Verdict,
) {
    let lot = &*sale.lot;
    let Some(state) = readback.lots.get(lot) else {
        v.fail(
            "readback",
            format!("lot {lot} missing from the read-back state"),
        );
        return;
    };
    if state.stock != sale.stock {
        v.fail(
            "readback",
            format!(
                "lot {lot}: stock read back {} != {}",
                state.stock, sale.stock
            ),
        );
    }
    if state.sold + state.available > sale.stock {
        v.fail(
            "readback",
            format!(
                "lot {lot}: sold {} + available {} > stock {}",
                state.sold, state.available, sale.stock
            ),
        );
    }
    let listed: HashMap<&str, &OrderReadback> = readback
        .orders
        .iter()
        .filter(|o| o.lot == lot)
        .map(|o| (o.order.as_str(), o))
        .collect();
    let mut acked_units = 0;
    let mut acked_ids = HashSet::new();
    for (order, (client, qty)) in acked {
        acked_units += qty;
        acked_ids.insert(&**order);
        let buyer = &history.clients[*client].user_id;
        match listed.get(&**order) {
            None => v.fail(
                "readback",
                format!("acknowledged order {order} (lot {lot}) missing from the orders read back"),
            ),
            Some(o) if !buyer.is_empty() && &o.buyer != buyer => v.fail(
                "readback",
                format!("order {order}: buyer read back {} != {buyer}", o.buyer),
            ),
            Some(_) => {}
        }
    }
    if state.sold < acked_units || (all_answered && state.sold != acked_units) {
        v.fail(
            "readback",
            format!(
                "lot {lot}: sold {} but {acked_units} units were acknowledged as ordered",
                state.sold
            ),
        );
    }
    if all_answered {
        for order in listed.keys().filter(|o| !acked_ids.contains(**o)) {
            v.fail(
                "readback",
                format!("order {order} of lot {lot} exists but no checkout was acknowledged"),
            );
        }
    }
}
