//! Users, refresh-token families, rooms, lots, orders and chat on Redis.

use std::collections::HashSet;

use async_trait::async_trait;
use liveshop_protocol::{LotId, OrderId, RoomId, UserId};

use super::scripts::CHAT_ORDINAL_LEN;
use super::{RedisStore, bad_reply, decode, encode, parse_u64, unavailable};
use crate::{
    ChatHistory, ChatLine, LotRecord, Lots, OrderRecord, Orders, PutOrder, RecentOrders,
    RefreshFamily, RefreshTokens, Result, RoomRecord, Rooms, Rotation, StoreError, UserRecord,
    Users,
};

/// Most order ids one page of a recent-orders read fetches.
const MAX_ORDER_PAGE: usize = 500;

#[async_trait]
impl Users for RedisStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let value = encode("user", user)?;
        let code: i64 = self
            .scripts
            .create_indexed
            .key(self.key("user", user.user_id.as_str()))
            .key(self.key("username", &user.username))
            .arg(value)
            .arg(user.user_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("creating user {}", user.user_id), e))?;
        match code {
            0 => Ok(()),
            1 => Err(StoreError::Conflict(format!("user {}", user.user_id))),
            2 => Err(StoreError::Conflict(format!(
                "username {:?}",
                user.username
            ))),
            other => Err(bad_reply("create user", &other)),
        }
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>> {
        self.get_record("user", &self.key("user", id.as_str()))
            .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let Some(id) = self.get_bytes(&self.key("username", username)).await? else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id);
        self.get_record("user", &self.key("user", &id)).await
    }
}

#[async_trait]
impl RefreshTokens for RedisStore {
    async fn create_family(&self, family: &RefreshFamily) -> Result<()> {
        let code: i64 = self
            .scripts
            .create_family
            .key(self.key("family", &family.family))
            .arg(family.user_id.as_str())
            .arg(&family.current_hash)
            .arg(family.expires_ms.to_string())
            .arg(if family.revoked { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("creating a refresh family", e))?;
        match code {
            0 => Ok(()),
            1 => Err(StoreError::Conflict(format!(
                "refresh family {:?}",
                family.family
            ))),
            other => Err(bad_reply("create family", &other)),
        }
    }

    async fn rotate(
        &self,
        family: &str,
        presented_hash: &str,
        next_hash: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Rotation> {
        let reply: Vec<String> = self
            .scripts
            .rotate
            .key(self.key("family", family))
            .arg(presented_hash)
            .arg(next_hash)
            .arg(expires_ms.to_string())
            .arg(now_ms.to_string())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("rotating a refresh token", e))?;
        match reply.as_slice() {
            [s] if s == "unknown" => Ok(Rotation::Unknown),
            [s] if s == "revoked" => Ok(Rotation::Revoked),
            [s] if s == "reused" => Ok(Rotation::Reused),
            [s, user] if s == "rotated" => Ok(Rotation::Rotated(RefreshFamily {
                family: family.to_owned(),
                user_id: user_id(user)?,
                current_hash: next_hash.to_owned(),
                expires_ms,
                revoked: false,
            })),
            other => Err(bad_reply("rotate", &other)),
        }
    }

    async fn revoke_family(&self, family: &str) -> Result<()> {
        let _: i64 = self
            .scripts
            .revoke
            .key(self.key("family", family))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("revoking a refresh family", e))?;
        Ok(())
    }

    async fn family(&self, family: &str) -> Result<Option<RefreshFamily>> {
        let key = self.key("family", family);
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&["user_id", "current_hash", "expires_ms", "revoked"])
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("HMGET {key}"), e))?;
        match fields.as_slice() {
            [None, ..] => Ok(None),
            [Some(user), Some(hash), Some(expires), Some(revoked)] => Ok(Some(RefreshFamily {
                family: family.to_owned(),
                user_id: user_id(user)?,
                current_hash: hash.clone(),
                expires_ms: parse_u64("family", expires)?,
                revoked: revoked == "1",
            })),
            _ => Err(StoreError::Corrupt(format!(
                "refresh family {key} lacks fields"
            ))),
        }
    }
}

impl RedisStore {
    /// The room id a stream key's index entry holds. Not `get_bytes`: its
    /// error names the Redis key, which contains the stream key, a secret
    /// that must not reach a log.
    async fn stream_key_target(&self, stream_key: &str) -> Result<Option<Vec<u8>>> {
        redis::cmd("GET")
            .arg(self.key("roomkey", stream_key))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable("reading a stream key", e))
    }
}

