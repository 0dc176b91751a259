//! The exact wire shapes PROTOCOL.md shows.

mod common;

use common::*;
use liveshop_protocol::*;
use serde_json::json;

fn json_of(msg: &ServerMessage) -> String {
    String::from_utf8(Codec::Json.encode_server(msg).unwrap()).unwrap()
}

fn client(text: &str) -> ClientMessage {
    Codec::Json.decode_client(text.as_bytes()).unwrap()
}

#[test]
fn bid_ok_reply_has_only_the_fields_set() {
    let msg = ServerMessage::ok(Reply {
        lot_seq: Some(3),
        amount: Some(1200),
        ..Reply::empty(rid("1"))
    });
    assert_eq!(
        json_of(&msg),
        r#"{"type":"ok","rid":"1","lot_seq":3,"amount":1200}"#
    );
}

#[test]
fn empty_ok_reply_is_type_and_rid() {
    assert_eq!(
        json_of(&ServerMessage::ok(Reply::empty(rid("9")))),
        r#"{"type":"ok","rid":"9"}"#
    );
}

#[test]
fn queued_hold_reply_has_position_instead_of_hold() {
    let msg = ServerMessage::ok(Reply {
        queued: true,
        position: Some(4),
        ..Reply::empty(rid("h"))
    });
    assert_eq!(
        json_of(&msg),
        r#"{"type":"ok","rid":"h","queued":true,"position":4}"#
    );
}

#[test]
fn bid_too_low_error_carries_min_amount() {
    let msg = ServerMessage::Error(ErrorReply::bid_too_low(rid("2"), 1300));
    assert_eq!(
        json_of(&msg),
        r#"{"type":"error","rid":"2","code":"bid_too_low","message":"bid must be at least 1300","min_amount":1300}"#
    );
}

#[test]
fn error_without_rid_omits_it() {
    let msg = ServerMessage::error(None, ErrorCode::BadRequest, "no");
    assert_eq!(
        json_of(&msg),
        r#"{"type":"error","code":"bad_request","message":"no"}"#
    );
}

#[test]
fn join_reply_nests_the_snapshot() {
    let msg = ServerMessage::ok(Reply::snapshot(
        rid("j"),
        Snapshot {
            room: RoomView {
                pinned: None,
                description: None,
                hls_url: None,
                ..room_view()
            },
            lots: vec![],
            seq: 5,
            reset: false,
        },
    ));
    assert_eq!(
        json_of(&msg),
        r#"{"type":"ok","rid":"j","snapshot":{"room":{"room_id":"r1","title":"Sneaker Sunday","host":"seller1","status":"live","viewers":1234},"lots":[],"seq":5}}"#
    );
}

#[test]
fn reset_snapshot_says_so() {
    let snap = Snapshot {
        room: room_view(),
        lots: vec![],
        seq: 1,
        reset: true,
    };
    assert_eq!(serde_json::to_value(&snap).unwrap()["reset"], json!(true));
}

#[test]
fn bid_event_shape() {
    let msg = ServerMessage::event(
        room(),
        8,
        RoomEvent::Bid {
            lot: lot(),
            amount: 1200,
            bidder: user("u7"),
            lot_seq: 3,
            ends_ms: 1_700_000_030_000,
        },
    );
    assert_eq!(
        json_of(&msg),
        r#"{"type":"event","room":"r1","seq":8,"event":{"kind":"bid","lot":"L1","amount":1200,"bidder":"u7","lot_seq":3,"ends_ms":1700000030000}}"#
    );
}

#[test]
fn lot_closed_event_lists_winners() {
    let ev = RoomEvent::LotClosed {
        lot: lot(),
        winners: vec![Winner {
            user: user("u1"),
            amount: 2500,
            qty: 1,
        }],
    };
    assert_eq!(
        serde_json::to_string(&ev).unwrap(),
        r#"{"kind":"lot_closed","lot":"L1","winners":[{"user":"u1","amount":2500,"qty":1}]}"#
    );
}

