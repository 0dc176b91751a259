//! The lots of a room as the RoomActor follows them: each lot's latest view
//! for snapshots, and its publications put back in order.
//!
//! A lot publishes after each durable batch, naming the log seqs before and
//! after it (`from..to`). Usually they arrive in order, but one sent through
//! the Region (the room was starting) can be overtaken by the next, sent
//! directly; and a room that loaded a lot from the store has already seen
//! what earlier publications carry. So per lot: a publication starting
//! where the room is gets applied (with any that were waiting for it), one
//! from the past is skipped, one from the future waits for the gap to close.

use std::collections::{BTreeMap, HashMap};

use liveshop_protocol::{LotId, LotView, RoomEvent};

/// Publications a lot may have waiting before the room stops waiting for the
/// gap (the missing one was lost with a stopped instance of the room).
const MAX_EARLY: usize = 64;

/// A lot's durable batch, as the room hears of it.
#[derive(Debug)]
pub(crate) struct LotPublished {
    pub lot: LotId,
    /// The lot's log seq before and after the batch.
    pub from: u64,
    pub to: u64,
    pub events: Vec<RoomEvent>,
    /// The lot's state after the batch.
    pub view: LotView,
}

struct Followed {
    /// The lot's log seq `view` reflects.
    applied: u64,
    view: LotView,
    early: BTreeMap<u64, LotPublished>,
}

#[derive(Default)]
pub(crate) struct RoomLots {
    lots: HashMap<LotId, Followed>,
}

impl RoomLots {
    /// Starts following a lot from its state at log seq `applied`.
    pub(crate) fn insert(&mut self, lot: LotId, applied: u64, view: LotView) {
        let early = BTreeMap::new();
        self.lots.insert(
            lot,
            Followed {
                applied,
                view,
                early,
            },
        );
    }

    pub(crate) fn contains(&self, lot: &LotId) -> bool {
        self.lots.contains_key(lot)
    }

    pub(crate) fn view(&self, lot: &LotId) -> Option<&LotView> {
        self.lots.get(lot).map(|f| &f.view)
    }

    /// Takes a publication in; returns those now due, in order.
    pub(crate) fn accept(&mut self, p: LotPublished) -> Vec<LotPublished> {
        let Some(f) = self.lots.get_mut(&p.lot) else {
            // A lot the room did not load: follow it from here.
            self.insert(p.lot.clone(), p.to, p.view.clone());
            return vec![p];
        };
        if p.from < f.applied {
            return Vec::new();
        }
        if p.from > f.applied {
            f.early.insert(p.from, p);
            if f.early.len() <= MAX_EARLY {
                return Vec::new();
            }
            let ready: Vec<_> = std::mem::take(&mut f.early).into_values().collect();
            if let Some(last) = ready.last() {
                f.applied = last.to;
                f.view = last.view.clone();
            }
            return ready;
        }
        f.applied = p.to;
        f.view = p.view.clone();
        let mut ready = vec![p];
        while let Some(next) = f.early.remove(&f.applied) {
            f.applied = next.to;
            f.view = next.view.clone();
            ready.push(next);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liveshop_protocol::{Currency, LotKind, LotStatus, RoomId};

    fn view(sold: u32) -> LotView {
        LotView {
            lot: LotId::new("L1").unwrap(),
            room: RoomId::new("r1").unwrap(),
            kind: LotKind::Sale,
            status: LotStatus::Open,
            title: "t".into(),
            currency: Currency::USD,
            opens_ms: None,
            ends_ms: None,
            start_price: None,
            high_bid: None,
            high_bidder: None,
            min_bid: None,
            price: None,
            stock: None,
            available: None,
            sold: Some(sold),
            per_user_limit: None,
            allocation: None,
            seed_hash: None,
            seed: None,
        }
    }

    fn publication(from: u64, to: u64) -> LotPublished {
        LotPublished {
            lot: LotId::new("L1").unwrap(),
            from,
            to,
            events: Vec::new(),
            view: view(u32::try_from(to).unwrap()),
        }
    }

    fn spans(ready: &[LotPublished]) -> Vec<(u64, u64)> {
        ready.iter().map(|p| (p.from, p.to)).collect()
    }

    #[test]
    fn an_overtaken_publication_is_applied_before_the_one_that_overtook_it() {
        let mut lots = RoomLots::default();
        let lot = LotId::new("L1").unwrap();
        lots.insert(lot.clone(), 2, view(2));
        assert!(lots.accept(publication(4, 6)).is_empty());
        assert_eq!(spans(&lots.accept(publication(2, 4))), [(2, 4), (4, 6)]);
        assert_eq!(lots.view(&lot).and_then(|v| v.sold), Some(6));
    }

    #[test]
    fn what_the_room_loaded_is_not_published_again() {
        let mut lots = RoomLots::default();
        lots.insert(LotId::new("L1").unwrap(), 5, view(5));
        assert!(lots.accept(publication(3, 5)).is_empty());
        assert_eq!(spans(&lots.accept(publication(5, 7))), [(5, 7)]);
    }

    #[test]
    fn a_gap_that_never_closes_stops_holding_publications_back() {
        let mut lots = RoomLots::default();
        lots.insert(LotId::new("L1").unwrap(), 0, view(0));
        for i in 0..MAX_EARLY as u64 {
            assert!(lots.accept(publication(10 + i, 11 + i)).is_empty());
        }
        let ready = lots.accept(publication(100, 101));
        assert_eq!(ready.len(), MAX_EARLY + 1);
        assert_eq!(spans(&lots.accept(publication(101, 102))), [(101, 102)]);
    }
}
