//! `--demo`: a seller, a buyer, a live room with an auction, a flash sale and
//! a raffle, all open, so a newcomer sees something at once. Idempotent: on a
//! data directory that has them already, it only reports them.

use std::fmt;
use std::net::SocketAddr;

use liveshop_domain::{LotCommand, LotDef, RoomCommand};
use liveshop_gateway::ApiContext;
use liveshop_gateway::util::{new_ulid, now_ms, random_hex, random_seed};
use liveshop_protocol::{
    Allocation, AuctionTerms, Currency, LotId, LotSpec, LotTerms, Role, RoomId, SaleTerms, Secret,
    UserId,
};
use liveshop_store::{LotRecord, RoomRecord, UserRecord};

use crate::app::AppError;

const SELLER: &str = "demo-seller";
const BUYER: &str = "demo-buyer";
const PASSWORD: &str = "demo-password";
const ROOM_TITLE: &str = "liveshop demo: Friday sneaker drop";

/// What was seeded, for the start-up banner.
pub struct DemoInfo {
    addr: SocketAddr,
    room: RoomId,
    lots: Vec<(String, LotId)>,
}

impl fmt::Display for DemoInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.addr;
        writeln!(
            f,
            "demo: seller {SELLER} / {PASSWORD}, buyer {BUYER} / {PASSWORD}"
        )?;
        writeln!(
            f,
            "demo: open    http://{a}/r/{}  (the web client)",
            self.room
        )?;
        writeln!(f, "demo: room    http://{a}/api/v1/rooms/{}", self.room)?;
        for (what, lot) in &self.lots {
            writeln!(f, "demo: {what:<7} http://{a}/api/v1/lots/{lot}")?;
        }
        writeln!(
            f,
            "demo: log in  curl -s -XPOST http://{a}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"{BUYER}\",\"password\":\"{PASSWORD}\"}}'"
        )?;
        write!(
            f,
            "demo: watch   ws://{a}/ws  then send {{\"type\":\"join\",\"room\":\"{}\"}}",
            self.room
        )
    }
}

fn demo_err(e: impl fmt::Display) -> AppError {
    AppError::Demo(e.to_string())
}

pub async fn seed(ctx: &ApiContext, addr: SocketAddr) -> Result<DemoInfo, AppError> {
    let seller = user(ctx, SELLER, Role::Seller).await?;
    user(ctx, BUYER, Role::Buyer).await?;
    let store = ctx.store();
    let existing = store.rooms().await?.into_iter().find(|r| r.host == seller);
    let room = match existing {
        Some(room) => room.room_id,
        None => {
            let room = RoomRecord {
                room_id: RoomId::new(new_ulid()).map_err(demo_err)?,
                host: seller.clone(),
                title: ROOM_TITLE.into(),
                description: Some("Seeded by `liveshop --demo`.".into()),
                stream_key: random_hex(24),
                created_ms: now_ms(),
            };
            store.create_room(&room).await?;
            room.room_id
        }
    };
    let mut lots: Vec<(String, LotId)> = store
        .lots_in_room(&room)
        .await?
        .into_iter()
        .map(|l| (l.spec.title.clone(), l.lot_id))
        .collect();
    if lots.is_empty() {
        for (what, spec) in specs() {
            let lot_id = LotId::new_for_lot(new_ulid()).map_err(demo_err)?;
            LotDef::new(lot_id.clone(), room.clone(), seller.clone(), spec.clone())
                .map_err(demo_err)?;
            let record = LotRecord {
                lot_id: lot_id.clone(),
                room_id: room.clone(),
                host: seller.clone(),
                spec,
                created_ms: now_ms(),
            };
            ctx.region().create_lot(record).await?;
            let open = LotCommand::Open {
                by: seller.clone(),
                seed: random_seed(),
            };
            ctx.region()
                .lot_command(&lot_id, open)
                .await?
                .map_err(demo_err)?;
            lots.push((what.to_owned(), lot_id));
        }
        if let Some((_, auction)) = lots.first() {
            let pin = RoomCommand::Pin {
                by: seller.clone(),
                lot: auction.clone(),
            };
            ctx.region()
                .room_command(&room, pin)
                .await?
                .map_err(demo_err)?;
        }
        // There is no stream in the demo; show the room as live anyway (and
        // host it in the live-room directory, as an RTMP publish would).
        liveshop_gateway::live::set_live(ctx, &room, true)
            .await
            .map_err(demo_err)?;
    }
    Ok(DemoInfo { addr, room, lots })
}

async fn user(ctx: &ApiContext, name: &str, role: Role) -> Result<UserId, AppError> {
    if let Some(user) = ctx.store().user_by_name(name).await? {
        return Ok(user.user_id);
    }
    let hash = liveshop_gateway::auth::hash_password(ctx, Secret::new(PASSWORD))
        .await
        .map_err(demo_err)?;
    let user = UserRecord {
        user_id: UserId::new(new_ulid()).map_err(demo_err)?,
        username: name.to_owned(),
        password_hash: hash,
        role,
        created_ms: now_ms(),
    };
    ctx.store().create_user(&user).await?;
    Ok(user.user_id)
}

fn specs() -> Vec<(&'static str, LotSpec)> {
    let spec = |title: &str, terms| LotSpec {
        title: title.into(),
        currency: Currency::USD,
        terms,
    };
    vec![
        (
            "auction",
            spec(
                "Jordan 1 Retro High, size 10",
                LotTerms::Auction(AuctionTerms {
                    start_price: 5_000,
                    duration_ms: 30 * 60_000,
                    anti_snipe_ms: 10_000,
                    min_increment: None,
                }),
            ),
        ),
        (
            "sale",
            spec(
                "Vintage tee drop",
                LotTerms::Sale(SaleTerms {
                    price: 2_500,
                    stock: 100,
                    per_user_limit: Some(2),
                    hold_ttl_ms: 300_000,
                    allocation: Allocation::Fifo,
                    duration_ms: None,
                }),
            ),
        ),
        (
            "raffle",
            spec(
                "Travis Scott low, size 9 (raffle)",
                LotTerms::Sale(SaleTerms {
                    price: 18_000,
                    stock: 5,
                    per_user_limit: Some(1),
                    hold_ttl_ms: 300_000,
                    allocation: Allocation::Raffle,
                    duration_ms: Some(30 * 60_000),
                }),
            ),
        ),
    ]
}