/// The `lot` event carries the lot state flat, as `GET /lots/{lot}` returns
/// it, except that the lot's own `kind` is `lot_kind` (the event tag is `kind`).
#[test]
fn lot_event_carries_the_lot_state_flat_with_lot_kind() {
    let view = auction_view();
    let ev = serde_json::to_value(RoomEvent::lot_state(view.clone())).unwrap();
    assert_eq!(ev["kind"], "lot");
    assert_eq!(ev["lot_kind"], "auction");
    let mut expected = serde_json::to_value(&view).unwrap();
    let fields = expected.as_object_mut().unwrap();
    fields.remove("kind");
    for (k, v) in fields.iter() {
        assert_eq!(&ev[k], v, "field {k}");
    }
    assert_eq!(ev.as_object().unwrap().len(), fields.len() + 2);
    assert_eq!(ev["status"], "open");
    assert_eq!(ev["high_bidder"], "u7");
}

#[test]
fn lot_view_json_keeps_the_contract_field_names() {
    let v = serde_json::to_value(sale_view()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "lot",
        "room",
        "kind",
        "status",
        "title",
        "currency",
        "price",
        "stock",
        "available",
        "sold",
        "per_user_limit",
        "allocation",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert!(
        !keys.contains(&"high_bid"),
        "auction fields are absent on sales"
    );
}

#[test]
fn notice_shapes() {
    let msg = ServerMessage::notice(Notice::Outbid {
        lot: lot(),
        amount: 1300,
    });
    assert_eq!(
        json_of(&msg),
        r#"{"type":"notice","notice":{"kind":"outbid","lot":"L1","amount":1300}}"#
    );
    let msg = ServerMessage::notice(Notice::Lagged);
    assert_eq!(
        json_of(&msg),
        r#"{"type":"notice","notice":{"kind":"lagged"}}"#
    );
    let msg = ServerMessage::notice(Notice::Order {
        order: order(),
        status: OrderStatus::Cancelled,
    });
    assert_eq!(
        json_of(&msg),
        r#"{"type":"notice","notice":{"kind":"order","order":"L1:o2","status":"cancelled"}}"#
    );
    let msg = ServerMessage::notice(Notice::Banned { room: room() });
    assert_eq!(
        json_of(&msg),
        r#"{"type":"notice","notice":{"kind":"banned","room":"r1"}}"#
    );
}

#[test]
fn moderate_request_has_the_documented_shape() {
    for (action, want) in [
        ("mute", ModAction::Mute),
        ("unmute", ModAction::Unmute),
        ("ban", ModAction::Ban),
        ("unban", ModAction::Unban),
    ] {
        let text = format!(
            r#"{{"type":"moderate","rid":"m","room":"r1","user":"u1","action":"{action}"}}"#
        );
        let msg = client(&text);
        assert_eq!(
            msg,
            ClientMessage::new(
                rid("m"),
                Request::Moderate {
                    room: room(),
                    user: user("u1"),
                    action: want
                }
            )
        );
        assert_eq!(want.as_str(), action);
        assert_eq!(msg.request.kind_name(), "moderate");
        // And back: the same object, field for field.
        let back: serde_json::Value =
            serde_json::from_slice(&Codec::Json.encode_client(&msg).unwrap()).unwrap();
        let sent: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sent);
    }
}

