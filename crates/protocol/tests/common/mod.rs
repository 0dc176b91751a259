//! Samples of every message, shared by the integration tests.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use liveshop_protocol::*;

pub fn rid(s: &str) -> Option<RequestId> {
    Some(RequestId::new(s).unwrap())
}
pub fn room() -> RoomId {
    RoomId::new("r1").unwrap()
}
pub fn lot() -> LotId {
    LotId::new_for_lot("L1").unwrap()
}
pub fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}
pub fn hold() -> HoldId {
    HoldId::for_lot(&lot(), 4)
}
pub fn order() -> OrderId {
    OrderId::for_lot(&lot(), 2)
}

pub fn auction_view() -> LotView {
    LotView {
        lot: lot(),
        room: room(),
        kind: LotKind::Auction,
        status: LotStatus::Open,
        title: "Jordan 1 size 10".into(),
        currency: Currency::USD,
        opens_ms: Some(1_700_000_000_000),
        ends_ms: Some(1_700_000_030_000),
        start_price: Some(1000),
        high_bid: Some(1200),
        high_bidder: Some(user("u7")),
        min_bid: Some(1300),
        price: None,
        stock: None,
        available: None,
        sold: None,
        per_user_limit: None,
        allocation: None,
        seed_hash: None,
        seed: None,
    }
}

pub fn sale_view() -> LotView {
    LotView {
        lot: LotId::new("L2").unwrap(),
        room: room(),
        kind: LotKind::Sale,
        status: LotStatus::Settled,
        title: "Vintage tee drop — ünïcode".into(),
        currency: Currency::new("JPY").unwrap(),
        opens_ms: None,
        ends_ms: None,
        start_price: None,
        high_bid: None,
        high_bidder: None,
        min_bid: None,
        price: Some(2500),
        stock: Some(50),
        available: Some(0),
        sold: Some(50),
        per_user_limit: Some(2),
        allocation: Some(Allocation::Raffle),
        seed_hash: Some("ab".repeat(32)),
        seed: Some("cd".repeat(32)),
    }
}

pub fn room_view() -> RoomView {
    RoomView {
        room_id: room(),
        title: "Sneaker Sunday".into(),
        host: user("seller1"),
        status: RoomStatus::Live,
        viewers: 1234,
        pinned: Some(lot()),
        description: Some("drops every hour".into()),
        hls_url: Some("https://cdn.example/r1.m3u8".into()),
    }
}

/// Index of a request's variant; no wildcard, so a new variant breaks the
/// build until the samples cover it.
pub fn request_index(r: &Request) -> usize {
    match r {
        Request::Auth { .. } => 0,
        Request::Join { .. } => 1,
        Request::Leave { .. } => 2,
        Request::Chat { .. } => 3,
        Request::Like { .. } => 4,
        Request::Bid { .. } => 5,
        Request::MaxBid { .. } => 6,
        Request::Hold { .. } => 7,
        Request::Release { .. } => 8,
        Request::Checkout { .. } => 9,
        Request::Enter { .. } => 10,
        Request::Pin { .. } => 11,
        Request::OpenLot { .. } => 12,
        Request::CloseLot { .. } => 13,
        Request::Ping => 14,
        Request::Moderate { .. } => 15,
    }
}
pub const REQUEST_VARIANTS: usize = 16;

pub fn server_index(m: &ServerMessage) -> usize {
    match m {
        ServerMessage::Ok(_) => 0,
        ServerMessage::Error(_) => 1,
        ServerMessage::Event(_) => 2,
        ServerMessage::Notice(_) => 3,
    }
}
pub const SERVER_VARIANTS: usize = 4;

pub fn event_index(e: &RoomEvent) -> usize {
    match e {
        RoomEvent::Chat { .. } => 0,
        RoomEvent::Hearts { .. } => 1,
        RoomEvent::Viewers { .. } => 2,
        RoomEvent::Live { .. } => 3,
        RoomEvent::Pinned { .. } => 4,
        RoomEvent::Lot { .. } => 5,
        RoomEvent::Bid { .. } => 6,
        RoomEvent::Stock { .. } => 7,
        RoomEvent::LotClosed { .. } => 8,
    }
}
pub const EVENT_VARIANTS: usize = 9;

pub fn notice_index(n: &Notice) -> usize {
    match n {
        Notice::Outbid { .. } => 0,
        Notice::HoldExpiring { .. } => 1,
        Notice::HoldExpired { .. } => 2,
        Notice::QueueOffer { .. } => 3,
        Notice::Won { .. } => 4,
        Notice::Order { .. } => 5,
        Notice::Lagged => 6,
        Notice::QueueEnded { .. } => 7,
        Notice::Banned { .. } => 8,
    }
}
pub const NOTICE_VARIANTS: usize = 9;

