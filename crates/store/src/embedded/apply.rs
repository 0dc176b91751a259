//! What each write does, run on the writer thread inside a drain.
//!
//! Every handler validates first (fence, sequence, uniqueness, token hash)
//! and stages writes only once the request is known to succeed, so a
//! refused request leaves the drain's batch untouched.

use super::keys::{
    LogState, Table, check_key_len, decode, encode, event_key, fjall_err, idem_key, ordered_key,
    owner_prefix, time_key,
};
use super::writer::{Drain, Reply, Writer};
use liveshop_protocol::RoomId;

use crate::{
    ChatLine, Epoch, LogKey, LotRecord, OrderRecord, PutOrder, RefreshFamily, Result, RoomRecord,
    Rotation, Snapshot, StoreError, StoredEvent, UserRecord,
};

impl Writer {
    pub(crate) fn claim(&mut self, d: &mut Drain, key: &LogKey) -> Result<Reply> {
        let skey = key.storage_key();
        let mut state = self.log_state(d, &skey)?;
        state.epoch = state
            .epoch
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt(format!("epoch of {skey} overflowed")))?;
        d.set_log(skey, state);
        Ok(Reply::Epoch(state.epoch))
    }

    /// The fence: `epoch` must be the log's current (claimed) epoch.
    fn check_fence(&mut self, d: &Drain, skey: &str, epoch: Epoch) -> Result<LogState> {
        let state = self.log_state(d, skey)?;
        // An unclaimed log (epoch 0) accepts nothing: claim hands out >= 1.
        if state.epoch == 0 || epoch != state.epoch {
            return Err(StoreError::Fenced {
                key: skey.to_owned(),
                current: state.epoch,
                presented: epoch,
            });
        }
        Ok(state)
    }

    pub(crate) fn append(
        &mut self,
        d: &mut Drain,
        key: &LogKey,
        epoch: Epoch,
        events: Vec<StoredEvent>,
    ) -> Result<Reply> {
        let skey = key.storage_key();
        let state = self.check_fence(d, &skey, epoch)?;
        let mut expected = state.last_seq;
        for ev in &events {
            expected += 1;
            if ev.seq != expected {
                return Err(StoreError::SeqGap {
                    key: skey,
                    expected,
                    got: ev.seq,
                });
            }
        }
        if events.is_empty() {
            return Ok(Reply::Done);
        }
        for ev in events {
            d.put_blind(Table::Events, event_key(key, ev.seq), ev.payload);
        }
        d.set_log(
            skey,
            LogState {
                epoch,
                last_seq: expected,
            },
        );
        Ok(Reply::Done)
    }

    pub(crate) fn save_snapshot(
        &mut self,
        d: &mut Drain,
        key: &LogKey,
        epoch: Epoch,
        snapshot: &Snapshot,
    ) -> Result<Reply> {
        let skey = key.storage_key();
        let state = self.check_fence(d, &skey, epoch)?;
        if snapshot.seq > state.last_seq {
            // A snapshot ahead of the log would describe events that are not
            // durable; recovery would then skip them.
            return Err(StoreError::SeqGap {
                key: skey,
                expected: state.last_seq,
                got: snapshot.seq,
            });
        }
        let value = encode("snapshot", snapshot)?;
        d.put_blind(Table::Snapshots, skey.into_bytes(), value);
        Ok(Reply::Done)
    }

    pub(crate) fn create_user(&mut self, d: &mut Drain, user: &UserRecord) -> Result<Reply> {
        check_key_len("username", &user.username)?;
        let id = user.user_id.as_str().as_bytes();
        if d.get(Table::Users, id)?.is_some() {
            return Err(StoreError::Conflict(format!("user {}", user.user_id)));
        }
        if d.get(Table::UserNames, user.username.as_bytes())?.is_some() {
            return Err(StoreError::Conflict(format!(
                "username {:?}",
                user.username
            )));
        }
        let value = encode("user", user)?;
        d.put(Table::Users, id.to_vec(), value);
        d.put(
            Table::UserNames,
            user.username.as_bytes().to_vec(),
            id.to_vec(),
        );
        Ok(Reply::Done)
    }

    pub(crate) fn create_family(&mut self, d: &mut Drain, family: &RefreshFamily) -> Result<Reply> {
        check_key_len("refresh family id", &family.family)?;
        let key = family.family.as_bytes();
        if d.get(Table::Families, key)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "refresh family {:?}",
                family.family
            )));
        }
        d.put(
            Table::Families,
            key.to_vec(),
            encode("refresh family", family)?,
        );
        Ok(Reply::Done)
    }

    pub(crate) fn rotate(
        &mut self,
        d: &mut Drain,
        family: &str,
        presented: &str,
        next: String,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Reply> {
        if check_key_len("refresh family id", family).is_err() {
            // Too long to have been created.
            return Ok(Reply::Rotation(Rotation::Unknown));
        }
        let key = family.as_bytes();
        let Some(bytes) = d.get(Table::Families, key)? else {
            return Ok(Reply::Rotation(Rotation::Unknown));
        };
        let mut fam: RefreshFamily = decode("refresh family", key, &bytes)?;
        if fam.revoked || now_ms >= fam.expires_ms {
            return Ok(Reply::Rotation(Rotation::Revoked));
        }
        if fam.current_hash != presented {
            // Someone presented a token that was already rotated away: the
            // chain is compromised, so nobody may continue it.
            fam.revoked = true;
            d.put(
                Table::Families,
                key.to_vec(),
                encode("refresh family", &fam)?,
            );
            return Ok(Reply::Rotation(Rotation::Reused));
        }
        fam.current_hash = next;
        fam.expires_ms = expires_ms;
        d.put(
            Table::Families,
            key.to_vec(),
            encode("refresh family", &fam)?,
        );
        Ok(Reply::Rotation(Rotation::Rotated(fam)))
    }

    pub(crate) fn revoke_family(&mut self, d: &mut Drain, family: &str) -> Result<Reply> {
        if check_key_len("refresh family id", family).is_err() {
            return Ok(Reply::Done);
        }
        let key = family.as_bytes();
        // Revoking a missing or already revoked family is a no-op: revocation
        // is idempotent so a caller may retry it after `Unavailable`.
        if let Some(bytes) = d.get(Table::Families, key)? {
            let mut fam: RefreshFamily = decode("refresh family", key, &bytes)?;
            if !fam.revoked {
                fam.revoked = true;
                d.put(
                    Table::Families,
                    key.to_vec(),
                    encode("refresh family", &fam)?,
                );
            }
        }
        Ok(Reply::Done)
    }

    pub(crate) fn create_room(&mut self, d: &mut Drain, room: &RoomRecord) -> Result<Reply> {
        check_key_len("stream key", &room.stream_key)?;
        let id = room.room_id.as_str().as_bytes();
        if d.get(Table::Rooms, id)?.is_some() {
            return Err(StoreError::Conflict(format!("room {}", room.room_id)));
        }
        // Two rooms with one stream key would make `room_by_stream_key`
        // ambiguous and let one host go live in another's room.
        if d.get(Table::RoomKeys, room.stream_key.as_bytes())?
            .is_some()
        {
            return Err(StoreError::Conflict("stream key".into()));
        }
        let value = encode("room", room)?;
        let ordinal = d.ordinal();
        d.put(Table::Rooms, id.to_vec(), value);
        d.put(
            Table::RoomKeys,
            room.stream_key.as_bytes().to_vec(),
            id.to_vec(),
        );
        d.put_blind(
            Table::RoomsByTime,
            time_key(room.created_ms, ordinal),
            id.to_vec(),
        );
        Ok(Reply::Done)
    }

    /// Replaces a room's stream key. The old key's index entry is kept: it
    /// stays reserved to the room and still names it (see
    /// [`crate::Rooms::replace_stream_key`]).
    pub(crate) fn replace_stream_key(
        &mut self,
        d: &mut Drain,
        room: &RoomId,
        new_key: &str,
    ) -> Result<Reply> {
        check_key_len("stream key", new_key)?;
        let id = room.as_str().as_bytes();
        let Some(bytes) = d.get(Table::Rooms, id)? else {
            return Ok(Reply::Room(None));
        };
        let mut record: RoomRecord = decode("room", id, &bytes)?;
        if d.get(Table::RoomKeys, new_key.as_bytes())?.is_some() {
            return Err(StoreError::Conflict("stream key".into()));
        }
        record.stream_key = new_key.to_owned();
        d.put(Table::Rooms, id.to_vec(), encode("room", &record)?);
        d.put(Table::RoomKeys, new_key.as_bytes().to_vec(), id.to_vec());
        Ok(Reply::Room(Some(record)))
    }

    pub(crate) fn create_lot(&mut self, d: &mut Drain, lot: &LotRecord) -> Result<Reply> {
        let id = lot.lot_id.as_str().as_bytes();
        if d.get(Table::Lots, id)?.is_some() {
            return Err(StoreError::Conflict(format!("lot {}", lot.lot_id)));
        }
        let value = encode("lot", lot)?;
        let ordinal = d.ordinal();
        d.put(Table::Lots, id.to_vec(), value);
        d.put_blind(
            Table::RoomLots,
            ordered_key(lot.room_id.as_str(), lot.created_ms, ordinal),
            id.to_vec(),
        );
        Ok(Reply::Done)
    }

    pub(crate) fn put_order(&mut self, d: &mut Drain, order: &OrderRecord) -> Result<Reply> {
        let id = order.order_id.as_str().as_bytes();
        if let Some(bytes) = d.get(Table::Orders, id)? {
            return Ok(Reply::PutOrder(PutOrder::Existing(decode(
                "order", id, &bytes,
            )?)));
        }
        let idem = order
            .idem
            .as_ref()
            .map(|k| idem_key(order.buyer.as_str(), k.as_str()));
        if let Some(ikey) = &idem
            && let Some(existing_id) = d.get(Table::OrderIdem, ikey)?
        {
            let bytes = d.get(Table::Orders, &existing_id)?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "idempotency key of buyer {} points to missing order {}",
                    order.buyer,
                    String::from_utf8_lossy(&existing_id)
                ))
            })?;
            return Ok(Reply::PutOrder(PutOrder::Existing(decode(
                "order",
                &existing_id,
                &bytes,
            )?)));
        }
        let value = encode("order", order)?;
        let ordinal = d.ordinal();
        d.put(Table::Orders, id.to_vec(), value);
        if let Some(ikey) = idem {
            d.put(Table::OrderIdem, ikey, id.to_vec());
        }
        d.put_blind(
            Table::BuyerOrders,
            ordered_key(order.buyer.as_str(), order.created_ms, ordinal),
            id.to_vec(),
        );
        d.put_blind(
            Table::SellerOrders,
            ordered_key(order.seller.as_str(), order.created_ms, ordinal),
            id.to_vec(),
        );
        Ok(Reply::PutOrder(PutOrder::Created))
    }

    pub(crate) fn append_chat(&mut self, d: &mut Drain, line: &ChatLine) -> Result<Reply> {
        let value = encode("chat line", line)?;
        let room = line.room_id.as_str();
        // Scanned before staging anything, so a failed scan refuses the
        // line without leaving half of it in the batch.
        let old = self.chat_to_trim(d, room)?;
        let ordinal = d.ordinal();
        d.put_blind(Table::Chat, ordered_key(room, line.at_ms, ordinal), value);
        for k in old {
            d.remove_blind(Table::Chat, k);
        }
        Ok(Reply::Done)
    }

    /// Keeps about `chat_lines_per_room` lines per room: every `keep / 20`
    /// appends to a room, returns the keys of its committed lines beyond the
    /// newest `keep`. Amortised this reads ~20 keys per append and bounds a
    /// room's history to `keep` plus one trim interval.
    fn chat_to_trim(&mut self, d: &Drain, room: &str) -> Result<Vec<Vec<u8>>> {
        let keep = self.config.chat_lines_per_room;
        let every = (keep / 20).max(1);
        let count = self.chat_since_trim.entry(room.to_owned()).or_insert(0);
        *count += 1;
        if *count < every {
            return Ok(Vec::new());
        }
        *count = 0;
        d.tables()
            .ks(Table::Chat)
            .prefix(owner_prefix(room))
            .rev()
            .skip(keep)
            .map(|g| g.key().map(|k| k.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| fjall_err("scanning chat to trim", e))
    }
}
