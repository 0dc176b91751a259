//! The embedded backend: one fjall database in a data directory, the
//! single-node default.
//!
//! # Durability and the commit queue
//! Every write (claims included) goes to one writer thread over a bounded
//! channel and is answered through a oneshot once it is on disk. The writer
//! drains everything queued, checks each request against the current state
//! (epoch fence, seq continuity, unique keys, refresh-token hash) in arrival
//! order, each request seeing the writes of the ones before it, stages the
//! valid ones into ONE fjall write batch and commits it with
//! `PersistMode::SyncData` (one `fdatasync` of the journal). Requests that
//! arrive during that sync form the next batch, so durable throughput is
//! syncs/s x batch size across all logs, not syncs/s per log. A request that
//! fails validation stages nothing and gets its own error; if the commit
//! itself fails, every request of the drain gets `Unavailable` (fjall then
//! refuses further writes: the process should restart and recover).
//! Because only the writer writes, its checks cannot race: two concurrent
//! creates of one username, two claims, two rotations are serialised.
//!
//! The writer caches each touched log's `(epoch, last seq)` (loaded lazily
//! from the `logs` keyspace, updated only after a successful commit).
//!
//! Dropping the store closes the channel; the writer answers and commits
//! everything already queued, then exits, and the drop joins it.
//!
//! # Reads
//! Reads go straight to fjall, not through the writer, on tokio's blocking
//! pool (`spawn_blocking`): usually they hit the memtable or block cache, but
//! a cache miss is a disk read and must not stall a runtime worker. A read
//! sees every acknowledged write (fjall makes a batch visible before the
//! writer answers) and never half a batch. Multi-key reads use one fjall
//! snapshot.
//!
//! # Key layout
//! One fjall keyspace per table. `id` are protocol ids (printable ASCII,
//! never 0x00), `\0` separates an owner from the rest of a composite key,
//! numbers are u64 big-endian so keys sort numerically. Records are
//! MessagePack with field names (`rmp_serde::to_vec_named`).
//!
//! | keyspace        | key                                   | value                      |
//! |-----------------|---------------------------------------|----------------------------|
//! | `logs`          | `storage_key` (`lot/<id>`, `room/<id>`) | `[epoch BE][last seq BE]` |
//! | `events`        | `storage_key \0 seq`                  | payload bytes as given     |
//! | `snapshots`     | `storage_key`                         | `Snapshot` (newest only)   |
//! | `users`         | `user_id`                             | `UserRecord`               |
//! | `user_names`    | `username`                            | `user_id`                  |
//! | `families`      | `family`                              | `RefreshFamily`            |
//! | `rooms`         | `room_id`                             | `RoomRecord`               |
//! | `room_keys`     | `stream_key`                          | `room_id`                  |
//! | `rooms_by_time` | `created_ms ordinal`                  | `room_id`                  |
//! | `lots`          | `lot_id`                              | `LotRecord`                |
//! | `room_lots`     | `room_id \0 created_ms ordinal`       | `lot_id`                   |
//! | `orders`        | `order_id`                            | `OrderRecord`              |
//! | `order_idem`    | `buyer \0 idem`                       | `order_id`                 |
//! | `buyer_orders`  | `buyer \0 created_ms ordinal`         | `order_id`                 |
//! | `seller_orders` | `seller \0 created_ms ordinal`        | `order_id`                 |
//! | `chat`          | `room_id \0 at_ms ordinal`            | `ChatLine`                 |
//! | `meta`          | `next_ordinal`                        | u64 BE                     |
//!
//! `ordinal` is a store-wide counter the writer hands out (persisted in
//! `meta` in the same batch), so "oldest first" lists sort by time and then
//! by creation order. A log's last seq is kept in `logs` next to its epoch
//! (rather than derived from the newest event key) so the fence check is one
//! point read and old events could later be pruned below a snapshot.
//!
//! Chat is trimmed: each room keeps about the newest
//! [`EmbeddedOptions::chat_lines_per_room`] lines (see `apply.rs`).
//! Free-form strings used as keys (username, stream key, family id) longer
//! than 4 KiB are refused with `Unavailable`.

mod apply;
mod keys;
mod read;
mod store;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};
use keys::{Tables, fjall_err};
use writer::{Counters, Op, Reply, Request, WriterConfig};

/// Tuning of an [`EmbeddedStore`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Chat lines kept per room (about; older ones are trimmed in steps).
    pub chat_lines_per_room: usize,
    /// How much of one table's writes fjall keeps in memory before it
    /// flushes them to a segment file. fjall's default (64 MiB) times the
    /// store's 17 tables let a busy node's RSS climb past 1 GiB before the
    /// first flush; a few MiB still batch each flush well at our write
    /// rates.
    pub memtable_bytes: u64,
    /// fjall's block cache (reads of flushed data), shared by all tables.
    pub cache_bytes: u64,
}

/// [`EmbeddedOptions::memtable_bytes`] by default: 8 MiB.
const DEFAULT_MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// [`EmbeddedOptions::cache_bytes`] by default: 32 MiB (fjall's own).
const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            chat_lines_per_room: 10_000,
            memtable_bytes: DEFAULT_MEMTABLE_BYTES,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// Counts of the commit queue since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Drains committed (each one write batch and one sync, if it wrote).
    pub commits: u64,
    /// Write requests answered by those commits.
    pub requests: u64,
}

