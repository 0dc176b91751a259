//! Orders (with idempotency keys) and chat history on ScyllaDB. The crash
//! ordering of `put_order` is in the module doc of `mod.rs`.

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt, stream};
use liveshop_protocol::{OrderId, RoomId, UserId};

use super::{FETCH_CONCURRENCY, Lwt, ScyllaStore, decode, driver_error, encode, to_i64};
use crate::{
    ChatHistory, ChatLine, OrderRecord, Orders, PutOrder, RecentOrders, Result, StoreError,
};

/// Chat is bucketed by UTC day.
const DAY_MS: u64 = 86_400_000;

/// Most index rows of a recent-orders read whose orders are fetched at once.
const MAX_ORDER_CHUNK: usize = 500;

/// Largest page a chat read asks for, whatever the limit.
const MAX_CHAT_PAGE: usize = 1_000;

impl ScyllaStore {
    /// The order an `insert_order` refusal reports, or a read of it.
    async fn order_after(&self, id: &OrderId, lwt: &Lwt) -> Result<OrderRecord> {
        let existing = match lwt.blob("record")? {
            Some(bytes) => Some(decode("order", id.as_str(), bytes)?),
            None => self.order(id).await?,
        };
        existing.ok_or_else(|| {
            StoreError::Unavailable(format!(
                "ScyllaDB: order {id} was refused as existing but cannot be read yet; retry"
            ))
        })
    }

    /// The index rows, then the record (so no acknowledged order is missing
    /// from a listing). Returns whether this call wrote the record, and the
    /// order stored under the id.
    async fn write_order(&self, order: &OrderRecord, record: &[u8]) -> Result<(bool, OrderRecord)> {
        let id = order.order_id.as_str();
        let created = to_i64("created_ms", order.created_ms)?;
        tokio::try_join!(
            self.write(
                "indexing an order by buyer",
                &self.st.index_buyer_order,
                (order.buyer.as_str(), created, id),
            ),
            self.write(
                "indexing an order by seller",
                &self.st.index_seller_order,
                (order.seller.as_str(), created, id),
            ),
        )?;
        let inserted = self
            .lwt("recording an order", &self.st.insert_order, (id, record))
            .await?;
        if inserted.applied {
            Ok((true, order.clone()))
        } else {
            Ok((false, self.order_after(&order.order_id, &inserted).await?))
        }
    }

    /// The orders an index lists, skipping entries whose order is missing
    /// (a create that failed or has not finished) or is not `owner`'s.
    async fn listed_orders(
        &self,
        what: &str,
        index: Vec<(Option<i64>, Option<String>)>,
        owns: impl Fn(&OrderRecord) -> bool,
    ) -> Result<Vec<OrderRecord>> {
        let orders: Vec<Option<OrderRecord>> = stream::iter(index)
            .map(|(created, id)| async move {
                let Some(id) = id else { return Ok(None) };
                let id = OrderId::new(&id).map_err(|e| {
                    StoreError::Corrupt(format!("{what}: bad order id {id:?}: {e}"))
                })?;
                Ok(self
                    .order(&id)
                    .await?
                    .filter(|o| i64::try_from(o.created_ms).ok() == created))
            })
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(orders.into_iter().flatten().filter(|o| owns(o)).collect())
    }
}

#[async_trait]
impl Orders for ScyllaStore {
    async fn put_order(&self, order: &OrderRecord) -> Result<PutOrder> {
        // The same id first, as the other backends check it.
        if let Some(existing) = self.order(&order.order_id).await? {
            return Ok(PutOrder::Existing(existing));
        }
        let id = order.order_id.as_str();
        let record = encode("order", order)?;
        let mut claimed = false;
        if let Some(idem) = &order.idem {
            let values = (order.buyer.as_str(), idem.as_str(), id, record.as_slice());
            let claim = self
                .lwt("claiming an idempotency key", &self.st.claim_idem, values)
                .await?;
            claimed = claim.applied;
            if !claim.applied {
                let (holder, held) = if claim.has("order_id") && claim.has("record") {
                    (
                        claim.text("order_id")?.map(str::to_owned),
                        claim.blob("record")?.map(<[u8]>::to_vec),
                    )
                } else {
                    let row: Option<(Option<String>, Option<Vec<u8>>)> = self
                        .first_row(
                            "reading an idempotency key",
                            &self.st.select_idem,
                            (order.buyer.as_str(), idem.as_str()),
                        )
                        .await?;
                    row.unwrap_or((None, None))
                };
                match (holder, held) {
                    // Our own earlier attempt: finish it below.
                    (Some(h), _) if h == id => {}
                    (Some(h), Some(held)) => {
                        // Another order holds the key. Finish writing it
                        // (its writer may have crashed after the claim) and
                        // answer with it.
                        let winner: OrderRecord = decode("order", &h, &held)?;
                        let (_, stored) = self.write_order(&winner, &held).await?;
                        return Ok(PutOrder::Existing(stored));
                    }
                    (holder, _) => {
                        return Err(StoreError::Corrupt(format!(
                            "idempotency key {idem} of buyer {} holds {holder:?} without a record",
                            order.buyer
                        )));
                    }
                }
            }
        }
        let (wrote, stored) = self.write_order(order, &record).await?;
        // A concurrent duplicate that found our claim may have written our
        // record before us: it is still our creation.
        if wrote || (claimed && stored == *order) {
            Ok(PutOrder::Created)
        } else {
            Ok(PutOrder::Existing(stored))
        }
    }

