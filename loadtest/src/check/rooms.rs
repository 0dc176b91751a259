//! The `room_seq`, `room_order` and `answered` rules.

use std::collections::HashMap;
use std::sync::Arc;

use super::Verdict;
use crate::history::{History, Op, Outcome, Record};

pub(super) fn check_answered(history: &History, v: &mut Verdict) {
    for log in &history.clients {
        if log
            .records
            .iter()
            .any(|r| matches!(r, Record::Closed { .. }))
        {
            continue;
        }
        for ex in log.exchanges().iter().filter(|ex| ex.reply.is_none()) {
            v.fail(
                "answered",
                format!(
                    "{}: no reply to {} sent at {:.3} s on an open connection",
                    log.name,
                    ex.op.name(),
                    ex.sent as f64 / 1e6
                ),
            );
        }
    }
}

/// Per viewer and room: gapless `seq`; across viewers: one event per `seq`.
pub(super) fn check_rooms(history: &History, v: &mut Verdict) {
    // (room, seq) -> (digest, the first client that saw it)
    let mut seen: HashMap<(Arc<str>, u64), (u64, usize)> = HashMap::new();
    for (c, log) in history.clients.iter().enumerate() {
        let name = &log.name;
        let mut joins: HashMap<u32, Arc<str>> = HashMap::new();
        let mut expected: HashMap<Arc<str>, u64> = HashMap::new();
        for r in &log.records {
            match r {
                Record::Sent {
                    rid,
                    op: Op::Join { room },
                    ..
                } => {
                    joins.insert(*rid, room.clone());
                }
                Record::Reply {
                    rid,
                    outcome: Outcome::Snapshot { seq, .. },
                    ..
                } => {
                    if let Some(room) = joins.get(rid) {
                        expected.insert(room.clone(), seq + 1);
                    }
                }
                Record::Resync { room, seq, .. } => {
                    expected.insert(room.clone(), seq + 1);
                }
                Record::Event {
                    room, seq, digest, ..
                } => {
                    match expected.get_mut(room) {
                        None => v.fail(
                            "room_seq",
                            format!("{name}: event seq {seq} of room {room} before its join reply"),
                        ),
                        Some(next) if *seq == *next => *next += 1,
                        Some(next) => {
                            let what = if *seq > *next {
                                "gap"
                            } else {
                                "repeat or reorder"
                            };
                            v.fail(
                                "room_seq",
                                format!(
                                    "{name}: room {room}: {what}: expected seq {next}, got {seq}"
                                ),
                            );
                            *next = (*next).max(seq + 1);
                        }
                    }
                    let key = (room.clone(), *seq);
                    match seen.get(&key) {
                        None => {
                            seen.insert(key, (*digest, c));
                        }
                        Some(&(d, first)) if d != *digest => v.fail(
                            "room_order",
                            format!(
                                "room {room} seq {seq}: {name} saw another event than {}",
                                history.clients[first].name
                            ),
                        ),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
    }
}