/// Attempts of a compare-and-set write before giving up.
const MAX_CAS_ATTEMPTS: usize = 5;

fn user_id(s: &str) -> Result<UserId> {
    UserId::new(s).map_err(|e| StoreError::Corrupt(format!("bad user id {s:?}: {e}")))
}

#[async_trait]
impl Rooms for RedisStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<()> {
        let value = encode("room", room)?;
        let code: i64 = self
            .scripts
            .create_indexed
            .key(self.key("room", room.room_id.as_str()))
            .key(self.key("roomkey", &room.stream_key))
            .key(format!("{}rooms", self.prefix()))
            .arg(value)
            .arg(room.room_id.as_str())
            .arg(room.created_ms.to_string())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("creating room {}", room.room_id), e))?;
        match code {
            0 => Ok(()),
            1 => Err(StoreError::Conflict(format!("room {}", room.room_id))),
            // Two rooms with one stream key would let one host go live in
            // another's room.
            2 => Err(StoreError::Conflict("stream key".into())),
            other => Err(bad_reply("create room", &other)),
        }
    }

    async fn room(&self, id: &RoomId) -> Result<Option<RoomRecord>> {
        self.get_record("room", &self.key("room", id.as_str()))
            .await
    }

    async fn room_by_stream_key(&self, stream_key: &str) -> Result<Option<RoomRecord>> {
        let Some(id) = self.stream_key_target(stream_key).await? else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id);
        let room: Option<RoomRecord> = self.get_record("room", &self.key("room", &id)).await?;
        // The index keeps replaced keys (reserved to their room): only the
        // room's current key finds it.
        Ok(room.filter(|r| r.stream_key == stream_key))
    }

    async fn replace_stream_key(&self, room: &RoomId, new_key: &str) -> Result<Option<RoomRecord>> {
        let room_key = self.key("room", room.as_str());
        // Compare-and-set on the record: another writer (a concurrent
        // replacement) makes the script refuse, and the record is read again.
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(current) = self.get_bytes(&room_key).await? else {
                return Ok(None);
            };
            let mut record: RoomRecord = decode("room", &room_key, &current)?;
            record.stream_key = new_key.to_owned();
            let code: i64 = self
                .scripts
                .replace_key
                .key(&room_key)
                .key(self.key("roomkey", new_key))
                .arg(current)
                .arg(encode("room", &record)?)
                .arg(room.as_str())
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| unavailable(&format!("replacing the stream key of {room}"), e))?;
            match code {
                0 => return Ok(Some(record)),
                1 => return Ok(None),
                2 => continue,
                3 => return Err(StoreError::Conflict("stream key".into())),
                other => return Err(bad_reply("replace stream key", &other)),
            }
        }
        Err(StoreError::Conflict(format!(
            "room {room} kept changing while its stream key was replaced"
        )))
    }

    async fn stream_key_owner(&self, stream_key: &str) -> Result<Option<RoomId>> {
        let Some(id) = self.stream_key_target(stream_key).await? else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&id);
        RoomId::new(id.as_ref())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("stream key index: bad room id: {e}")))
    }

    async fn rooms(&self) -> Result<Vec<RoomRecord>> {
        self.listed("room", &format!("{}rooms", self.prefix()), "room")
            .await
    }
}

#[async_trait]
impl Lots for RedisStore {
    async fn create_lot(&self, lot: &LotRecord) -> Result<()> {
        let value = encode("lot", lot)?;
        let code: i64 = self
            .scripts
            .create_listed
            .key(self.key("lot", lot.lot_id.as_str()))
            .key(self.key("roomlots", lot.room_id.as_str()))
            .arg(value)
            .arg(lot.created_ms.to_string())
            .arg(lot.lot_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("creating lot {}", lot.lot_id), e))?;
        match code {
            0 => Ok(()),
            1 => Err(StoreError::Conflict(format!("lot {}", lot.lot_id))),
            other => Err(bad_reply("create lot", &other)),
        }
    }

    async fn lot(&self, id: &LotId) -> Result<Option<LotRecord>> {
        self.get_record("lot", &self.key("lot", id.as_str())).await
    }

    async fn lots_in_room(&self, room: &RoomId) -> Result<Vec<LotRecord>> {
        self.listed("lot", &self.key("roomlots", room.as_str()), "lot")
            .await
    }
}

