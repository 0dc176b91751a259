//! The ScyllaDB backend: the production store, shared by every node of a
//! cluster. Schema: `config/schema.cql` (embedded; [`ScyllaStore::migrate`]
//! applies it).
//!
//! # Table layout
//! All tables live in one keyspace ([`ScyllaOptions::keyspace`], default
//! `liveshop`); statements name them fully qualified (`<keyspace>.<table>`),
//! so a session never needs `USE`. Records are MessagePack with field names
//! (`rmp_serde::to_vec_named`) in a `record` blob; the columns next to it are
//! only the keys the store looks up, orders by or conditions on.
//!
//! | table              | primary key                            | holds |
//! |--------------------|----------------------------------------|-------|
//! | `event_log`        | `(log_key), seq`                       | `payload`; STATIC `epoch`, `last_seq`, `snapshot_seq`, `snapshot` |
//! | `users`            | `(user_id)`                            | `username`, `record` |
//! | `usernames`        | `(username)`                           | `user_id`, `claimed_ms`, `complete` |
//! | `refresh_families` | `(family_id)`                          | `user_id`, `current_hash`, `expires_ms`, `revoked` |
//! | `rooms`            | `(room_id)`                            | `stream_key`, `created_ms`, `record` |
//! | `room_keys`        | `(stream_key)`                         | `room_id` |
//! | `lots`             | `(lot_id)`                             | `record` |
//! | `lots_by_room`     | `(room_id), created_ms, lot_id`        | - |
//! | `orders`           | `(order_id)`                           | `record` |
//! | `order_idem`       | `((buyer_id, idem_key))`               | `order_id`, `record` |
//! | `orders_by_buyer`  | `(buyer_id), created_ms, order_id`     | - |
//! | `orders_by_seller` | `(seller_id), created_ms, order_id`    | - |
//! | `chat`             | `((room_id, day)), at_ms DESC, line_id DESC` | `record` (TTL 30 days) |
//! | `chat_days`        | `(room_id), day DESC`                  | - (TTL 30 days) |
//!
//! `log_key` is [`crate::LogKey::storage_key`] (`lot/<id>`, `room/<id>`), so a
//! log's events, fence and newest snapshot are one partition: an append is
//! one conditional batch on it (`UPDATE ... SET last_seq IF epoch = ? AND
//! last_seq = ?` plus the `INSERT`s of the events), a snapshot one
//! conditional update (`IF epoch = ? AND last_seq >= ?`), a claim one
//! conditional update of `epoch` (`IF epoch = NULL` the first time, `IF
//! epoch = ?` after, retried with the epoch the refusal reports). A rejected
//! LWT reports the partition's epoch and last seq in its answer, which turns
//! into `Fenced` (checked first) or `SeqGap`. Every write to an LWT-managed
//! partition goes through LWT: mixing plain writes into a partition that
//! Paxos manages would break its linearizability. Room logs live in one
//! partition each too; a room that stays live for months grows one large
//! partition (v1: fine for rooms that end).
//!
//! # Consistency and retries
//! Reads and writes run at `LOCAL_QUORUM`, LWTs with serial consistency
//! `LOCAL_SERIAL` (their commit at `LOCAL_QUORUM`), so with RF 3 an
//! acknowledged write is on two replicas of the local datacenter (ScyllaDB
//! syncs the commitlog of LWT writes before answering). The reads that
//! decide a fence after an ambiguous answer are `LOCAL_SERIAL`. Routing is
//! token-aware (`DefaultPolicy`, optionally preferring
//! [`ScyllaOptions::local_datacenter`]). Every statement is prepared once in
//! [`ScyllaStore::connect`]. Plain reads and upserts are marked idempotent,
//! so the driver may retry them on another node; LWTs and batches are not,
//! so a timeout surfaces as [`StoreError::Timeout`] (the write may or may not
//! have happened) and the caller recovers, like after a crash.
//! `Overloaded` and rate-limit refusals become [`StoreError::Overloaded`]
//! (nothing written); other server errors `Unavailable`.
//!
//! # Multi-step writes and crashes
//! ScyllaDB has no transactions across partitions, so each create that
//! touches several is ordered so that a crash between two steps never loses
//! or duplicates an acknowledged result (the call answers only after its last
//! step):
//! - `create_user`: claim the username (LWT, `complete = false`), insert the
//!   user (LWT), then mark the claim complete (LWT `IF user_id = ?`). Readers
//!   only follow complete claims. A claim a crash left incomplete blocks the
//!   name until it is older than [`ScyllaOptions::stale_claim_after`]; then a
//!   new registration takes it over (`IF user_id = :old AND complete =
//!   false`), and the crashed creator's completion, if it ever runs, fails,
//!   so it answers `Conflict` instead of acknowledging a user without a name.
//! - `create_room` (`catalog.rs`): claim the stream key (LWT), then insert the room (LWT);
//!   a room-id conflict releases the key. A crash between leaves an unused,
//!   random stream key claimed: harmless.
//! - `replace_stream_key` (`catalog.rs`): claim the new key (LWT), then
//!   switch the room's record to it (LWT `IF stream_key = :old`). A crash
//!   between leaves the new key reserved to the room, unused: harmless. The
//!   old key's claim is never released (it stays reserved to the room).
//! - `create_lot`, `put_order`: index rows first (idempotent upserts), the
//!   record last (LWT); listings skip index rows without a matching record.
//! - `put_order` with an idempotency key claims `(buyer, key)` first with the
//!   whole record in the claim, so whoever finds the claim (a retry, a
//!   concurrent duplicate, the lot actor re-recording orders) finishes that
//!   order instead of making another.
//! - `append_chat`: the room's day row, then the line.
//!
//! Listing every room is a full scan of `rooms` sorted in memory (v1).
//! Paged reads use the driver's pager, so long logs and listings stream.

