//! `GET /orders` (the caller's own purchases) and `GET /seller/orders`
//! (orders on lots the caller hosts).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use liveshop_protocol::{OrderList, OrderView, SellerOrdersQuery};
use liveshop_store::{OrderRecord, RecentOrders};

use crate::auth::extractor::AuthUser;
use crate::context::ApiContext;
use crate::error::{Error, Result};

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/orders", get(my_orders))
        .route("/seller/orders", get(seller_orders))
}

/// The wire form; `seller` only on the seller's listing.
fn view(o: OrderRecord, with_seller: bool) -> OrderView {
    OrderView {
        order: o.order_id,
        lot: o.lot_id,
        room: o.room_id,
        buyer: o.buyer,
        seller: with_seller.then_some(o.seller),
        qty: o.qty,
        amount: o.total.amount,
        currency: o.total.currency,
        status: o.status,
        created_ms: o.created_ms,
    }
}

/// Any signed-in user may list what they bought.
async fn my_orders(State(ctx): State<ApiContext>, user: AuthUser) -> Result<Json<OrderList>> {
    let orders = ctx.store().orders_by_buyer(&user.0.user_id).await?;
    Ok(Json(OrderList {
        orders: orders.into_iter().map(|o| view(o, false)).collect(),
    }))
}

/// `GET /seller/orders[?room=<id>][&limit=<n>]`: a studio asks for its
/// room's newest orders, not the seller's whole history every few seconds.
/// With `limit` the newest come first, and the store reads only from the
/// newest end back to the room's creation, so the poll costs what it
/// returns. Without it, every order (oldest first) for the read-back of a
/// whole history.
async fn seller_orders(
    State(ctx): State<ApiContext>,
    user: AuthUser,
    query: Result<Query<SellerOrdersQuery>, QueryRejection>,
) -> Result<Json<OrderList>> {
    let seller = user.seller()?;
    let Query(query) = query?;
    let Some(limit) = query.limit else {
        let mut orders = ctx.store().orders_by_seller(&seller.user_id).await?;
        if let Some(room) = &query.room {
            orders.retain(|o| &o.room_id == room);
        }
        return Ok(list(orders));
    };
    if !(1..=SellerOrdersQuery::MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "limit must be 1 to {}",
            SellerOrdersQuery::MAX_LIMIT
        )));
    }
    let since_ms = match &query.room {
        None => 0,
        Some(room) => match ctx.store().room(room).await? {
            // Orders are stamped by the clock of the node that took them,
            // so allow for skew between nodes.
            Some(r) if r.host == seller.user_id => r.created_ms.saturating_sub(CLOCK_SKEW_MS),
            // Someone else's room, or none: none of the seller's orders.
            _ => return Ok(list(Vec::new())),
        },
    };
    let recent = RecentOrders {
        room: query.room,
        since_ms,
        limit,
    };
    let orders = ctx
        .store()
        .recent_orders_by_seller(&seller.user_id, &recent)
        .await?;
    Ok(list(orders))
}

/// How far apart two nodes' clocks may be when a room is created on one and
/// its orders taken on another.
const CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

fn list(orders: Vec<OrderRecord>) -> Json<OrderList> {
    Json(OrderList {
        orders: orders.into_iter().map(|o| view(o, true)).collect(),
    })
}
