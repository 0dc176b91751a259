//! The store traits on [`EmbeddedStore`]: writes go to the writer thread,
//! reads to the blocking pool.

use async_trait::async_trait;
use liveshop_protocol::{LotId, OrderId, RoomId, UserId};

use super::keys::Table;
use super::writer::{Op, Reply};
use super::{EmbeddedStore, read, unexpected};
use crate::{
    ChatHistory, ChatLine, Epoch, EventLog, LogKey, LotRecord, Lots, OrderRecord, Orders, PutOrder,
    RecentOrders, RefreshFamily, RefreshTokens, Result, RoomRecord, Rooms, Rotation, Snapshot,
    StoreError, StoredEvent, UserRecord, Users,
};

#[async_trait]
impl EventLog for EmbeddedStore {
    async fn claim(&self, key: &LogKey) -> Result<Epoch> {
        match self.submit(Op::Claim(key.clone())).await? {
            Reply::Epoch(e) => Ok(e),
            other => Err(unexpected(other)),
        }
    }

    async fn append(&self, key: &LogKey, epoch: Epoch, events: &[StoredEvent]) -> Result<()> {
        self.submit_done(Op::Append {
            key: key.clone(),
            epoch,
            events: events.to_vec(),
        })
        .await
    }

    async fn read(&self, key: &LogKey, after: u64) -> Result<Vec<StoredEvent>> {
        let key = key.clone();
        self.on_pool(move |t| read::read_events(t, &key, after))
            .await
    }

    async fn last_seq(&self, key: &LogKey) -> Result<u64> {
        let key = key.clone();
        self.on_pool(move |t| read::last_seq(t, &key)).await
    }

    async fn save_snapshot(&self, key: &LogKey, epoch: Epoch, snapshot: &Snapshot) -> Result<()> {
        self.submit_done(Op::SaveSnapshot {
            key: key.clone(),
            epoch,
            snapshot: snapshot.clone(),
        })
        .await
    }

    async fn load_snapshot(&self, key: &LogKey) -> Result<Option<Snapshot>> {
        let key = key.clone();
        self.on_pool(move |t| read::load_snapshot(t, &key)).await
    }
}

#[async_trait]
impl Users for EmbeddedStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.submit_done(Op::CreateUser(user.clone())).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>> {
        let id = id.clone();
        self.on_pool(move |t| read::by_id(t, Table::Users, "user", id.as_str()))
            .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let name = username.to_owned();
        self.on_pool(move |t| read::user_by_name(t, &name)).await
    }
}

#[async_trait]
impl RefreshTokens for EmbeddedStore {
    async fn create_family(&self, family: &RefreshFamily) -> Result<()> {
        self.submit_done(Op::CreateFamily(family.clone())).await
    }

    async fn rotate(
        &self,
        family: &str,
        presented_hash: &str,
        next_hash: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<Rotation> {
        let op = Op::Rotate {
            family: family.to_owned(),
            presented: presented_hash.to_owned(),
            next: next_hash.to_owned(),
            expires_ms,
            now_ms,
        };
        match self.submit(op).await? {
            Reply::Rotation(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_family(&self, family: &str) -> Result<()> {
        self.submit_done(Op::RevokeFamily(family.to_owned())).await
    }

    async fn family(&self, family: &str) -> Result<Option<RefreshFamily>> {
        let family = family.to_owned();
        self.on_pool(move |t| read::family(t, &family)).await
    }
}

#[async_trait]
impl Rooms for EmbeddedStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<()> {
        self.submit_done(Op::CreateRoom(room.clone())).await
    }

    async fn room(&self, id: &RoomId) -> Result<Option<RoomRecord>> {
        let id = id.clone();
        self.on_pool(move |t| read::by_id(t, Table::Rooms, "room", id.as_str()))
            .await
    }

    async fn room_by_stream_key(&self, stream_key: &str) -> Result<Option<RoomRecord>> {
        let key = stream_key.to_owned();
        self.on_pool(move |t| read::room_by_stream_key(t, &key))
            .await
    }

    async fn replace_stream_key(&self, room: &RoomId, new_key: &str) -> Result<Option<RoomRecord>> {
        let op = Op::ReplaceStreamKey {
            room: room.clone(),
            new_key: new_key.to_owned(),
        };
        match self.submit(op).await? {
            Reply::Room(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn stream_key_owner(&self, stream_key: &str) -> Result<Option<RoomId>> {
        let key = stream_key.to_owned();
        let id = self
            .on_pool(move |t| read::stream_key_owner(t, &key))
            .await?;
        id.map(|id| {
            RoomId::new(id)
                .map_err(|e| StoreError::Corrupt(format!("stream key index: bad room id: {e}")))
        })
        .transpose()
    }

    async fn rooms(&self) -> Result<Vec<RoomRecord>> {
        self.on_pool(read::rooms).await
    }
}

#[async_trait]
impl Lots for EmbeddedStore {
    async fn create_lot(&self, lot: &LotRecord) -> Result<()> {
        self.submit_done(Op::CreateLot(lot.clone())).await
    }

    async fn lot(&self, id: &LotId) -> Result<Option<LotRecord>> {
        let id = id.clone();
        self.on_pool(move |t| read::by_id(t, Table::Lots, "lot", id.as_str()))
            .await
    }

    async fn lots_in_room(&self, room: &RoomId) -> Result<Vec<LotRecord>> {
        let room = room.clone();
        self.on_pool(move |t| read::lots_in_room(t, room.as_str()))
            .await
    }
}

#[async_trait]
impl Orders for EmbeddedStore {
    async fn put_order(&self, order: &OrderRecord) -> Result<PutOrder> {
        match self.submit(Op::PutOrder(order.clone())).await? {
            Reply::PutOrder(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    async fn order(&self, id: &OrderId) -> Result<Option<OrderRecord>> {
        let id = id.clone();
        self.on_pool(move |t| read::by_id(t, Table::Orders, "order", id.as_str()))
            .await
    }

    async fn orders_by_buyer(&self, buyer: &UserId) -> Result<Vec<OrderRecord>> {
        let buyer = buyer.clone();
        self.on_pool(move |t| read::orders_by(t, Table::BuyerOrders, buyer.as_str()))
            .await
    }

    async fn orders_by_seller(&self, seller: &UserId) -> Result<Vec<OrderRecord>> {
        let seller = seller.clone();
        self.on_pool(move |t| read::orders_by(t, Table::SellerOrders, seller.as_str()))
            .await
    }

    async fn recent_orders_by_seller(
        &self,
        seller: &UserId,
        query: &RecentOrders,
    ) -> Result<Vec<OrderRecord>> {
        let (seller, query) = (seller.clone(), query.clone());
        self.on_pool(move |t| read::recent_orders_by_seller(t, seller.as_str(), &query))
            .await
    }
}

#[async_trait]
impl ChatHistory for EmbeddedStore {
    async fn append_chat(&self, line: &ChatLine) -> Result<()> {
        self.submit_done(Op::AppendChat(line.clone())).await
    }

    async fn recent_chat(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatLine>> {
        let room = room.clone();
        self.on_pool(move |t| read::recent_chat(t, room.as_str(), limit))
            .await
    }
}
