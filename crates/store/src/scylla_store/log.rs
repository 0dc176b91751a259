//! [`EventLog`] on ScyllaDB: one `event_log` partition per log, its head
//! (epoch, last seq, newest snapshot) in STATIC columns, every write to it
//! an LWT on that one partition.

use async_trait::async_trait;
use scylla::serialize::SerializationError;
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::writers::RowWriter;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::{Consistency, SerialConsistency};

use super::{Lwt, ScyllaStore, driver_error, to_i64, to_u64};
use crate::{Epoch, EventLog, LogKey, Result, Snapshot, StoreError, StoredEvent};

/// How many refused claims in a row (each one means another claimant won)
/// before `claim` gives up.
const MAX_CLAIM_ATTEMPTS: usize = 64;

/// A log's epoch (0: never claimed) and last seq (0: empty).
#[derive(Debug, Clone, Copy)]
struct Head {
    epoch: Epoch,
    last: u64,
}

/// One statement's values in the append batch: the fence, or an event.
enum AppendRow<'a> {
    /// `last_seq` to set, log key, epoch, expected `last_seq`.
    Fence(i64, &'a str, i64, i64),
    /// Log key, seq, payload.
    Event(&'a str, i64, &'a [u8]),
}

impl SerializeRow for AppendRow<'_> {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter,
    ) -> Result<(), SerializationError> {
        match *self {
            AppendRow::Fence(last, key, epoch, base) => {
                (last, key, epoch, base).serialize(ctx, writer)
            }
            AppendRow::Event(key, seq, payload) => (key, seq, payload).serialize(ctx, writer),
        }
    }

    fn is_empty(&self) -> bool {
        false
    }
}

/// Why a fenced write would be (or was) refused given the log's head, in
/// the order the trait fixes: the fence first, then continuity. `None` if
/// the head allows it.
fn refusal(skey: &str, epoch: Epoch, events: &[StoredEvent], head: Head) -> Option<StoreError> {
    if head.epoch == 0 || head.epoch != epoch {
        return Some(StoreError::Fenced {
            key: skey.to_owned(),
            current: head.epoch,
            presented: epoch,
        });
    }
    events.iter().zip(1u64..).find_map(|(ev, i)| {
        let want = head.last.saturating_add(i);
        (ev.seq != want).then(|| StoreError::SeqGap {
            key: skey.to_owned(),
            expected: want,
            got: ev.seq,
        })
    })
}

fn stored(what: &str, v: Option<i64>) -> Result<u64> {
    v.map_or(Ok(0), |v| to_u64(what, v))
}

impl ScyllaStore {
    /// The log's head, read at `LOCAL_SERIAL`: linearizable with the LWTs
    /// (it also completes a Paxos round left in flight on the partition).
    async fn head(&self, skey: &str) -> Result<Head> {
        let row: Option<(Option<i64>, Option<i64>)> = self
            .first_row(
                &format!("reading the head of log {skey}"),
                &self.st.log_head,
                (skey,),
            )
            .await?;
        let (epoch, last) = row.unwrap_or((None, None));
        Ok(Head {
            epoch: stored("epoch", epoch)?,
            last: stored("last_seq", last)?,
        })
    }

    /// The head a refused LWT reports (ScyllaDB answers with the row as it
    /// was); a serial read if the answer lacks the columns.
    async fn head_after(&self, skey: &str, lwt: &Lwt) -> Result<Head> {
        if lwt.has("epoch") && lwt.has("last_seq") {
            Ok(Head {
                epoch: stored("epoch", lwt.bigint("epoch")?)?,
                last: stored("last_seq", lwt.bigint("last_seq")?)?,
            })
        } else {
            self.head(skey).await
        }
    }

    /// The head a refused LWT reports, or a serial read without one.
    async fn head_for(&self, skey: &str, lwt: Option<&Lwt>) -> Result<Head> {
        match lwt {
            Some(lwt) => self.head_after(skey, lwt).await,
            None => self.head(skey).await,
        }
    }

    /// The error for a refused fenced write, from a fresh serial read when
    /// the answer did not explain it.
    async fn refused(
        &self,
        skey: &str,
        epoch: Epoch,
        events: &[StoredEvent],
        lwt: Option<&Lwt>,
    ) -> StoreError {
        let head = match self.head_for(skey, lwt).await {
            Ok(head) => head,
            Err(e) => return e,
        };
        refusal(skey, epoch, events, head).unwrap_or_else(|| {
            // The log changed between the refusal and the read (a new claim,
            // another append): nothing was written; the caller retries or
            // recovers.
            StoreError::Unavailable(format!(
                "ScyllaDB: append to {skey} was refused, yet the log's head now allows it"
            ))
        })
    }
}