#[async_trait]
impl Orders for RedisStore {
    async fn put_order(&self, order: &OrderRecord) -> Result<PutOrder> {
        let value = encode("order", order)?;
        let idem = order.idem.as_ref().map_or("", |k| k.as_str());
        let reply: Vec<Vec<u8>> = self
            .scripts
            .put_order
            .key(self.key("order", order.order_id.as_str()))
            .key(self.key("orderidem", order.buyer.as_str()))
            .key(self.key("buyerorders", order.buyer.as_str()))
            .key(self.key("sellerorders", order.seller.as_str()))
            .arg(value)
            .arg(order.order_id.as_str())
            .arg(idem)
            .arg(if order.idem.is_some() { "1" } else { "0" })
            .arg(order.created_ms.to_string())
            .arg(self.key("order", ""))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("putting order {}", order.order_id), e))?;
        match reply.as_slice() {
            [s] if s == b"created" => Ok(PutOrder::Created),
            [s, bytes] if s == b"existing" => Ok(PutOrder::Existing(decode(
                "order",
                "existing order",
                bytes,
            )?)),
            [s, id] if s == b"corrupt" => Err(StoreError::Corrupt(format!(
                "idempotency key of buyer {} points to missing order {}",
                order.buyer,
                String::from_utf8_lossy(id)
            ))),
            other => Err(bad_reply("put order", &other.len())),
        }
    }

    async fn order(&self, id: &OrderId) -> Result<Option<OrderRecord>> {
        self.get_record("order", &self.key("order", id.as_str()))
            .await
    }

    async fn orders_by_buyer(&self, buyer: &UserId) -> Result<Vec<OrderRecord>> {
        self.listed("order", &self.key("buyerorders", buyer.as_str()), "order")
            .await
    }

    async fn orders_by_seller(&self, seller: &UserId) -> Result<Vec<OrderRecord>> {
        self.listed("order", &self.key("sellerorders", seller.as_str()), "order")
            .await
    }

    async fn recent_orders_by_seller(
        &self,
        seller: &UserId,
        query: &RecentOrders,
    ) -> Result<Vec<OrderRecord>> {
        let zset = self.key("sellerorders", seller.as_str());
        let page = query.limit.clamp(1, MAX_ORDER_PAGE);
        let mut out: Vec<OrderRecord> = Vec::new();
        // An order indexed while we page shifts the pages by one: an id may
        // come twice, never be skipped.
        let mut seen = HashSet::new();
        let mut offset = 0;
        while out.len() < query.limit {
            let ids: Vec<String> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(&zset)
                .arg("+inf")
                .arg(query.since_ms)
                .arg("LIMIT")
                .arg(offset)
                .arg(page)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| unavailable(&format!("ZREVRANGEBYSCORE {zset}"), e))?;
            let got = ids.len();
            offset += got;
            let fresh: Vec<String> = ids
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
            let orders: Vec<OrderRecord> = self.records_of("order", &zset, "order", &fresh).await?;
            out.extend(orders.into_iter().filter(|o| query.in_room(o)));
            if got < page {
                break;
            }
        }
        out.truncate(query.limit);
        Ok(out)
    }
}

#[async_trait]
impl ChatHistory for RedisStore {
    async fn append_chat(&self, line: &ChatLine) -> Result<()> {
        let value = encode("chat line", line)?;
        let room = line.room_id.as_str();
        let _: i64 = self
            .scripts
            .chat
            .key(self.key("chat", room))
            .key(self.key("chatseq", room))
            .arg(line.at_ms.to_string())
            .arg(value)
            .arg(self.options.chat_lines_per_room.to_string())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("appending chat to {room}"), e))?;
        Ok(())
    }

    async fn recent_chat(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatLine>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.key("chat", room.as_str());
        let start = -i64::try_from(limit).unwrap_or(i64::MAX);
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(start)
            .arg(-1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| unavailable(&format!("ZRANGE {key}"), e))?;
        members
            .iter()
            .map(|m| {
                let line = m.get(CHAT_ORDINAL_LEN..).ok_or_else(|| {
                    StoreError::Corrupt(format!("chat member in {key} is too short"))
                })?;
                decode("chat line", &key, line)
            })
            .collect()
    }
}
