//! The commit queue: one writer thread that group-commits every write.
//!
//! Callers send a [`Request`] over a bounded channel and await its oneshot.
//! The writer blocks for the first request, then takes whatever else is
//! already queued (up to [`MAX_DRAIN`]): the requests that arrived while the
//! previous sync ran. It validates them one by one against the current state
//! plus the writes staged earlier in the same drain (the [`Drain`] overlay),
//! stages the valid ones into one fjall batch, commits that batch with a
//! single `fdatasync`, and only then answers everyone. A request that fails
//! validation stages nothing and gets its error; the others are unaffected.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use fjall::{OwnedWriteBatch, PersistMode};
use tokio::sync::{mpsc, oneshot};

use liveshop_protocol::RoomId;

use super::keys::{LogState, NEXT_ORDINAL, Table, Tables, fjall_err, u64_be};
use crate::{
    ChatLine, Epoch, LogKey, LotRecord, OrderRecord, PutOrder, RefreshFamily, Result, RoomRecord,
    Rotation, Snapshot, StoreError, StoredEvent, UserRecord,
};

/// Most requests folded into one batch. Bounds the latency of the first
/// request of a drain and the size of one journal write.
const MAX_DRAIN: usize = 4096;

/// Capacity of the request channel: beyond this, callers wait (asynchronously)
/// instead of queueing without bound.
pub(crate) const QUEUE_CAPACITY: usize = 8192;

/// The writer forgets its cached log states when it holds more than this many;
/// they are reloaded lazily from fjall, which is authoritative.
const LOG_CACHE_MAX: usize = 100_000;

/// A write, as the writer receives it.
pub(crate) enum Op {
    Claim(LogKey),
    Append {
        key: LogKey,
        epoch: Epoch,
        events: Vec<StoredEvent>,
    },
    SaveSnapshot {
        key: LogKey,
        epoch: Epoch,
        snapshot: Snapshot,
    },
    CreateUser(UserRecord),
    CreateFamily(RefreshFamily),
    Rotate {
        family: String,
        presented: String,
        next: String,
        expires_ms: u64,
        now_ms: u64,
    },
    RevokeFamily(String),
    CreateRoom(RoomRecord),
    ReplaceStreamKey {
        room: RoomId,
        new_key: String,
    },
    CreateLot(LotRecord),
    PutOrder(OrderRecord),
    AppendChat(ChatLine),
}

/// The writer's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    Done,
    Epoch(Epoch),
    Rotation(Rotation),
    PutOrder(PutOrder),
    Room(Option<RoomRecord>),
}

pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Reply>>,
}

/// What the writer has done since the store was opened, shared with the
/// store handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) requests: AtomicU64,
}

/// Settings the writer needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterConfig {
    pub(crate) chat_lines_per_room: usize,
}

/// The state that lives on the writer thread between drains.
pub(crate) struct Writer {
    pub(crate) tables: Tables,
    pub(crate) config: WriterConfig,
    /// Committed `(epoch, last seq)` of the logs touched recently.
    logs: HashMap<String, LogState>,
    /// Next value of the creation-order tie breaker (persisted in `meta`).
    next_ordinal: u64,
    /// Chat lines appended per room since the last trim (in memory only).
    pub(crate) chat_since_trim: HashMap<String, usize>,
    counters: Arc<Counters>,
}