#[async_trait]
impl EventLog for ScyllaStore {
    async fn claim(&self, key: &LogKey) -> Result<Epoch> {
        let skey = key.storage_key();
        let what = format!("claiming log {skey}");
        let mut current = self.head(&skey).await?.epoch;
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let next = current
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt(format!("epoch of {skey} is at its maximum")))?;
            let lwt = if current == 0 {
                self.lwt(&what, &self.st.claim_first, (1i64, 0i64, skey.as_str()))
                    .await?
            } else {
                let values = (
                    to_i64("epoch", next)?,
                    skey.as_str(),
                    to_i64("epoch", current)?,
                );
                self.lwt(&what, &self.st.claim_next, values).await?
            };
            if lwt.applied {
                return Ok(next);
            }
            // Another claimant won this round: try again above its epoch.
            current = if lwt.has("epoch") {
                stored("epoch", lwt.bigint("epoch")?)?
            } else {
                self.head(&skey).await?.epoch
            };
        }
        Err(StoreError::Unavailable(format!(
            "ScyllaDB: {what}: lost {MAX_CLAIM_ATTEMPTS} races in a row"
        )))
    }

    async fn append(&self, key: &LogKey, epoch: Epoch, events: &[StoredEvent]) -> Result<()> {
        let skey = key.storage_key();
        let Some(first) = events.first() else {
            // Nothing to write; still answer like a write: fenced or fine.
            return match refusal(&skey, epoch, events, self.head(&skey).await?) {
                Some(e) => Err(e),
                None => Ok(()),
            };
        };
        // Only a batch of consecutive seqs (from 1 up, fitting a bigint)
        // can apply; for any other the server's head says which refusal.
        let consecutive = events
            .iter()
            .zip(0u64..)
            .all(|(ev, i)| first.seq.checked_add(i) == Some(ev.seq));
        let bounds = (
            i64::try_from(epoch),
            i64::try_from(first.seq.wrapping_sub(1)),
            i64::try_from(first.seq.saturating_add(events.len() as u64 - 1)),
        );
        let (true, true, Ok(epoch_i), Ok(base), Ok(last)) =
            (consecutive, first.seq >= 1, bounds.0, bounds.1, bounds.2)
        else {
            return Err(self.refused(&skey, epoch, events, None).await);
        };

        let mut batch = Batch::new(BatchType::Logged);
        let mut values = Vec::with_capacity(events.len() + 1);
        batch.append_statement(self.st.append_fence.clone());
        values.push(AppendRow::Fence(last, &skey, epoch_i, base));
        for (ev, seq) in events.iter().zip(first.seq..) {
            batch.append_statement(self.st.append_event.clone());
            values.push(AppendRow::Event(&skey, to_i64("seq", seq)?, &ev.payload));
        }
        // A conditional batch: Paxos at LOCAL_SERIAL, commit at
        // LOCAL_QUORUM, never retried by the driver.
        batch.set_consistency(Consistency::LocalQuorum);
        batch.set_serial_consistency(Some(SerialConsistency::LocalSerial));
        batch.set_is_idempotent(false);
        let what = format!("appending {} events to {skey}", events.len());
        let result = self
            .session
            .batch(&batch, values)
            .await
            .map_err(|e| driver_error(&what, &e))?;
        let lwt = Lwt::parse(&what, result)?;
        if lwt.applied {
            return Ok(());
        }
        Err(self.refused(&skey, epoch, events, Some(&lwt)).await)
    }

    async fn read(&self, key: &LogKey, after: u64) -> Result<Vec<StoredEvent>> {
        let skey = key.storage_key();
        let Ok(after_i) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(Option<i64>, Option<Vec<u8>>)> = self
            .rows(
                &format!("reading log {skey}"),
                &self.st.read_events,
                (skey.as_str(), after_i),
            )
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        let mut want = after.saturating_add(1);
        for (seq, payload) in rows {
            // A row without a seq is the partition's static row alone.
            let Some(seq) = seq else { continue };
            let seq = to_u64("seq", seq)?;
            if seq != want {
                return Err(StoreError::Corrupt(format!(
                    "log {skey} has seq {seq} where {want} belongs"
                )));
            }
            events.push(StoredEvent {
                seq,
                // An empty blob may come back as null.
                payload: payload.unwrap_or_default(),
            });
            want = want.saturating_add(1);
        }
        Ok(events)
    }

    async fn last_seq(&self, key: &LogKey) -> Result<u64> {
        let skey = key.storage_key();
        let row: Option<(Option<i64>,)> = self
            .first_row(
                &format!("reading last_seq of {skey}"),
                &self.st.log_last_seq,
                (skey.as_str(),),
            )
            .await?;
        stored("last_seq", row.and_then(|(last,)| last))
    }

    async fn save_snapshot(&self, key: &LogKey, epoch: Epoch, snapshot: &Snapshot) -> Result<()> {
        let skey = key.storage_key();
        let (Ok(epoch_i), Ok(seq_i)) = (i64::try_from(epoch), i64::try_from(snapshot.seq)) else {
            return Err(self.snapshot_refused(&skey, epoch, snapshot, None).await);
        };
        let what = format!("saving a snapshot of {skey}");
        let values = (
            seq_i,
            snapshot.payload.as_slice(),
            skey.as_str(),
            epoch_i,
            seq_i,
        );
        let lwt = self.lwt(&what, &self.st.save_snapshot, values).await?;
        if lwt.applied {
            return Ok(());
        }
        Err(self
            .snapshot_refused(&skey, epoch, snapshot, Some(&lwt))
            .await)
    }

    async fn load_snapshot(&self, key: &LogKey) -> Result<Option<Snapshot>> {
        let skey = key.storage_key();
        let row: Option<(Option<i64>, Option<Vec<u8>>)> = self
            .first_row(
                &format!("loading the snapshot of {skey}"),
                &self.st.load_snapshot,
                (skey.as_str(),),
            )
            .await?;
        match row {
            Some((Some(seq), payload)) => Ok(Some(Snapshot {
                seq: to_u64("snapshot_seq", seq)?,
                payload: payload.unwrap_or_default(),
            })),
            _ => Ok(None),
        }
    }
}

