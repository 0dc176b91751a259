//! Every message survives both codecs, alone and in batches.

mod common;

use common::*;
use liveshop_protocol::*;

const CODECS: [Codec; 2] = [Codec::Json, Codec::MsgPack];

#[test]
fn samples_cover_every_variant() {
    let mut seen = [false; REQUEST_VARIANTS];
    for m in client_samples() {
        seen[request_index(&m.request)] = true;
    }
    assert!(seen.iter().all(|&s| s), "requests: {seen:?}");

    let mut server = [false; SERVER_VARIANTS];
    let mut events = [false; EVENT_VARIANTS];
    let mut notices = [false; NOTICE_VARIANTS];
    for m in server_samples() {
        server[server_index(&m)] = true;
        match &m {
            ServerMessage::Event(e) => events[event_index(&e.event)] = true,
            ServerMessage::Notice(n) => notices[notice_index(&n.notice)] = true,
            _ => {}
        }
    }
    assert!(server.iter().all(|&s| s), "server messages: {server:?}");
    assert!(events.iter().all(|&s| s), "events: {events:?}");
    assert!(notices.iter().all(|&s| s), "notices: {notices:?}");
}

#[test]
fn every_client_message_round_trips_in_both_codecs() {
    for codec in CODECS {
        for msg in client_samples() {
            let bytes = codec.encode_client(&msg).unwrap();
            let back = codec
                .decode_client(&bytes)
                .unwrap_or_else(|e| panic!("{codec:?} {msg:?}: {e}"));
            assert_eq!(back, msg, "{codec:?}");
        }
    }
}

#[test]
fn every_server_message_round_trips_in_both_codecs() {
    for codec in CODECS {
        for msg in server_samples() {
            let bytes = codec.encode_server(&msg).unwrap();
            let back = codec
                .decode_server(&bytes)
                .unwrap_or_else(|e| panic!("{codec:?} {msg:?}: {e}"));
            assert_eq!(back, msg, "{codec:?}");
        }
    }
}

/// MessagePack carries the same objects as JSON: maps keyed by field name,
/// never positional arrays.
#[test]
fn msgpack_is_the_json_object_as_named_maps() {
    for msg in server_samples() {
        let json: serde_json::Value =
            serde_json::from_slice(&Codec::Json.encode_server(&msg).unwrap()).unwrap();
        let mp: serde_json::Value =
            rmp_serde::from_slice(&Codec::MsgPack.encode_server(&msg).unwrap()).unwrap();
        assert_eq!(mp, json);
    }
    for msg in client_samples() {
        let json: serde_json::Value =
            serde_json::from_slice(&Codec::Json.encode_client(&msg).unwrap()).unwrap();
        let mp: serde_json::Value =
            rmp_serde::from_slice(&Codec::MsgPack.encode_client(&msg).unwrap()).unwrap();
        assert_eq!(mp, json);
    }
}

/// A MessagePack client that writes maps in another order, or compact
/// integer widths, must still be understood.
#[test]
fn msgpack_client_frames_from_other_encoders_decode() {
    for msg in client_samples() {
        let json: serde_json::Value =
            serde_json::from_slice(&Codec::Json.encode_client(&msg).unwrap()).unwrap();
        // serde_json::Value maps are sorted by key: a different field order.
        let frame = rmp_serde::to_vec_named(&json).unwrap();
        assert_eq!(Codec::MsgPack.decode_client(&frame).unwrap(), msg);
    }
}

#[test]
fn batches_round_trip_in_order_in_both_codecs() {
    let msgs = server_samples();
    for codec in CODECS {
        let frame = codec.encode_batch(&msgs).unwrap();
        assert_eq!(codec.decode_batch(&frame).unwrap(), msgs, "{codec:?}");
    }
}

#[test]
fn json_batches_are_one_object_per_line() {
    let msgs = server_samples();
    let frame = Codec::Json.encode_batch(&msgs).unwrap();
    let text = std::str::from_utf8(&frame).unwrap();
    assert_eq!(text.lines().count(), msgs.len());
    assert!(!text.ends_with('\n'));
    for (line, msg) in text.lines().zip(&msgs) {
        assert_eq!(serde_json::from_str::<ServerMessage>(line).unwrap(), *msg);
    }
}

#[test]
fn appending_builds_the_same_frame_as_encode_batch() {
    let msgs = server_samples();
    for codec in CODECS {
        let mut frame = Vec::new();
        for m in &msgs {
            codec.append_server(&mut frame, m).unwrap();
        }
        assert_eq!(frame, codec.encode_batch(&msgs).unwrap());
    }
}

#[test]
fn a_batch_of_one_is_a_single_message_frame() {
    for codec in CODECS {
        for msg in server_samples() {
            let one = codec.encode_server(&msg).unwrap();
            assert_eq!(codec.encode_batch(std::slice::from_ref(&msg)).unwrap(), one);
            assert_eq!(codec.decode_batch(&one).unwrap(), vec![msg]);
        }
    }
}

#[test]
fn empty_batches_decode_to_nothing_and_blank_json_lines_are_skipped() {
    for codec in CODECS {
        assert!(codec.decode_batch(&[]).unwrap().is_empty());
    }
    let frame = b"\n{\"type\":\"notice\",\"notice\":{\"kind\":\"lagged\"}}\r\n\n";
    assert_eq!(
        Codec::Json.decode_batch(frame).unwrap(),
        vec![ServerMessage::notice(Notice::Lagged)]
    );
}

#[test]
fn a_truncated_msgpack_batch_is_an_error_not_a_shorter_batch() {
    let msgs = server_samples();
    let frame = Codec::MsgPack.encode_batch(&msgs).unwrap();
    assert!(
        Codec::MsgPack
            .decode_batch(&frame[..frame.len() - 1])
            .is_err()
    );
}

#[test]
fn http_bodies_round_trip_through_json() {
    let created = CreatedLot {
        lot_id: lot(),
        lot: auction_view(),
    };
    let s = serde_json::to_string(&created).unwrap();
    assert_eq!(serde_json::from_str::<CreatedLot>(&s).unwrap(), created);

    let orders = OrderList {
        orders: vec![OrderView {
            order: order(),
            lot: lot(),
            room: room(),
            buyer: user("u1"),
            seller: Some(user("seller1")),
            qty: 2,
            amount: 5000,
            currency: Currency::USD,
            status: OrderStatus::Placed,
            created_ms: 1_700_000_000_000,
        }],
    };
    let s = serde_json::to_string(&orders).unwrap();
    assert_eq!(serde_json::from_str::<OrderList>(&s).unwrap(), orders);

    let rooms = RoomList {
        rooms: vec![RoomSummary::from(&room_view())],
    };
    let s = serde_json::to_string(&rooms).unwrap();
    assert_eq!(serde_json::from_str::<RoomList>(&s).unwrap(), rooms);
}