/// The fjall-backed [`crate::Store`].
pub struct EmbeddedStore {
    path: PathBuf,
    tables: Tables,
    counters: Arc<Counters>,
    /// `None` only while dropping.
    queue: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in the directory `path`, recovering what
    /// a crash left. Fails with `Unavailable` if another process has it open.
    /// Blocking (it replays the journal): call it at start-up, or from
    /// `spawn_blocking`, not from a busy runtime worker.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, EmbeddedOptions::default())
    }

    /// [`EmbeddedStore::open`] with non-default options.
    pub fn open_with(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let db = fjall::Database::builder(&path)
            .cache_size(options.cache_bytes)
            .open()
            .map_err(|e| fjall_err(&format!("opening {}", path.display()), e))?;
        let tables = Tables::open(db, options.memtable_bytes)?;
        let counters = Arc::new(Counters::default());
        let (queue, writer) = writer::spawn(
            tables.clone(),
            WriterConfig {
                chat_lines_per_room: options.chat_lines_per_room,
            },
            counters.clone(),
        )?;
        Ok(Self {
            path,
            tables,
            counters,
            queue: Some(queue),
            writer: Some(writer),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How well the commit queue is batching: `requests / commits` is the
    /// average group size.
    pub fn stats(&self) -> EmbeddedStats {
        EmbeddedStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// Queues a write and waits until it is durable (or refused).
    async fn submit(&self, op: Op) -> Result<Reply> {
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("store is shutting down".into()))?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Request { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("store writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable(
                "store writer stopped before answering; the write may or may not have happened"
                    .into(),
            )
        })?
    }

    async fn submit_done(&self, op: Op) -> Result<()> {
        match self.submit(op).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Runs a read on the blocking pool with its own table handles.
    async fn on_pool<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tables) -> Result<T> + Send + 'static,
    {
        let tables = self.tables.clone();
        tokio::task::spawn_blocking(move || f(&tables))
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }
}

fn unexpected(reply: Reply) -> StoreError {
    StoreError::Unavailable(format!("store writer gave an unexpected answer: {reply:?}"))
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued and exit;
        // joining makes sure the database is closed (and its lock released)
        // when the drop returns, so the directory can be reopened at once.
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatHistory, ChatLine, EventLog, LogKey, StoredEvent};
    use liveshop_protocol::{LotId, RoomId, UserId};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_to_many_logs_share_syncs() {
        const LOGS: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let keys: Vec<LogKey> = (0..LOGS)
            .map(|i| LogKey::Lot(LotId::new(format!("gc-{i}")).unwrap()))
            .collect();
        let mut epochs = Vec::new();
        for k in &keys {
            epochs.push(store.claim(k).await.unwrap());
        }
        let before = store.stats();
        let appends = keys.iter().zip(&epochs).map(|(k, e)| {
            let events = [StoredEvent {
                seq: 1,
                payload: vec![7; 100],
            }];
            let store = &store;
            async move { store.append(k, *e, &events).await }
        });
        for r in crate::conformance::join_all(appends.collect()).await {
            r.unwrap();
        }
        let after = store.stats();
        let requests = after.requests - before.requests;
        let commits = after.commits - before.commits;
        assert_eq!(requests, LOGS as u64);
        // All 200 are queued within microseconds while a sync takes far
        // longer, so they share a handful of syncs, not one each.
        assert!(
            commits * 2 <= requests,
            "{commits} commits for {requests} appends"
        );
    }

    #[tokio::test]
    async fn chat_is_trimmed_to_about_the_configured_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with(
            dir.path(),
            EmbeddedOptions {
                chat_lines_per_room: 40,
                ..EmbeddedOptions::default()
            },
        )
        .unwrap();
        let room = RoomId::new("trim-room").unwrap();
        for i in 0..200u64 {
            let line = ChatLine {
                room_id: room.clone(),
                user: UserId::new("u").unwrap(),
                name: "u".into(),
                text: format!("line {i}"),
                at_ms: 1_000 + i,
            };
            store.append_chat(&line).await.unwrap();
        }
        let all = store.recent_chat(&room, 1_000).await.unwrap();
        // 40 kept plus at most one trim interval (40 / 20 = 2) of newer ones.
        assert!((40..=42).contains(&all.len()), "kept {} lines", all.len());
        assert_eq!(all.last().map(|l| l.text.as_str()), Some("line 199"));
    }

    /// Appends `batches` batches of 64 events of 1 KiB to one lot's log.
    async fn write_events(store: &EmbeddedStore, batches: u64) {
        let key = LogKey::Lot(LotId::new("memtable-lot").unwrap());
        let epoch = store.claim(&key).await.unwrap();
        for b in 0..batches {
            let events: Vec<StoredEvent> = (1..=64)
                .map(|i| StoredEvent {
                    seq: b * 64 + i,
                    payload: vec![b as u8; 1024],
                })
                .collect();
            store.append(&key, epoch, &events).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_table_flushes_its_writes_once_they_pass_the_memtable_size() {
        // 4 MiB of events: past a 512 KiB memtable several times, within
        // the default's 8 MiB.
        let small = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_with(
            small.path(),
            EmbeddedOptions {
                memtable_bytes: 512 * 1024,
                ..EmbeddedOptions::default()
            },
        )
        .unwrap();
        write_events(&store, 64).await;
        let events = store.tables.ks(keys::Table::Events);
        // Flushes run in fjall's background workers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while events.table_count() == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(events.table_count() > 0, "nothing flushed");

        let default = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(default.path()).unwrap();
        write_events(&store, 64).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let events = store.tables.ks(keys::Table::Events);
        assert_eq!(events.table_count(), 0, "flushed below the default size");
    }
}