mod catalog;
mod errors;
mod log;
mod orders;
mod records;
mod schema;
mod statements;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures_util::TryStreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::pager::TypedRowStream;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::retry::DefaultRetryPolicy;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, StoreError};
pub(crate) use errors::{Lwt, driver_error};
use statements::Statements;

/// Point reads a listing runs at once.
const FETCH_CONCURRENCY: usize = 32;

/// Settings of a [`ScyllaStore`].
#[derive(Debug, Clone)]
pub struct ScyllaOptions {
    /// Contact points, `host:port` (e.g. `127.0.0.1:9042`); the driver
    /// discovers the other nodes from them.
    pub known_nodes: Vec<String>,
    /// The keyspace holding every table (letters, digits, `_`; at most 48).
    pub keyspace: String,
    /// Prefer (and stay in) this datacenter; `None` treats every node as
    /// local.
    pub local_datacenter: Option<String>,
    /// The replication factor [`ScyllaStore::migrate`] creates the keyspace
    /// with (`NetworkTopologyStrategy`); an existing keyspace is left as is.
    pub replication_factor: u32,
    /// How long one request may take before it fails with
    /// [`StoreError::Timeout`].
    pub request_timeout: Duration,
    /// How long connecting to a node may take.
    pub connection_timeout: Duration,
    /// Fetch the keyspace's schema metadata (replication, partitioner), which
    /// token-aware routing needs; without it every request goes to any node,
    /// which then forwards it (correct, one hop slower). Off for tests that
    /// forge a node and answer no schema queries.
    pub fetch_schema_metadata: bool,
    /// How old an incomplete username claim (its creator crashed) must be
    /// before another registration may take the name over.
    pub stale_claim_after: Duration,
}

impl Default for ScyllaOptions {
    fn default() -> Self {
        Self {
            known_nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "liveshop".into(),
            local_datacenter: None,
            replication_factor: 3,
            request_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(5),
            fetch_schema_metadata: true,
            stale_claim_after: Duration::from_secs(60),
        }
    }
}