    async fn order(&self, id: &OrderId) -> Result<Option<OrderRecord>> {
        let row: Option<(Option<Vec<u8>>,)> = self
            .first_row("reading an order", &self.st.select_order, (id.as_str(),))
            .await?;
        match row.and_then(|(r,)| r) {
            Some(bytes) => decode("order", id.as_str(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn orders_by_buyer(&self, buyer: &UserId) -> Result<Vec<OrderRecord>> {
        let what = "listing a buyer's orders";
        let index = self
            .rows(what, &self.st.orders_by_buyer, (buyer.as_str(),))
            .await?;
        self.listed_orders(what, index, |o| o.buyer == *buyer).await
    }

    async fn orders_by_seller(&self, seller: &UserId) -> Result<Vec<OrderRecord>> {
        let what = "listing a seller's orders";
        let index = self
            .rows(what, &self.st.orders_by_seller, (seller.as_str(),))
            .await?;
        self.listed_orders(what, index, |o| o.seller == *seller)
            .await
    }

    async fn recent_orders_by_seller(
        &self,
        seller: &UserId,
        query: &RecentOrders,
    ) -> Result<Vec<OrderRecord>> {
        let what = "listing a seller's recent orders";
        let mut out = Vec::new();
        if query.limit == 0 {
            return Ok(out);
        }
        let since = to_i64("since_ms", query.since_ms)?;
        let chunk = query.limit.clamp(1, MAX_ORDER_CHUNK);
        let mut index = self
            .row_stream::<(Option<i64>, Option<String>)>(
                what,
                &self.st.recent_orders_by_seller,
                (seller.as_str(), since),
            )
            .await?;
        // Index rows in chunks, each chunk's orders fetched together, until
        // enough match or the index runs out.
        loop {
            let mut rows = Vec::with_capacity(chunk);
            while rows.len() < chunk {
                match index.try_next().await.map_err(|e| driver_error(what, &e))? {
                    Some(row) => rows.push(row),
                    None => break,
                }
            }
            let last = rows.len() < chunk;
            let matching = self
                .listed_orders(what, rows, |o| o.seller == *seller && query.in_room(o))
                .await?;
            out.extend(matching);
            if last || out.len() >= query.limit {
                break;
            }
        }
        out.truncate(query.limit);
        Ok(out)
    }
}

#[async_trait]
impl ChatHistory for ScyllaStore {
    async fn append_chat(&self, line: &ChatLine) -> Result<()> {
        let room = line.room_id.as_str();
        let day = i32::try_from(line.at_ms / DAY_MS).map_err(|_| {
            StoreError::Corrupt(format!("chat time {} is out of range", line.at_ms))
        })?;
        let at = to_i64("at_ms", line.at_ms)?;
        // Unique per append and fixed before the first attempt, so a
        // driver retry rewrites the same row; ordered per writer, so equal
        // timestamps from one node keep their order.
        let n = self.chat_counter.fetch_add(1, Ordering::Relaxed);
        let line_id = format!("{:016x}{n:016x}", self.writer_id);
        let record = encode("chat line", line)?;
        // The day row first: every stored line is reachable from it.
        self.write("indexing a chat day", &self.st.touch_chat_day, (room, day))
            .await?;
        let values = (room, day, at, line_id.as_str(), record.as_slice());
        self.write("appending chat", &self.st.insert_chat, values)
            .await
    }

    async fn recent_chat(&self, room: &RoomId, limit: usize) -> Result<Vec<ChatLine>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let days: Vec<(Option<i32>,)> = self
            .rows("listing chat days", &self.st.chat_days, (room.as_str(),))
            .await?;
        let mut st = self.st.chat_of_day.clone();
        // Bounded: `limit` is at most MAX_CHAT_PAGE here.
        st.set_page_size(i32::try_from(limit.min(MAX_CHAT_PAGE)).unwrap_or(1));
        let mut newest_first = Vec::new();
        // Newest day first, newest line first within a day.
        for day in days.into_iter().filter_map(|(d,)| d) {
            let need = limit - newest_first.len();
            let rows: Vec<(Option<Vec<u8>>,)> = self
                .rows_until("reading chat", &st, (room.as_str(), day), |rows| {
                    rows.len() >= need
                })
                .await?;
            for bytes in rows.into_iter().filter_map(|(r,)| r) {
                newest_first.push(decode::<ChatLine>("chat line", room.as_str(), &bytes)?);
            }
            if newest_first.len() >= limit {
                break;
            }
        }
        newest_first.truncate(limit);
        newest_first.reverse();
        Ok(newest_first)
    }
}
