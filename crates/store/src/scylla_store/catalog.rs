//! Rooms and lots on ScyllaDB. The crash ordering of `create_room` and
//! `create_lot` is in the module doc of `mod.rs`.

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt, stream};
use liveshop_protocol::{LotId, RoomId};

use super::{FETCH_CONCURRENCY, ScyllaStore, decode, encode, to_i64};
use crate::{LotRecord, Lots, Result, RoomRecord, Rooms, StoreError};

/// Attempts of a compare-and-set write before giving up.
const MAX_CAS_ATTEMPTS: usize = 5;

#[async_trait]
impl Rooms for ScyllaStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<()> {
        let id = room.room_id.as_str();
        let key = room.stream_key.as_str();
        let record = encode("room", room)?;
        // 1. The stream key: two rooms with one key would let one host go
        // live in another's room.
        let claim = self
            .lwt(
                "claiming a stream key",
                &self.st.claim_stream_key,
                (key, id),
            )
            .await?;
        if !claim.applied {
            let holder = if claim.has("room_id") {
                claim.text("room_id")?.map(str::to_owned)
            } else {
                self.stream_key_holder(key).await?
            };
            match holder {
                // Our own earlier attempt: go on.
                Some(h) if h == id => {}
                Some(_) => return Err(StoreError::Conflict("stream key".into())),
                None => {
                    return Err(StoreError::Unavailable(
                        "ScyllaDB: a stream key was claimed and released concurrently; retry"
                            .into(),
                    ));
                }
            }
        }
        // 2. The room.
        let created = to_i64("created_ms", room.created_ms)?;
        let values = (id, key, created, record.as_slice());
        let inserted = self
            .lwt("creating a room", &self.st.insert_room, values)
            .await?;
        if inserted.applied {
            return Ok(());
        }
        let existing_key = if inserted.has("stream_key") {
            inserted.text("stream_key")?.map(str::to_owned)
        } else {
            self.room(&room.room_id).await?.map(|r| r.stream_key)
        };
        if existing_key.as_deref() != Some(key) {
            // Free the key we claimed for a room that will not exist.
            self.lwt(
                "releasing a stream key",
                &self.st.release_stream_key,
                (key, id),
            )
            .await?;
        }
        Err(StoreError::Conflict(format!("room {id}")))
    }

    async fn room(&self, id: &RoomId) -> Result<Option<RoomRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self
            .first_row("reading a room", &self.st.select_room, (id.as_str(),))
            .await?;
        match row.and_then(|(r,)| r) {
            Some(bytes) => decode("room", id.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn room_by_stream_key(&self, stream_key: &str) -> Result<Option<RoomRecord>> {
        let Some(id) = self.stream_key_holder(stream_key).await? else {
            return Ok(None);
        };
        let id = RoomId::new(&id)
            .map_err(|e| StoreError::Corrupt(format!("stream key -> bad room id: {e}")))?;
        // A claim whose room was never written (a crash, an id conflict)
        // names no room.
        Ok(self
            .room(&id)
            .await?
            .filter(|room| room.stream_key == stream_key))
    }

    async fn replace_stream_key(&self, room: &RoomId, new_key: &str) -> Result<Option<RoomRecord>> {
        let id = room.as_str();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(mut record) = self.room(room).await? else {
                return Ok(None);
            };
            let old_key = std::mem::replace(&mut record.stream_key, new_key.to_owned());
            if old_key == new_key {
                // Issued already (to this room), as the other backends see it.
                return Err(StoreError::Conflict("stream key".into()));
            }
            // 1. Claim the new key for the room (as `create_room` does). A
            // crash after this leaves it reserved to the room, unused:
            // harmless, `room_by_stream_key` follows the room's record.
            let claim = self
                .lwt(
                    "claiming a stream key",
                    &self.st.claim_stream_key,
                    (new_key, id),
                )
                .await?;
            if !claim.applied {
                let holder = if claim.has("room_id") {
                    claim.text("room_id")?.map(str::to_owned)
                } else {
                    self.stream_key_holder(new_key).await?
                };
                if holder.as_deref() != Some(id) {
                    return Err(StoreError::Conflict("stream key".into()));
                }
            }
            // 2. Switch the room's record to it, only if no one changed the
            // key meanwhile. The old key's claim is kept: it stays reserved
            // to the room and still names it (`stream_key_owner`).
            let bytes = encode("room", &record)?;
            let values = (new_key, bytes.as_slice(), id, old_key.as_str());
            let switched = self
                .lwt("replacing a stream key", &self.st.switch_stream_key, values)
                .await?;
            if switched.applied {
                return Ok(Some(record));
            }
            // A concurrent replacement won: read the record again.
        }
        Err(StoreError::Conflict(format!(
            "room {id} kept changing while its stream key was replaced"
        )))
    }

    async fn stream_key_owner(&self, stream_key: &str) -> Result<Option<RoomId>> {
        self.stream_key_holder(stream_key)
            .await?
            .map(|id| {
                RoomId::new(&id)
                    .map_err(|e| StoreError::Corrupt(format!("stream key -> bad room id: {e}")))
            })
            .transpose()
    }

    async fn rooms(&self) -> Result<Vec<RoomRecord>> {
        // v1: a full scan, sorted here (rooms are few; a time-bucketed index
        // table replaces this when they are not).
        let rows: Vec<(Option<Vec<u8>>,)> =
            self.rows("listing rooms", &self.st.scan_rooms, ()).await?;
        let mut rooms = rows
            .into_iter()
            .filter_map(|(r,)| r)
            .map(|bytes| decode::<RoomRecord>("room", "in the scan", &bytes))
            .collect::<Result<Vec<_>>>()?;
        rooms.sort_by(|a, b| {
            (a.created_ms, a.room_id.as_str()).cmp(&(b.created_ms, b.room_id.as_str()))
        });
        Ok(rooms)
    }
}