pub fn requests() -> Vec<Request> {
    vec![
        Request::Auth {
            token: Secret::new("eyJhbGciOi.J9.sig"),
        },
        Request::Join {
            room: room(),
            since: None,
        },
        Request::Join {
            room: room(),
            since: Some(u64::MAX),
        },
        Request::Leave { room: room() },
        Request::Chat {
            room: room(),
            text: "hi \"there\"\n🔥 \u{0}".into(),
        },
        Request::Like {
            room: room(),
            count: 50,
        },
        Request::Bid {
            lot: lot(),
            amount: 1200,
        },
        Request::Bid {
            lot: lot(),
            amount: u64::MAX,
        },
        Request::MaxBid {
            lot: lot(),
            amount: 5000,
        },
        Request::Hold { lot: lot(), qty: 2 },
        Request::Release { hold: hold() },
        Request::Checkout {
            hold: hold(),
            idem: IdemKey::new("k-1").unwrap(),
        },
        Request::Enter { lot: lot() },
        Request::Pin {
            room: room(),
            lot: lot(),
        },
        Request::OpenLot { lot: lot() },
        Request::CloseLot { lot: lot() },
        Request::Moderate {
            room: room(),
            user: user("u1"),
            action: ModAction::Mute,
        },
        Request::Moderate {
            room: room(),
            user: user("u2"),
            action: ModAction::Unmute,
        },
        Request::Moderate {
            room: room(),
            user: user("u3"),
            action: ModAction::Ban,
        },
        Request::Moderate {
            room: room(),
            user: user("u4"),
            action: ModAction::Unban,
        },
        Request::Ping,
    ]
}

/// Every request, each with and without a `rid`.
pub fn client_samples() -> Vec<ClientMessage> {
    let mut out = Vec::new();
    for (i, r) in requests().into_iter().enumerate() {
        out.push(ClientMessage::new(None, r.clone()));
        out.push(ClientMessage::new(rid(&format!("rid-{i}")), r));
    }
    out
}

pub fn events() -> Vec<RoomEvent> {
    vec![
        RoomEvent::Chat {
            user: user("u1"),
            name: "Ann".into(),
            text: "nice".into(),
            at_ms: 1_700_000_000_123,
        },
        RoomEvent::Hearts { count: 17 },
        RoomEvent::Viewers { count: 0 },
        RoomEvent::Live { on: true },
        RoomEvent::Live { on: false },
        RoomEvent::Pinned { lot: lot() },
        RoomEvent::lot_state(auction_view()),
        RoomEvent::lot_state(sale_view()),
        RoomEvent::Bid {
            lot: lot(),
            amount: 1200,
            bidder: user("u7"),
            lot_seq: 3,
            ends_ms: 1_700_000_030_000,
        },
        RoomEvent::Stock {
            lot: lot(),
            available: 12,
        },
        RoomEvent::LotClosed {
            lot: lot(),
            winners: vec![],
        },
        RoomEvent::LotClosed {
            lot: lot(),
            winners: vec![
                Winner {
                    user: user("u1"),
                    amount: 2500,
                    qty: 1,
                },
                Winner {
                    user: user("u2"),
                    amount: 5000,
                    qty: 2,
                },
            ],
        },
    ]
}

pub fn notices() -> Vec<Notice> {
    vec![
        Notice::Outbid {
            lot: lot(),
            amount: 1300,
        },
        Notice::HoldExpiring {
            hold: hold(),
            expires_ms: 1_700_000_300_000,
        },
        Notice::HoldExpired { hold: hold() },
        Notice::QueueOffer {
            lot: lot(),
            hold: hold(),
            expires_ms: 1_700_000_300_000,
        },
        Notice::Won {
            lot: lot(),
            order: order(),
            amount: 1200,
        },
        Notice::Order {
            order: order(),
            status: OrderStatus::Paid,
        },
        Notice::Lagged,
        Notice::QueueEnded {
            lot: lot(),
            reason: QueueEndReason::SoldOut,
        },
        Notice::Banned { room: room() },
    ]
}

pub fn replies() -> Vec<Reply> {
    vec![
        Reply::empty(None),
        Reply::empty(rid("1")),
        Reply {
            user_id: Some(user("u1")),
            ..Reply::empty(rid("a"))
        },
        Reply::snapshot(
            rid("j"),
            Snapshot {
                room: room_view(),
                lots: vec![auction_view(), sale_view()],
                seq: 42,
                reset: false,
            },
        ),
        Reply::snapshot(
            None,
            Snapshot {
                room: RoomView {
                    pinned: None,
                    description: None,
                    hls_url: None,
                    status: RoomStatus::Offline,
                    ..room_view()
                },
                lots: vec![],
                seq: 0,
                reset: true,
            },
        ),
        Reply {
            lot_seq: Some(3),
            amount: Some(1200),
            ..Reply::empty(rid("1"))
        },
        Reply {
            current: Some(1300),
            ..Reply::empty(rid("m"))
        },
        Reply {
            hold: Some(hold()),
            qty: Some(2),
            expires_ms: Some(1_700_000_300_000),
            ..Reply::empty(rid("h"))
        },
        Reply {
            queued: true,
            position: Some(7),
            ..Reply::empty(rid("q"))
        },
        Reply {
            order: Some(order()),
            amount: Some(5000),
            ..Reply::empty(rid("c"))
        },
        Reply {
            entry: Some(EntryId::for_lot(&lot(), 9)),
            ..Reply::empty(rid("e"))
        },
        Reply {
            opens_ms: Some(1),
            ends_ms: Some(2),
            ..Reply::empty(rid("o"))
        },
    ]
}

pub fn server_samples() -> Vec<ServerMessage> {
    let mut out: Vec<ServerMessage> = replies().into_iter().map(ServerMessage::ok).collect();
    for code in ErrorCode::ALL {
        out.push(ServerMessage::error(
            rid("x"),
            code,
            format!("{code} happened"),
        ));
    }
    out.push(ServerMessage::error(None, ErrorCode::BadRequest, ""));
    out.push(ServerMessage::Error(ErrorReply::bid_too_low(
        rid("b"),
        1300,
    )));
    for (i, e) in events().into_iter().enumerate() {
        out.push(ServerMessage::event(room(), i as u64 + 1, e));
    }
    for n in notices() {
        out.push(ServerMessage::notice(n));
    }
    out
}
