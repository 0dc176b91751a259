//! Every CQL statement the store runs, prepared once at connect.
//!
//! `{ks}` in a text is replaced by the keyspace (checked to be a plain
//! identifier), so statements are fully qualified and need no `USE`. Each
//! statement has a kind that fixes its consistency and idempotence:
//! - `read`: `LOCAL_QUORUM`, idempotent (the driver may retry it elsewhere);
//! - `SerialRead`: `LOCAL_SERIAL`, a linearizable read that also completes
//!   any Paxos round left in flight on the partition; idempotent;
//! - `Upsert`: a plain write at `LOCAL_QUORUM` that writes the same cells
//!   whenever it is repeated; idempotent;
//! - `Lwt`: a conditional write, `LOCAL_SERIAL` for Paxos and
//!   `LOCAL_QUORUM` for its commit; NOT idempotent (a retry after a timeout
//!   could apply twice or answer for the first attempt), so the driver never
//!   retries it and a timeout reaches the caller;
//! - `BatchPart`: a statement only ever sent inside the append batch, which
//!   carries its own settings (see `log.rs`).

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

use super::driver_error;
use crate::Result;

/// How a statement runs (see the module doc).
#[derive(Clone, Copy)]
enum Kind {
    Read,
    SerialRead,
    Upsert,
    Lwt,
    BatchPart,
}

fn set_kind(st: &mut PreparedStatement, kind: Kind) {
    match kind {
        Kind::Read | Kind::Upsert => {
            st.set_consistency(Consistency::LocalQuorum);
            st.set_is_idempotent(true);
        }
        Kind::SerialRead => {
            st.set_consistency(Consistency::LocalSerial);
            st.set_is_idempotent(true);
        }
        Kind::Lwt | Kind::BatchPart => {
            st.set_consistency(Consistency::LocalQuorum);
            st.set_serial_consistency(Some(SerialConsistency::LocalSerial));
            st.set_is_idempotent(false);
        }
    }
}

