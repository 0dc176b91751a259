//! Delivery latency and the `delivered` rule, from the history after the
//! run. The watcher tagged which `(room, seq)` carried which emission; a
//! viewer's receipt of that `seq` (its `Event` record) minus the sender's
//! send time of the request (its `Sent` record) is one delivery latency,
//! both read from the harness's one clock.
//!
//! `delivered`: every emission the node acknowledged `ok` appears in its
//! room's stream, and every viewer subscribed before it (its latest
//! snapshot, from the join or a documented resync, has a lower `seq`)
//! received it, unless its connection ended. A `seq` a viewer skipped
//! because a resync jumped over it is counted, not a violation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::crowd::parse_chat_text;
use super::watcher::{Seen, Tagged};
use crate::check::Verdict;
use crate::history::{History, Micros, Op, Outcome, Record};
use crate::report::{Latency, Recorder};

pub(in crate::scenarios) const RULE: &str = "delivered";

/// A sender as the analysis needs it.
pub(in crate::scenarios) struct Sender {
    /// Its index in the history.
    pub client: usize,
    pub room: Arc<str>,
    /// The lots it pins in turn (emission n pins `lots[n % len]`).
    pub lots: Arc<[Arc<str>]>,
}

/// A receiver: its index in the history and its room.
pub(in crate::scenarios) struct Receiver {
    pub client: usize,
    pub room: Arc<str>,
}

/// An emission found in its room's stream.
struct Tracked {
    sender: usize,
    n: usize,
    seq: u64,
    sent: Micros,
    /// The last receipt, and whether every receiver expected to got it.
    last: Micros,
    complete: bool,
}

#[derive(Debug, Default)]
pub(in crate::scenarios) struct Deliveries {
    pub latency: Latency,
    pub all_received: Latency,
    pub emitted: u64,
    pub ok: u64,
    pub refused: BTreeMap<String, u64>,
    pub unanswered: u64,
    pub tracked: u64,
    pub lost: u64,
    pub unmatched: u64,
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub missing_after_reset: u64,
    pub missing_closed: u64,
    pub incomplete_events: u64,
    /// From the first tracked send to the last tracked receipt, seconds.
    pub span_s: f64,
}

impl Deliveries {
    pub fn json(&self) -> Value {
        let per_s =
            |n: u64| (self.span_s > 0.0).then(|| ((n as f64 / self.span_s) * 10.0).round() / 10.0);
        json!({
            "emitted": self.emitted, "emitted_ok": self.ok, "refused": self.refused,
            "unanswered": self.unanswered, "tracked_events": self.tracked,
            "lost_emissions": self.lost, "unmatched_events": self.unmatched,
            "deliveries_expected": self.expected, "deliveries": self.delivered,
            "missing_deliveries": self.missing,
            "skipped_by_resync": self.missing_after_reset,
            "missing_on_closed_connections": self.missing_closed,
            "every_delivery_seen": self.expected > 0 && self.delivered == self.expected,
            "delivery_latency": self.latency,
            "last_viewer_latency": self.all_received,
            "incomplete_events": self.incomplete_events,
            "delivery_span_s": (self.span_s * 1000.0).round() / 1000.0,
            "deliveries_per_s": per_s(self.delivered),
        })
    }
}