impl ScyllaStore {
    async fn stream_key_holder(&self, stream_key: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = self
            .first_row(
                "reading a stream key",
                &self.st.select_stream_key,
                (stream_key,),
            )
            .await?;
        Ok(row.and_then(|(id,)| id))
    }
}

#[async_trait]
impl Lots for ScyllaStore {
    async fn create_lot(&self, lot: &LotRecord) -> Result<()> {
        let id = lot.lot_id.as_str();
        let room = lot.room_id.as_str();
        let created = to_i64("created_ms", lot.created_ms)?;
        let record = encode("lot", lot)?;
        // 1. The room's index row (an upsert; readers skip it until the lot
        // exists). 2. The lot.
        self.write("indexing a lot", &self.st.index_lot, (room, created, id))
            .await?;
        let inserted = self
            .lwt(
                "creating a lot",
                &self.st.insert_lot,
                (id, record.as_slice()),
            )
            .await?;
        if inserted.applied {
            return Ok(());
        }
        let existing: Option<LotRecord> = match inserted.blob("record")? {
            Some(bytes) => Some(decode("lot", id, bytes)?),
            None => self.lot(&lot.lot_id).await?,
        };
        if existing.is_none_or(|e| e.room_id != lot.room_id || e.created_ms != lot.created_ms) {
            // Our index row points at another lot's id: remove it.
            self.write(
                "unindexing a lot",
                &self.st.unindex_lot,
                (room, created, id),
            )
            .await?;
        }
        Err(StoreError::Conflict(format!("lot {id}")))
    }

    async fn lot(&self, id: &LotId) -> Result<Option<LotRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self
            .first_row("reading a lot", &self.st.select_lot, (id.as_str(),))
            .await?;
        match row.and_then(|(r,)| r) {
            Some(bytes) => decode("lot", id.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn lots_in_room(&self, room: &RoomId) -> Result<Vec<LotRecord>> {
        let index: Vec<(Option<i64>, Option<String>)> = self
            .rows(
                "listing a room's lots",
                &self.st.lots_in_room,
                (room.as_str(),),
            )
            .await?;
        let lots: Vec<Option<LotRecord>> = stream::iter(index)
            .map(|(created, id)| async move {
                let Some(id) = id else { return Ok(None) };
                let id = LotId::new(&id)
                    .map_err(|e| StoreError::Corrupt(format!("bad lot id {id:?}: {e}")))?;
                let lot = self.lot(&id).await?;
                // Skip index rows of creates that failed or never finished.
                Ok(lot
                    .filter(|l| l.room_id == *room && i64::try_from(l.created_ms).ok() == created))
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(lots.into_iter().flatten().collect())
    }
}
