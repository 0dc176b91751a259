//! `GET /orders` (the caller's own purchases) and `GET /seller/orders`
//! (orders on lots the caller hosts).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use liveshop_protocol::{OrderList, OrderView};
use liveshop_store::OrderRecord;

use crate::auth::extractor::AuthUser;
use crate::context::ApiContext;
use crate::error::Result;

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

async fn seller_orders(State(ctx): State<ApiContext>, user: AuthUser) -> Result<Json<OrderList>> {
    let seller = user.seller()?;
    let orders = ctx.store().orders_by_seller(&seller.user_id).await?;
    Ok(Json(OrderList {
        orders: orders.into_iter().map(|o| view(o, true)).collect(),
    }))
}