#[test]
fn client_requests_decode_from_the_contract_shapes() {
    assert_eq!(
        client(r#"{"type":"bid","rid":"7","lot":"L1","amount":1200}"#),
        ClientMessage::new(
            rid("7"),
            Request::Bid {
                lot: lot(),
                amount: 1200
            }
        )
    );
    assert_eq!(client(r#"{"type":"ping"}"#).request, Request::Ping);
    assert_eq!(
        client(r#"{"rid":"p","type":"ping","extra":[1,{"x":null}]}"#),
        ClientMessage::new(rid("p"), Request::Ping)
    );
    assert_eq!(
        client(r#"{"type":"join","room":"r1","since":5}"#).request,
        Request::Join {
            room: room(),
            since: Some(5)
        }
    );
    assert_eq!(
        client(r#"{"type":"join","room":"r1","since":null}"#).request,
        Request::Join {
            room: room(),
            since: None
        }
    );
    assert_eq!(
        client(r#"{"type":"checkout","hold":"L1:h4","idem":"k-1"}"#).request,
        Request::Checkout {
            hold: hold(),
            idem: IdemKey::new("k-1").unwrap()
        }
    );
    assert_eq!(
        client(r#"{"type":"max_bid","lot":"L1","amount":5000}"#)
            .request
            .kind_name(),
        "max_bid"
    );
    assert_eq!(
        client(r#"{"type":"open_lot","lot":"L1"}"#).request,
        Request::OpenLot { lot: lot() }
    );
}

#[test]
fn msgpack_client_frames_with_signed_and_wide_integers_decode() {
    // {"type":"bid","rid":"7","lot":"L1","amount":int64 1200}, as some
    // encoders write non-negative numbers.
    let mut frame = vec![0x84];
    for (k, v) in [("type", "bid"), ("rid", "7"), ("lot", "L1")] {
        frame.push(0xa0 | k.len() as u8);
        frame.extend_from_slice(k.as_bytes());
        frame.push(0xa0 | v.len() as u8);
        frame.extend_from_slice(v.as_bytes());
    }
    frame.extend_from_slice(b"\xa6amount\xd3");
    frame.extend_from_slice(&1200i64.to_be_bytes());
    assert_eq!(
        Codec::MsgPack.decode_client(&frame).unwrap(),
        ClientMessage::new(
            rid("7"),
            Request::Bid {
                lot: lot(),
                amount: 1200
            }
        )
    );
}

#[test]
fn lot_body_examples_decode_into_lot_specs() {
    let auction: LotSpec = serde_json::from_str(
        r#"{"title": "Jordan 1 size 10", "currency": "USD",
            "kind": "auction", "start_price": 1000, "duration_ms": 30000,
            "anti_snipe_ms": 10000}"#,
    )
    .unwrap();
    assert_eq!(auction.title, "Jordan 1 size 10");
    assert_eq!(auction.currency, Currency::USD);
    assert_eq!(
        auction.terms,
        LotTerms::Auction(AuctionTerms {
            start_price: 1000,
            duration_ms: 30000,
            anti_snipe_ms: 10000,
            min_increment: None,
        })
    );

    let sale: LotSpec = serde_json::from_str(
        r#"{"title": "Vintage tee drop", "currency": "USD",
            "kind": "sale", "price": 2500, "stock": 50, "per_user_limit": 2,
            "hold_ttl_ms": 300000, "allocation": "fifo"}"#,
    )
    .unwrap();
    assert_eq!(
        sale.terms,
        LotTerms::Sale(SaleTerms {
            price: 2500,
            stock: 50,
            per_user_limit: Some(2),
            hold_ttl_ms: 300000,
            allocation: Allocation::Fifo,
            duration_ms: None,
        })
    );

    let raffle: LotSpec = serde_json::from_str(
        r#"{"title":"t","currency":"EUR","kind":"sale","price":1,"stock":1,"allocation":"raffle"}"#,
    )
    .unwrap();
    assert!(matches!(
        raffle.terms,
        LotTerms::Sale(SaleTerms {
            allocation: Allocation::Raffle,
            hold_ttl_ms: DEFAULT_HOLD_TTL_MS,
            ..
        })
    ));
}

#[test]
fn http_bodies_have_the_contract_shapes() {
    let reg: RegisterRequest =
        serde_json::from_str(r#"{"username":"ann","password":"pw","role":"seller"}"#).unwrap();
    assert_eq!(reg.role, Role::Seller);
    assert_eq!(reg.password.expose(), "pw");
    assert!(!format!("{reg:?}").contains("pw\""));

    let tokens = TokenReply {
        user_id: user("u1"),
        access_token: Secret::new("a"),
        refresh_token: Secret::new("r"),
        expires_in: 900,
    };
    assert_eq!(
        serde_json::to_string(&tokens).unwrap(),
        r#"{"user_id":"u1","access_token":"a","refresh_token":"r","expires_in":900}"#
    );

    let created = CreatedRoom {
        room_id: room(),
        stream_key: Secret::new("sk"),
        rtmp_url: "rtmp://x/live".into(),
        hls_url: "https://x/r1.m3u8".into(),
    };
    assert_eq!(
        serde_json::to_string(&created).unwrap(),
        r#"{"room_id":"r1","stream_key":"sk","rtmp_url":"rtmp://x/live","hls_url":"https://x/r1.m3u8"}"#
    );

    let v = serde_json::to_value(CreatedLot {
        lot_id: lot(),
        lot: auction_view(),
    })
    .unwrap();
    assert_eq!(v["lot_id"], "L1");
    assert_eq!(v["lot"], "L1");
    assert_eq!(v["kind"], "auction");

    let q: RoomListQuery = serde_json::from_str(r#"{"status":"live"}"#).unwrap();
    assert_eq!(q.status, Some(RoomStatus::Live));
}
