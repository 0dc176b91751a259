//! Hostile and broken frames: errors, never panics, and the `rid` kept
//! whenever it can be read.

mod common;

use common::*;
use liveshop_protocol::*;
use proptest::prelude::*;

const CODECS: [Codec; 2] = [Codec::Json, Codec::MsgPack];

fn reject(codec: Codec, frame: &[u8]) -> Rejected {
    match codec.decode_client(frame) {
        Ok(m) => panic!("accepted {m:?}"),
        Err(r) => r,
    }
}

#[test]
fn unknown_type_is_bad_request_and_keeps_rid() {
    let r = reject(Codec::Json, br#"{"type":"teleport","rid":"42","x":1}"#);
    assert_eq!(r.rid, rid("42"));
    assert_eq!(r.error.code(), ErrorCode::BadRequest);
    let reply = r.reply();
    let ServerMessage::Error(e) = &reply else {
        panic!("{reply:?}")
    };
    assert_eq!(e.rid, rid("42"));
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert!(e.message.contains("teleport"), "{}", e.message);
}

#[test]
fn unknown_type_in_msgpack_keeps_rid() {
    let frame =
        rmp_serde::to_vec_named(&serde_json::json!({"type":"teleport","rid":"42"})).unwrap();
    assert_eq!(reject(Codec::MsgPack, &frame).rid, rid("42"));
}

#[test]
fn missing_type_and_wrong_field_types_keep_rid() {
    for frame in [
        &br#"{"rid":"r","lot":"L1"}"#[..],
        br#"{"rid":"r","type":"bid","lot":"L1","amount":"12"}"#,
        br#"{"rid":"r","type":"bid","lot":"L1","amount":-1}"#,
        br#"{"rid":"r","type":"bid","lot":"L1","amount":1.5}"#,
        br#"{"rid":"r","type":"bid","lot":"L1","amount":18446744073709551616}"#,
        br#"{"rid":"r","type":"bid","lot":"","amount":1}"#,
        br#"{"rid":"r","type":"bid","lot":"L1"}"#,
        br#"{"rid":"r","type":7}"#,
    ] {
        let r = reject(Codec::Json, frame);
        assert_eq!(r.rid, rid("r"), "{}", String::from_utf8_lossy(frame));
        assert_eq!(r.error.code(), ErrorCode::BadRequest);
    }
}

#[test]
fn bad_moderate_requests_are_bad_request_naming_the_problem() {
    for (frame, names) in [
        (
            &br#"{"rid":"m","type":"moderate","room":"r1","user":"u1","action":"kick"}"#[..],
            "kick",
        ),
        (
            br#"{"rid":"m","type":"moderate","room":"r1","action":"mute"}"#,
            "user",
        ),
        (
            br#"{"rid":"m","type":"moderate","room":"r1","user":"u1"}"#,
            "action",
        ),
        (
            br#"{"rid":"m","type":"moderate","user":"u1","action":"ban"}"#,
            "room",
        ),
        (
            br#"{"rid":"m","type":"moderate","room":"r1","user":"","action":"ban"}"#,
            "",
        ),
    ] {
        for codec in CODECS {
            let bytes = match codec {
                Codec::Json => frame.to_vec(),
                Codec::MsgPack => {
                    let v: serde_json::Value = serde_json::from_slice(frame).unwrap();
                    rmp_serde::to_vec_named(&v).unwrap()
                }
            };
            let r = reject(codec, &bytes);
            assert_eq!(
                r.rid,
                rid("m"),
                "{codec:?} {}",
                String::from_utf8_lossy(frame)
            );
            assert_eq!(r.error.code(), ErrorCode::BadRequest);
            let ServerMessage::Error(e) = r.reply() else {
                panic!("not an error reply")
            };
            assert!(e.message.contains(names), "{codec:?}: {}", e.message);
        }
    }
}

#[test]
fn syntax_error_after_the_rid_keeps_rid() {
    let r = reject(
        Codec::Json,
        br#"{"rid":"abc","type":"bid","lot":"L1","amount":12"#,
    );
    assert_eq!(r.rid, rid("abc"));
    assert!(matches!(r.error, DecodeError::Malformed(_)));
}

#[test]
fn truncated_msgpack_after_the_rid_keeps_rid() {
    let msg = ClientMessage::new(
        rid("abc"),
        Request::Bid {
            lot: lot(),
            amount: 1200,
        },
    );
    let frame = Codec::MsgPack.encode_client(&msg).unwrap();
    let r = reject(Codec::MsgPack, &frame[..frame.len() - 1]);
    assert_eq!(r.rid, rid("abc"));
}

#[test]
fn invalid_rid_is_dropped_not_echoed() {
    let long = "x".repeat(65);
    let frame = format!(r#"{{"rid":"{long}","type":"ping"}}"#);
    let r = reject(Codec::Json, frame.as_bytes());
    assert_eq!(r.rid, None);
    let r = reject(Codec::Json, br#"{"rid":5,"type":"nope"}"#);
    assert_eq!(r.rid, None);
}

#[test]
fn out_of_range_fields_are_invalid_and_keep_rid() {
    let long = "a".repeat(MAX_CHAT_CHARS + 1);
    for frame in [
        format!(r#"{{"rid":"c","type":"chat","room":"r1","text":"{long}"}}"#),
        r#"{"rid":"c","type":"chat","room":"r1","text":""}"#.to_owned(),
        r#"{"rid":"c","type":"like","room":"r1","count":51}"#.to_owned(),
        r#"{"rid":"c","type":"hold","lot":"L1","qty":0}"#.to_owned(),
    ] {
        for codec in CODECS {
            let bytes = match codec {
                Codec::Json => frame.clone().into_bytes(),
                Codec::MsgPack => rmp_serde::to_vec_named(
                    &serde_json::from_str::<serde_json::Value>(&frame).unwrap(),
                )
                .unwrap(),
            };
            let r = reject(codec, &bytes);
            assert_eq!(r.rid, rid("c"));
            assert!(matches!(r.error, DecodeError::Invalid(_)), "{:?}", r.error);
            assert_eq!(r.error.code(), ErrorCode::BadRequest);
        }
    }
}

#[test]
fn frames_over_the_limit_are_payload_too_large() {
    let mut frame = br#"{"type":"ping","pad":""#.to_vec();
    frame.resize(MAX_FRAME_BYTES + 1, b'a');
    for codec in CODECS {
        let r = reject(codec, &frame);
        assert_eq!(
            r.error,
            DecodeError::TooLarge {
                len: MAX_FRAME_BYTES + 1
            }
        );
        assert_eq!(r.error.code(), ErrorCode::PayloadTooLarge);
    }
}

#[test]
fn a_client_frame_with_two_messages_is_rejected() {
    let one = Codec::MsgPack
        .encode_client(&ClientMessage::new(rid("1"), Request::Ping))
        .unwrap();
    let two = [one.clone(), one].concat();
    let r = reject(Codec::MsgPack, &two);
    assert_eq!(r.error, DecodeError::TrailingBytes);
    assert_eq!(r.rid, rid("1"));
    let r = reject(Codec::Json, b"{\"type\":\"ping\"}\n{\"type\":\"ping\"}");
    assert_eq!(r.error.code(), ErrorCode::BadRequest);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = MAX_FRAME_BYTES / 2 - 64;
    let mut json = br#"{"rid":"d","type":"ping","x":"#.to_vec();
    json.extend(std::iter::repeat_n(b'[', depth));
    json.extend(std::iter::repeat_n(b']', depth));
    json.push(b'}');
    let r = reject(Codec::Json, &json);
    assert_eq!(r.rid, rid("d"));

    // The same in MessagePack: fixarray(1) markers nested deeply.
    let mut mp = rmp_serde::to_vec_named(&serde_json::json!({"rid":"d","type":"ping"})).unwrap();
    mp[0] += 1; // one more map entry
    mp.extend_from_slice(b"\xa1x");
    mp.extend(std::iter::repeat_n(0x91u8, MAX_FRAME_BYTES - mp.len() - 1));
    mp.push(0xc0);
    let r = reject(Codec::MsgPack, &mp);
    assert_eq!(r.rid, rid("d"));

    // Deep maps as keys, which JSON cannot express.
    let mut keys = vec![0x81u8; MAX_FRAME_BYTES - 1];
    keys.push(0xc0);
    reject(Codec::MsgPack, &keys);
}

#[test]
fn invalid_utf8_is_an_error() {
    reject(
        Codec::Json,
        b"{\"type\":\"chat\",\"room\":\"r1\",\"text\":\"\xff\xfe\"}",
    );
    let mut mp =
        rmp_serde::to_vec_named(&serde_json::json!({"type":"chat","room":"r1","text":"ab"}))
            .unwrap();
    let n = mp.len();
    mp[n - 2] = 0xff;
    mp[n - 1] = 0xfe;
    reject(Codec::MsgPack, &mp);
}

#[test]
fn huge_declared_lengths_do_not_allocate_or_panic() {
    for frame in [
        &b"\xdf\xff\xff\xff\xff"[..],            // map32 of 4G entries
        b"\xdd\xff\xff\xff\xff",                 // array32
        b"\x81\xa4type\xdb\xff\xff\xff\xff",     // str32 of 4G bytes
        b"\x81\xa4type\xc6\xff\xff\xff\xff",     // bin32
        b"\x81\xa4type\xc9\xff\xff\xff\xff\x01", // ext32
        b"\xc1",                                 // never-used marker
        b"",
    ] {
        reject(Codec::MsgPack, frame);
    }
}

#[test]
fn every_prefix_of_every_valid_frame_decodes_without_panic() {
    for codec in CODECS {
        for msg in client_samples() {
            let frame = codec.encode_client(&msg).unwrap();
            for cut in 0..frame.len() {
                let _ = codec.decode_client(&frame[..cut]);
            }
        }
        for msg in server_samples() {
            let frame = codec.encode_server(&msg).unwrap();
            for cut in 0..frame.len() {
                let _ = codec.decode_batch(&frame[..cut]);
            }
        }
    }
}

fn valid_frames(codec: Codec) -> Vec<Vec<u8>> {
    client_samples()
        .iter()
        .map(|m| codec.encode_client(m).unwrap())
        .collect()
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::Json), Just(Codec::MsgPack)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(
        codec in codec(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = codec.decode_client(&bytes);
        let _ = codec.decode_batch(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic_the_decoder(
        codec in codec(),
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let frames = valid_frames(codec);
        let mut frame = pick.get(&frames).clone();
        for (at, byte) in edits {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        if let Ok(msg) = codec.decode_client(&frame) {
            // Whatever is accepted re-encodes to something accepted again.
            let again = codec.encode_client(&msg).unwrap();
            prop_assert_eq!(codec.decode_client(&again).unwrap(), msg);
        }
    }

    #[test]
    fn malformed_json_keeps_a_leading_rid(
        rid in "[!#-~]{1,64}",
        body in prop_oneof![
            Just(r#""type":"bid","lot":"L1","amount":"#.to_owned()),
            Just(r#""type":"nope"}"#.to_owned()),
            Just(r#""type":"bid","lot":"L1","amount":-5}"#.to_owned()),
            Just(r#""type":"hold","lot":"L1","qty":1e3}"#.to_owned()),
            Just(r#""type":"#.to_owned()),
            Just(r#""lot":{"a":[1,2,"#.to_owned()),
            "[^\\\\\"]{0,40}",
        ],
    ) {
        // `rid` is printable ASCII without space or `"`, as JSON needs no escaping.
        let rid = rid.replace('\\', "/");
        let frame = format!(r#"{{"rid":"{rid}",{body}"#);
        let r = match Codec::Json.decode_client(frame.as_bytes()) {
            Ok(m) => return Err(TestCaseError::fail(format!("accepted {m:?}"))),
            Err(r) => r,
        };
        prop_assert_eq!(r.rid, Some(RequestId::new(rid).unwrap()));
        prop_assert_eq!(r.error.code(), ErrorCode::BadRequest);
    }
}
