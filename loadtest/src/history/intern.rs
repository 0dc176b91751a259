//! A log's trip from a worker process to the driver: what serde needs that
//! it cannot derive, and sharing the ids of deserialised logs again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer};

use super::{ClientLog, Op, Outcome, Record};

/// An op name read back from a worker. `Op::Other` names a kind with a
/// `&'static str` (records are many, the names few), so a name read from a
/// worker is mapped to a static one, and one not known here is leaked once
/// per process: the set of names is bounded by the code that sends them.
pub(super) fn static_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    const KNOWN: [&str; 8] = [
        "ping", "chat", "pin", "like", "release", "max_bid", "enter", "leave",
    ];
    static LEAKED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let name = String::deserialize(d)?;
    if let Some(k) = KNOWN.iter().find(|k| **k == name) {
        return Ok(k);
    }
    let mut leaked = LEAKED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(k) = leaked.get(name.as_str()) {
        return Ok(k);
    }
    let k: &'static str = Box::leak(name.into_boxed_str());
    leaked.insert(k);
    Ok(k)
}

/// Shares equal ids between records (and logs) that were deserialised
/// apart, as a client's own interning would have.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, id: &mut Arc<str>) {
        match self.0.get(&**id) {
            Some(k) => *id = k.clone(),
            None => {
                self.0.insert(id.clone());
            }
        }
    }
}

impl ClientLog {
    /// Makes this log's ids (rooms, lots, holds) the ones `ids` already
    /// holds, so a log that crossed from a worker costs what it did there.
    pub fn intern(&mut self, ids: &mut Interner) {
        for r in &mut self.records {
            match r {
                Record::Sent { op, .. } => match op {
                    Op::Join { room: id }
                    | Op::OpenLot { lot: id }
                    | Op::CloseLot { lot: id }
                    | Op::Hold { lot: id, .. }
                    | Op::Release { hold: id }
                    | Op::Bid { lot: id, .. } => ids.get(id),
                    Op::Checkout { hold, idem } => {
                        ids.get(hold);
                        ids.get(idem);
                    }
                    Op::Other { .. } => {}
                },
                Record::Reply { outcome, .. } => match outcome {
                    Outcome::Held { hold: id, .. } | Outcome::Ordered { order: id, .. } => {
                        ids.get(id);
                    }
                    _ => {}
                },
                Record::Event { room, stock, .. } => {
                    ids.get(room);
                    if let Some((lot, _)) = stock {
                        ids.get(lot);
                    }
                }
                Record::Resync { room: id, .. }
                | Record::HoldExpired { hold: id, .. }
                | Record::Bid { lot: id, .. }
                | Record::LotClosed { lot: id, .. }
                | Record::Won { lot: id, .. } => ids.get(id),
                Record::Offer { lot, hold, .. } => {
                    ids.get(lot);
                    ids.get(hold);
                }
                Record::Lagged { .. } | Record::ServerError { .. } | Record::Closed { .. } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_survives_the_trip_from_a_worker_and_shares_its_ids_again() {
        let room: Arc<str> = "R1".into();
        let mut log = ClientLog::new("viewer-1", "");
        log.records.extend([
            Record::Sent {
                at: 1,
                rid: 1,
                op: Op::Join { room: room.clone() },
            },
            Record::Sent {
                at: 2,
                rid: 2,
                op: Op::Other { kind: "chat" },
            },
            Record::Sent {
                at: 3,
                rid: 3,
                op: Op::Other { kind: "a_new_op" },
            },
            Record::Event {
                at: 4,
                room: room.clone(),
                seq: 7,
                digest: u64::MAX,
                stock: Some(("L1".into(), 3)),
            },
            Record::Closed {
                at: 5,
                reason: "closed by the node (1001 )".into(),
            },
        ]);
        let line = serde_json::to_string(&log).unwrap();
        let mut back: ClientLog = serde_json::from_str(&line).unwrap();
        assert_eq!(back, log);
        let mut again: ClientLog = serde_json::from_str(&line).unwrap();
        let mut ids = Interner::default();
        back.intern(&mut ids);
        again.intern(&mut ids);
        let room_of = |log: &ClientLog| match &log.records[3] {
            Record::Event { room, .. } => room.clone(),
            _ => unreachable!(),
        };
        assert!(Arc::ptr_eq(&room_of(&back), &room_of(&again)));
        let Record::Sent {
            op: Op::Join { room: joined },
            ..
        } = &back.records[0]
        else {
            unreachable!()
        };
        assert!(Arc::ptr_eq(joined, &room_of(&back)));
        assert_eq!(back.records[2], log.records[2]);
    }
}