impl ScyllaStore {
    /// Why a snapshot was refused: the fence, else the snapshot is ahead of
    /// the log (`SeqGap { expected: last_seq, got: snapshot.seq }`).
    async fn snapshot_refused(
        &self,
        skey: &str,
        epoch: Epoch,
        snapshot: &Snapshot,
        lwt: Option<&Lwt>,
    ) -> StoreError {
        let head = match self.head_for(skey, lwt).await {
            Ok(head) => head,
            Err(e) => return e,
        };
        if let Some(fenced) = refusal(skey, epoch, &[], head) {
            return fenced;
        }
        if head.last < snapshot.seq {
            return StoreError::SeqGap {
                key: skey.to_owned(),
                expected: head.last,
                got: snapshot.seq,
            };
        }
        StoreError::Unavailable(format!(
            "ScyllaDB: snapshot of {skey} was refused, yet the log's head now allows it"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evs(seqs: &[u64]) -> Vec<StoredEvent> {
        seqs.iter()
            .map(|&seq| StoredEvent {
                seq,
                payload: Vec::new(),
            })
            .collect()
    }

    fn head(epoch: Epoch, last: u64) -> Head {
        Head { epoch, last }
    }

    #[test]
    fn the_fence_comes_before_continuity() {
        let r = refusal("k", 1, &evs(&[5, 9]), head(2, 3));
        assert!(matches!(
            r,
            Some(StoreError::Fenced {
                current: 2,
                presented: 1,
                ..
            })
        ));
        // Never claimed: every epoch, even 0, is fenced.
        let r = refusal("k", 0, &evs(&[1]), head(0, 0));
        assert!(matches!(
            r,
            Some(StoreError::Fenced {
                current: 0,
                presented: 0,
                ..
            })
        ));
    }

    #[test]
    fn gaps_name_the_first_seq_out_of_place() {
        let gap = |events: &[u64], last: u64| match refusal("k", 7, &evs(events), head(7, last)) {
            Some(StoreError::SeqGap { expected, got, .. }) => Some((expected, got)),
            None => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(gap(&[2], 0), Some((1, 2)));
        assert_eq!(gap(&[0], 0), Some((1, 0)));
        assert_eq!(gap(&[5], 3), Some((4, 5)));
        assert_eq!(gap(&[3, 4], 3), Some((4, 3)));
        assert_eq!(gap(&[4, 6], 3), Some((5, 6)));
        assert_eq!(gap(&[4, 5], 3), None);
        assert_eq!(gap(&[], 3), None);
    }
}