/// Starts the writer thread.
pub(crate) fn spawn(
    tables: Tables,
    config: WriterConfig,
    counters: Arc<Counters>,
) -> Result<(mpsc::Sender<Request>, JoinHandle<()>)> {
    let next_ordinal = match tables
        .ks(Table::Meta)
        .get(NEXT_ORDINAL)
        .map_err(|e| fjall_err("reading next ordinal", e))?
    {
        Some(v) => u64_be("next ordinal", &v)?,
        None => 0,
    };
    let mut writer = Writer {
        tables,
        config,
        logs: HashMap::new(),
        next_ordinal,
        chat_since_trim: HashMap::new(),
        counters,
    };
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let handle = std::thread::Builder::new()
        .name("liveshop-store-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::Unavailable(format!("starting the store writer thread: {e}")))?;
    Ok((tx, handle))
}

impl Writer {
    /// Runs until every sender is gone and the queue is empty, so a dropped
    /// store still answers (and persists) everything it had accepted.
    fn run(&mut self, mut rx: mpsc::Receiver<Request>) {
        let mut requests = Vec::with_capacity(64);
        while let Some(first) = rx.blocking_recv() {
            requests.push(first);
            while requests.len() < MAX_DRAIN {
                match rx.try_recv() {
                    Ok(r) => requests.push(r),
                    Err(_) => break,
                }
            }
            self.commit(&mut requests);
        }
    }

    /// Validates, stages, commits with one sync and answers a drain.
    fn commit(&mut self, requests: &mut Vec<Request>) {
        if self.logs.len() > LOG_CACHE_MAX {
            self.logs.clear();
        }
        if self.chat_since_trim.len() > LOG_CACHE_MAX {
            self.chat_since_trim.clear();
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = requests.drain(..).map(|r| (r.op, r.reply)).unzip();
        let mut drain = Drain::new(self.tables.clone(), self.next_ordinal);
        let outcomes: Vec<Result<Reply>> = ops
            .into_iter()
            .map(|op| self.apply(&mut drain, op))
            .collect();

        match drain.finish(&mut self.logs) {
            Ok(next_ordinal) => {
                self.next_ordinal = next_ordinal;
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .requests
                    .fetch_add(replies.len() as u64, Ordering::Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // The caller may have gone away (cancelled); the write
                    // stands regardless.
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                // The batch may or may not be in the journal: every request
                // of the drain (even one that failed validation against
                // writes that are now uncertain) gets the commit's error,
                // normally `Unavailable`.
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }

    fn apply(&mut self, d: &mut Drain, op: Op) -> Result<Reply> {
        match op {
            Op::Claim(key) => self.claim(d, &key),
            Op::Append { key, epoch, events } => self.append(d, &key, epoch, events),
            Op::SaveSnapshot {
                key,
                epoch,
                snapshot,
            } => self.save_snapshot(d, &key, epoch, &snapshot),
            Op::CreateUser(u) => self.create_user(d, &u),
            Op::CreateFamily(f) => self.create_family(d, &f),
            Op::Rotate {
                family,
                presented,
                next,
                expires_ms,
                now_ms,
            } => self.rotate(d, &family, &presented, next, expires_ms, now_ms),
            Op::RevokeFamily(f) => self.revoke_family(d, &f),
            Op::CreateRoom(r) => self.create_room(d, &r),
            Op::ReplaceStreamKey { room, new_key } => self.replace_stream_key(d, &room, &new_key),
            Op::CreateLot(l) => self.create_lot(d, &l),
            Op::PutOrder(o) => self.put_order(d, &o),
            Op::AppendChat(c) => self.append_chat(d, &c),
        }
    }

    /// The state of a log as this drain sees it: staged changes first, then
    /// the committed cache, then fjall (loaded lazily; fjall holds no
    /// uncommitted write of ours, so what it returns is the committed state).
    pub(crate) fn log_state(&mut self, d: &Drain, skey: &str) -> Result<LogState> {
        if let Some(s) = d.logs.get(skey) {
            return Ok(*s);
        }
        if let Some(s) = self.logs.get(skey) {
            return Ok(*s);
        }
        let state = match self
            .tables
            .ks(Table::Logs)
            .get(skey.as_bytes())
            .map_err(|e| fjall_err(&format!("reading log state of {skey}"), e))?
        {
            Some(v) => LogState::decode(&v)?,
            None => LogState::default(),
        };
        self.logs.insert(skey.to_owned(), state);
        Ok(state)
    }
}

/// The writes staged during one drain and the overlay that lets later
/// requests of the drain see them.
pub(crate) struct Drain {
    /// Its own handles (cheap clones), so handlers may borrow the writer
    /// mutably while the drain is open.
    tables: Tables,
    batch: OwnedWriteBatch,
    /// `None` marks a staged removal.
    overlay: HashMap<(Table, Vec<u8>), Option<Vec<u8>>>,
    /// Log states changed by this drain; merged into the cache on commit.
    pub(crate) logs: HashMap<String, LogState>,
    next_ordinal: u64,
    ordinal_used: bool,
}

impl Drain {
    fn new(tables: Tables, next_ordinal: u64) -> Self {
        let batch = tables.db.batch().durability(Some(PersistMode::SyncData));
        Self {
            tables,
            batch,
            overlay: HashMap::new(),
            logs: HashMap::new(),
            next_ordinal,
            ordinal_used: false,
        }
    }

    /// A value as this drain sees it.
    pub(crate) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(staged) = self.overlay.get(&(table, key.to_vec())) {
            return Ok(staged.clone());
        }
        self.tables
            .ks(table)
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| fjall_err("reading before a write", e))
    }

    pub(crate) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.batch
            .insert(self.tables.ks(table), key.clone(), value.clone());
        self.overlay.insert((table, key), Some(value));
    }

    /// Stages a write that no later request of the drain reads back through
    /// [`Drain::get`] (event payloads, index entries, chat lines), so it
    /// skips the overlay copy.
    pub(crate) fn put_blind(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(self.tables.ks(table), key, value);
    }

    /// Stages a removal no later request reads back (chat trimming).
    pub(crate) fn remove_blind(&mut self, table: Table, key: Vec<u8>) {
        self.batch.remove(self.tables.ks(table), key);
    }

    pub(crate) fn set_log(&mut self, skey: String, state: LogState) {
        // Read back through `logs` (and the writer's cache), not the overlay.
        self.put_blind(
            Table::Logs,
            skey.clone().into_bytes(),
            state.encode().to_vec(),
        );
        self.logs.insert(skey, state);
    }

    /// The next creation-order tie breaker.
    pub(crate) fn ordinal(&mut self) -> u64 {
        let n = self.next_ordinal;
        self.next_ordinal += 1;
        self.ordinal_used = true;
        n
    }

    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Commits the staged writes with one sync. On success merges the log
    /// states into `cache` and returns the next ordinal.
    fn finish(mut self, cache: &mut HashMap<String, LogState>) -> Result<u64> {
        if self.ordinal_used {
            let v = self.next_ordinal.to_be_bytes().to_vec();
            self.put_blind(Table::Meta, NEXT_ORDINAL.to_vec(), v);
        }
        if !self.batch.is_empty() {
            // One journal write and one fdatasync for the whole drain; fjall
            // applies the batch to the memtables (makes it readable) only
            // after the sync succeeded.
            self.batch
                .commit()
                .map_err(|e| fjall_err("committing a write batch", e))?;
        }
        cache.extend(self.logs);
        Ok(self.next_ordinal)
    }
}