impl ScyllaOptions {
    /// Default options with the contact points of `uri`, a comma-separated
    /// `host:port` list (the form of `SCYLLA_URI`).
    pub fn from_uri(uri: &str) -> Self {
        Self {
            known_nodes: uri
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Self::default()
        }
    }
}

/// The ScyllaDB-backed [`crate::Store`].
pub struct ScyllaStore {
    session: Arc<Session>,
    st: Statements,
    options: ScyllaOptions,
    /// With `chat_counter`, makes chat line ids unique across writers and
    /// ordered per writer (see `orders.rs`).
    writer_id: u64,
    chat_counter: AtomicU64,
}

impl fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.options.keyspace)
            .field("known_nodes", &self.options.known_nodes)
            .finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Connects and prepares every statement. The keyspace and its tables
    /// must exist ([`ScyllaStore::migrate`]); a missing table fails here.
    pub async fn connect(options: ScyllaOptions) -> Result<Self> {
        let session = open_session(&options).await?;
        let st = Statements::prepare(&session, &options.keyspace).await?;
        Ok(Self {
            session: Arc::new(session),
            st,
            options,
            writer_id: errors::random_u64(),
            chat_counter: AtomicU64::new(0),
        })
    }

    /// Creates the keyspace (if missing, with
    /// [`ScyllaOptions::replication_factor`]) and every table of
    /// `config/schema.cql` in [`ScyllaOptions::keyspace`]. Safe to repeat:
    /// every statement is `IF NOT EXISTS`.
    pub async fn migrate(options: &ScyllaOptions) -> Result<()> {
        let session = open_session(options).await?;
        schema::apply(&session, options).await
    }

    /// The CQL text of every prepared statement, in preparation order.
    pub fn statement_texts(&self) -> Vec<String> {
        self.st
            .all()
            .into_iter()
            .map(|p| p.get_statement().to_owned())
            .collect()
    }

    /// The options this store was connected with.
    pub fn options(&self) -> &ScyllaOptions {
        &self.options
    }

    /// Runs a statement whose answer has at most one interesting row.
    async fn first_row<T>(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<T>>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        let result = self
            .session
            .execute_unpaged(st, values)
            .await
            .map_err(|e| driver_error(what, &e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| unexpected(what, &e))?;
        rows.maybe_first_row::<T>()
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }

    /// Runs a plain write (no answer rows).
    async fn write(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<()> {
        self.session
            .execute_unpaged(st, values)
            .await
            .map_err(|e| driver_error(what, &e))?;
        Ok(())
    }

    /// Runs an LWT and reads its `[applied]` answer.
    async fn lwt(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Lwt> {
        let result = self
            .session
            .execute_unpaged(st, values)
            .await
            .map_err(|e| driver_error(what, &e))?;
        Lwt::parse(what, result)
    }

    /// The rows of a paged read as a stream, fetched page by page as it is
    /// consumed.
    async fn row_stream<T>(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<TypedRowStream<T>>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm> + 'static,
    {
        let pager = self
            .session
            .execute_iter(st.clone(), values)
            .await
            .map_err(|e| driver_error(what, &e))?;
        pager
            .rows_stream::<T>()
            .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }

    /// Every row of a paged read, fetched page by page; `stop` ends the read
    /// early once it returns true for the rows so far.
    async fn rows_until<T>(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
        stop: impl Fn(&[T]) -> bool,
    ) -> Result<Vec<T>>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm> + 'static,
    {
        let mut stream = self.row_stream::<T>(what, st, values).await?;
        let mut out = Vec::new();
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(|e| driver_error(what, &e))?
        {
            out.push(row);
            if stop(&out) {
                break;
            }
        }
        Ok(out)
    }

    async fn rows<T>(
        &self,
        what: &str,
        st: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<T>>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm> + 'static,
    {
        self.rows_until(what, st, values, |_| false).await
    }
}

/// A session with the store's execution profile: token-aware routing,
/// `LOCAL_QUORUM`, `LOCAL_SERIAL`, the request timeout, the default retry
/// policy (which retries only idempotent statements, except for
/// `Unavailable` and bootstrapping nodes, where nothing was attempted).
async fn open_session(options: &ScyllaOptions) -> Result<Session> {
    schema::check_keyspace_name(&options.keyspace)?;
    if options.known_nodes.is_empty() {
        return Err(StoreError::Unavailable(
            "ScyllaDB: no known nodes to connect to".into(),
        ));
    }
    let mut policy = DefaultPolicy::builder()
        .token_aware(true)
        .permit_dc_failover(false);
    if let Some(dc) = &options.local_datacenter {
        policy = policy.prefer_datacenter(dc.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(options.request_timeout))
        .load_balancing_policy(policy.build())
        .retry_policy(Arc::new(DefaultRetryPolicy::new()))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&options.known_nodes)
        .connection_timeout(options.connection_timeout)
        .default_execution_profile_handle(profile.into_handle())
        .fetch_schema_metadata(options.fetch_schema_metadata)
        // Routing needs only keyspaces, tables and partitioners, not
        // columns or types; and only this keyspace.
        .fetch_full_schema_metadata(false);
    if options.fetch_schema_metadata {
        builder = builder.keyspaces_to_fetch([options.keyspace.clone()]);
    }
    let session = builder.build().await.map_err(|e| {
        StoreError::Unavailable(format!(
            "ScyllaDB: connecting to {:?}: {e}",
            options.known_nodes
        ))
    })?;
    let cluster = session.get_cluster_state();
    let datacenters: BTreeSet<&str> = cluster
        .get_nodes_info()
        .iter()
        .filter_map(|n| n.datacenter.as_deref())
        .collect();
    check_datacenter(&datacenters, options.local_datacenter.as_deref())?;
    Ok(session)
}

/// `LOCAL_SERIAL` runs Paxos among the replicas of the coordinator's
/// datacenter only: on a cluster spanning datacenters, coordinators in two of
/// them would each fence on their own quorum, and two owners could both
/// write. So such a cluster needs a named datacenter every request stays in.
fn check_datacenter(datacenters: &BTreeSet<&str>, local: Option<&str>) -> Result<()> {
    match local {
        None if datacenters.len() > 1 => Err(StoreError::Unavailable(format!(
            "ScyllaDB: the cluster spans datacenters {datacenters:?}; set the local \
             datacenter (scylla.datacenter) so LOCAL_SERIAL fences within one"
        ))),
        Some(dc) if !datacenters.is_empty() && !datacenters.contains(dc) => {
            Err(StoreError::Unavailable(format!(
                "ScyllaDB: datacenter {dc:?} is not in the cluster (it has {datacenters:?})"
            )))
        }
        _ => Ok(()),
    }
}

fn unexpected(what: &str, e: &dyn std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("ScyllaDB: {what}: unexpected answer: {e}"))
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Corrupt(format!("encoding {what}: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, key: &str, bytes: &[u8]) -> Result<T> {
    rmp_serde::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("decoding {what} {key}: {e}")))
}

/// A u64 (seq, epoch, timestamp) as the `bigint` it is stored as.
fn to_i64(what: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} does not fit a bigint")))
}

/// A stored `bigint` back as the u64 it was written from.
fn to_u64(what: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("stored {what} is negative: {v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_spanning_datacenters_needs_a_named_local_one() {
        let one: BTreeSet<&str> = ["dc1"].into();
        let two: BTreeSet<&str> = ["dc1", "dc2"].into();
        assert!(check_datacenter(&one, None).is_ok());
        assert!(check_datacenter(&one, Some("dc1")).is_ok());
        assert!(check_datacenter(&two, Some("dc2")).is_ok());
        let err = check_datacenter(&two, None).unwrap_err();
        assert!(err.to_string().contains("scylla.datacenter"), "{err}");
        let err = check_datacenter(&one, Some("dc9")).unwrap_err();
        assert!(err.to_string().contains("dc9"), "{err}");
    }
}