/// Matches emissions to the stream and receipts to emissions; fails
/// `delivered` on `verdict` where the history proves a loss.
pub(in crate::scenarios) fn measure(
    history: &History,
    senders: &[Sender],
    receivers: &[Receiver],
    seen: &Seen,
    marker: &str,
    verdict: &mut Verdict,
) -> Deliveries {
    let mut d = Deliveries::default();
    verdict.rules.push(RULE);
    // Per sender, its emissions in order: (send time, reply, kind).
    let mut emissions: Vec<Vec<(Micros, Option<&Outcome>, &'static str)>> = Vec::new();
    for s in senders {
        let mut list = Vec::new();
        for ex in history.clients[s.client].exchanges() {
            let Op::Other { kind } = ex.op else { continue };
            if !matches!(*kind, "chat" | "pin") {
                continue;
            }
            d.emitted += 1;
            match ex.reply.map(|r| r.1) {
                Some(Outcome::Ok) => d.ok += 1,
                Some(Outcome::Error { code }) => {
                    *d.refused.entry(code.to_string()).or_default() += 1
                }
                Some(_) => {}
                None => d.unanswered += 1,
            }
            list.push((ex.sent, ex.reply.map(|r| r.1), *kind));
        }
        emissions.push(list);
    }
    // Tags to emissions: chats by text; pins by order within the sender's
    // pins that were not refused, checked against the lot pinned.
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut by_key: HashMap<(Arc<str>, u64), usize> = HashMap::new();
    let mut pin_cursor: HashMap<Arc<str>, Vec<(usize, usize)>> = HashMap::new();
    for (s, sender) in senders.iter().enumerate() {
        let pins = emissions[s]
            .iter()
            .enumerate()
            .filter(|(_, e)| e.2 == "pin" && !matches!(e.1, Some(Outcome::Error { .. })));
        let list = pin_cursor.entry(sender.room.clone()).or_default();
        list.extend(pins.map(|(n, _)| (s, n)).rev());
    }
    let mut tags: Vec<_> = seen.tags.iter().collect();
    tags.sort_by(|a, b| (&a.room, a.seq).cmp(&(&b.room, b.seq)));
    for tag in tags {
        let found = match &tag.what {
            Tagged::Chat { text } => parse_chat_text(marker, text)
                .filter(|&(s, n)| emissions.get(s).is_some_and(|e| n < e.len() as u64))
                .map(|(s, n)| (s, n as usize)),
            Tagged::Pin { lot } => {
                pin_cursor
                    .get_mut(&tag.room)
                    .and_then(Vec::pop)
                    .filter(|&(s, n)| {
                        let lots = &senders[s].lots;
                        !lots.is_empty() && &*lots[n % lots.len()] == lot
                    })
            }
        };
        let Some((sender, n)) = found else {
            d.unmatched += 1;
            continue;
        };
        if by_key.contains_key(&(tag.room.clone(), tag.seq)) {
            continue;
        }
        by_key.insert((tag.room.clone(), tag.seq), tracked.len());
        tracked.push(Tracked {
            sender,
            n,
            seq: tag.seq,
            sent: emissions[sender][n].0,
            last: 0,
            complete: true,
        });
    }
    d.tracked = tracked.len() as u64;
    let found: std::collections::HashSet<(usize, usize)> =
        tracked.iter().map(|t| (t.sender, t.n)).collect();
    for (s, list) in emissions.iter().enumerate() {
        for (n, (sent, reply, kind)) in list.iter().enumerate() {
            if matches!(reply, Some(Outcome::Ok)) && !found.contains(&(s, n)) {
                d.lost += 1;
                if !seen.incomplete {
                    let name = &history.clients[senders[s].client].name;
                    let room = &senders[s].room;
                    verdict.fail(RULE, format!(
                        "{name}: {kind} #{n} sent at {:.3} s was acknowledged but never appeared in room {room}",
                        *sent as f64 / 1e6
                    ));
                }
            }
        }
    }
    let mut per_room: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in tracked.iter().enumerate() {
        per_room.entry(&senders[t.sender].room).or_default().push(i);
    }
    let mut latency = Recorder::default();
    for r in receivers {
        receive(
            history,
            r,
            &per_room,
            &by_key,
            &mut tracked,
            &mut latency,
            &mut d,
            verdict,
        );
    }
    let mut all = Recorder::default();
    let (mut first_sent, mut last_seen) = (Micros::MAX, 0);
    for t in &tracked {
        first_sent = first_sent.min(t.sent);
        last_seen = last_seen.max(t.last);
        if !t.complete {
            d.incomplete_events += 1;
        } else if t.last > 0 {
            all.record(t.last.saturating_sub(t.sent));
        }
    }
    d.span_s = last_seen.saturating_sub(first_sent.min(last_seen)) as f64 / 1e6;
    d.latency = latency.summary();
    d.all_received = all.summary();
    d
}

#[allow(clippy::too_many_arguments)]
fn receive(
    history: &History,
    r: &Receiver,
    per_room: &HashMap<&str, Vec<usize>>,
    by_key: &HashMap<(Arc<str>, u64), usize>,
    tracked: &mut [Tracked],
    latency: &mut Recorder,
    d: &mut Deliveries,
    verdict: &mut Verdict,
) {
    let log = &history.clients[r.client];
    let Some(events) = per_room.get(&*r.room) else {
        return;
    };
    let joined = log
        .exchanges()
        .iter()
        .find_map(|ex| match (ex.op, ex.reply) {
            (Op::Join { room }, Some((_, Outcome::Snapshot { seq, .. }))) if *room == r.room => {
                Some(*seq)
            }
            _ => None,
        });
    let Some(first) = joined else { return };
    let (mut latest, mut closed) = (first, false);
    let mut got: HashMap<usize, Micros> = HashMap::new();
    for rec in &log.records {
        match rec {
            Record::Resync { room, seq, .. } if *room == r.room => latest = latest.max(*seq),
            Record::Closed { .. } => closed = true,
            Record::Event { at, room, seq, .. } if *room == r.room => {
                if let Some(&i) = by_key.get(&(room.clone(), *seq)) {
                    got.entry(i).or_insert(*at);
                }
            }
            _ => {}
        }
    }
    for &i in events {
        let t = &mut tracked[i];
        if t.seq <= first {
            continue;
        }
        d.expected += 1;
        if let Some(&at) = got.get(&i) {
            d.delivered += 1;
            latency.record(at.saturating_sub(t.sent));
            t.last = t.last.max(at);
            continue;
        }
        t.complete = false;
        if t.seq <= latest {
            d.missing_after_reset += 1;
        } else if closed {
            d.missing_closed += 1;
        } else {
            d.missing += 1;
            verdict.fail(
                RULE,
                format!(
                    "{}: room {}: never received seq {} though subscribed from seq {latest}",
                    log.name, r.room, t.seq
                ),
            );
        }
    }
}

#[cfg(test)]
#[path = "deliveries_tests.rs"]
mod tests;