macro_rules! statements {
    ($( $(#[$doc:meta])* $name:ident: $kind:ident => $text:expr; )*) => {
        /// The prepared statements, one field each.
        pub(super) struct Statements {
            $( $(#[$doc])* pub $name: PreparedStatement, )*
        }

        /// Every statement's text, `{ks}` not yet replaced.
        #[cfg(test)]
        pub(super) const TEXTS: &[&str] = &[$( $text ),*];

        impl Statements {
            pub async fn prepare(session: &Session, keyspace: &str) -> Result<Self> {
                Ok(Self {
                    $( $name: prepare(session, keyspace, $text, Kind::$kind).await?, )*
                })
            }

            /// Every statement, in declaration order.
            pub fn all(&self) -> Vec<&PreparedStatement> {
                vec![$( &self.$name ),*]
            }
        }
    };
}

async fn prepare(
    session: &Session,
    keyspace: &str,
    text: &str,
    kind: Kind,
) -> Result<PreparedStatement> {
    let text = text.replace("{ks}", keyspace);
    let mut st = session
        .prepare(text.as_str())
        .await
        .map_err(|e| driver_error(&format!("preparing `{text}`"), &e))?;
    set_kind(&mut st, kind);
    Ok(st)
}

statements! {
    // ------------------------------------------------------------ event logs
    /// The log's epoch and last seq, linearizably (claim, fence answers).
    log_head: SerialRead =>
        "SELECT epoch, last_seq FROM {ks}.event_log WHERE log_key = ? LIMIT 1";
    log_last_seq: Read =>
        "SELECT last_seq FROM {ks}.event_log WHERE log_key = ? LIMIT 1";
    /// The first claim of a log: creates its head.
    claim_first: Lwt =>
        "UPDATE {ks}.event_log SET epoch = ?, last_seq = ? WHERE log_key = ? IF epoch = NULL";
    claim_next: Lwt =>
        "UPDATE {ks}.event_log SET epoch = ? WHERE log_key = ? IF epoch = ?";
    /// The condition of an append batch: fence and continuity.
    append_fence: Lwt =>
        "UPDATE {ks}.event_log SET last_seq = ? WHERE log_key = ? IF epoch = ? AND last_seq = ?";
    append_event: BatchPart =>
        "INSERT INTO {ks}.event_log (log_key, seq, payload) VALUES (?, ?, ?)";
    read_events: Read =>
        "SELECT seq, payload FROM {ks}.event_log WHERE log_key = ? AND seq > ?";
    save_snapshot: Lwt =>
        "UPDATE {ks}.event_log SET snapshot_seq = ?, snapshot = ? WHERE log_key = ? \
         IF epoch = ? AND last_seq >= ?";
    load_snapshot: Read =>
        "SELECT snapshot_seq, snapshot FROM {ks}.event_log WHERE log_key = ? LIMIT 1";

    // ------------------------------------------------------------ users
    claim_username: Lwt =>
        "INSERT INTO {ks}.usernames (username, user_id, claimed_ms, complete) \
         VALUES (?, ?, ?, false) IF NOT EXISTS";
    take_over_username: Lwt =>
        "UPDATE {ks}.usernames SET user_id = ?, claimed_ms = ? WHERE username = ? \
         IF user_id = ? AND complete = false";
    complete_username: Lwt =>
        "UPDATE {ks}.usernames SET complete = true WHERE username = ? IF user_id = ?";
    release_username: Lwt =>
        "DELETE FROM {ks}.usernames WHERE username = ? IF user_id = ? AND complete = false";
    select_username: Read =>
        "SELECT user_id, claimed_ms, complete FROM {ks}.usernames WHERE username = ?";
    insert_user: Lwt =>
        "INSERT INTO {ks}.users (user_id, username, record) VALUES (?, ?, ?) IF NOT EXISTS";
    delete_user: Lwt =>
        "DELETE FROM {ks}.users WHERE user_id = ? IF username = ?";
    select_user: Read =>
        "SELECT record FROM {ks}.users WHERE user_id = ?";

    // ------------------------------------------------------------ refresh families
    insert_family: Lwt =>
        "INSERT INTO {ks}.refresh_families (family_id, user_id, current_hash, expires_ms, revoked) \
         VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    rotate_family: Lwt =>
        "UPDATE {ks}.refresh_families SET current_hash = ?, expires_ms = ? WHERE family_id = ? \
         IF current_hash = ? AND revoked = false AND expires_ms > ?";
    revoke_family: Lwt =>
        "UPDATE {ks}.refresh_families SET revoked = true WHERE family_id = ? IF EXISTS";
    select_family: Read =>
        "SELECT user_id, current_hash, expires_ms, revoked FROM {ks}.refresh_families \
         WHERE family_id = ?";

    // ------------------------------------------------------------ rooms
    claim_stream_key: Lwt =>
        "INSERT INTO {ks}.room_keys (stream_key, room_id) VALUES (?, ?) IF NOT EXISTS";
    release_stream_key: Lwt =>
        "DELETE FROM {ks}.room_keys WHERE stream_key = ? IF room_id = ?";
    select_stream_key: Read =>
        "SELECT room_id FROM {ks}.room_keys WHERE stream_key = ?";
    insert_room: Lwt =>
        "INSERT INTO {ks}.rooms (room_id, stream_key, created_ms, record) VALUES (?, ?, ?, ?) \
         IF NOT EXISTS";
    /// Compare-and-set on the room's current key (`replace_stream_key`).
    switch_stream_key: Lwt =>
        "UPDATE {ks}.rooms SET stream_key = ?, record = ? WHERE room_id = ? IF stream_key = ?";
    select_room: Read =>
        "SELECT record FROM {ks}.rooms WHERE room_id = ?";
    /// A full scan (v1): every room, in token order.
    scan_rooms: Read =>
        "SELECT record FROM {ks}.rooms";

    // ------------------------------------------------------------ lots
    index_lot: Upsert =>
        "INSERT INTO {ks}.lots_by_room (room_id, created_ms, lot_id) VALUES (?, ?, ?)";
    unindex_lot: Upsert =>
        "DELETE FROM {ks}.lots_by_room WHERE room_id = ? AND created_ms = ? AND lot_id = ?";
    insert_lot: Lwt =>
        "INSERT INTO {ks}.lots (lot_id, record) VALUES (?, ?) IF NOT EXISTS";
    select_lot: Read =>
        "SELECT record FROM {ks}.lots WHERE lot_id = ?";
    lots_in_room: Read =>
        "SELECT created_ms, lot_id FROM {ks}.lots_by_room WHERE room_id = ?";

    // ------------------------------------------------------------ orders
    claim_idem: Lwt =>
        "INSERT INTO {ks}.order_idem (buyer_id, idem_key, order_id, record) VALUES (?, ?, ?, ?) \
         IF NOT EXISTS";
    select_idem: Read =>
        "SELECT order_id, record FROM {ks}.order_idem WHERE buyer_id = ? AND idem_key = ?";
    insert_order: Lwt =>
        "INSERT INTO {ks}.orders (order_id, record) VALUES (?, ?) IF NOT EXISTS";
    select_order: Read =>
        "SELECT record FROM {ks}.orders WHERE order_id = ?";
    index_buyer_order: Upsert =>
        "INSERT INTO {ks}.orders_by_buyer (buyer_id, created_ms, order_id) VALUES (?, ?, ?)";
    index_seller_order: Upsert =>
        "INSERT INTO {ks}.orders_by_seller (seller_id, created_ms, order_id) VALUES (?, ?, ?)";
    orders_by_buyer: Read =>
        "SELECT created_ms, order_id FROM {ks}.orders_by_buyer WHERE buyer_id = ?";
    orders_by_seller: Read =>
        "SELECT created_ms, order_id FROM {ks}.orders_by_seller WHERE seller_id = ?";
    recent_orders_by_seller: Read =>
        "SELECT created_ms, order_id FROM {ks}.orders_by_seller \
         WHERE seller_id = ? AND created_ms >= ? ORDER BY created_ms DESC, order_id DESC";

    // ------------------------------------------------------------ chat
    touch_chat_day: Upsert =>
        "INSERT INTO {ks}.chat_days (room_id, day) VALUES (?, ?)";
    insert_chat: Upsert =>
        "INSERT INTO {ks}.chat (room_id, day, at_ms, line_id, record) VALUES (?, ?, ?, ?, ?)";
    chat_days: Read =>
        "SELECT day FROM {ks}.chat_days WHERE room_id = ?";
    chat_of_day: Read =>
        "SELECT record FROM {ks}.chat WHERE room_id = ? AND day = ?";
}
