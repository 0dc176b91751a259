mod common;

use common::*;
use liveshop_domain::{Rejection, Replay, Room, RoomChange, RoomCommand, RoomDef};
use liveshop_protocol::{LotId, RoomEvent, RoomId};

fn chat(room: &mut Room, u: u32, text: &str) -> Result<(), Rejection> {
    room.handle(
        RoomCommand::Chat {
            user: user(u),
            name: format!("n{u}"),
            text: text.into(),
        },
        7,
    )
    .reply
}

#[test]
fn chat_is_published_trimmed_with_the_time() {
    let mut r = room();
    let out = r.handle(
        RoomCommand::Chat {
            user: user(1),
            name: "Ann".into(),
            text: "  hi  ".into(),
        },
        7,
    );
    assert_eq!(out.published.len(), 1);
    assert_eq!(out.published[0].seq, 1);
    assert_eq!(
        out.published[0].event,
        RoomEvent::Chat {
            user: user(1),
            name: "Ann".into(),
            text: "hi".into(),
            at_ms: 7
        }
    );
}

#[test]
fn empty_long_or_control_chat_is_refused_and_publishes_nothing() {
    let mut r = room();
    assert!(matches!(
        chat(&mut r, 1, "   "),
        Err(Rejection::BadRequest(_))
    ));
    assert!(matches!(
        chat(&mut r, 1, &"x".repeat(501)),
        Err(Rejection::BadRequest(_))
    ));
    assert!(chat(&mut r, 1, &"é".repeat(500)).is_ok());
    assert!(matches!(
        chat(&mut r, 1, "bell\u{7}"),
        Err(Rejection::BadRequest(_))
    ));
    assert_eq!(r.seq(), 1);
}

#[test]
fn muted_users_cannot_chat_and_banned_users_cannot_chat_like_or_join() {
    let mut r = room();
    assert_eq!(
        r.handle(
            RoomCommand::Mute {
                by: user(2),
                user: user(1)
            },
            0
        )
        .reply,
        Err(Rejection::Forbidden)
    );
    r.handle(
        RoomCommand::Mute {
            by: host(),
            user: user(1),
        },
        0,
    )
    .reply
    .unwrap();
    assert_eq!(chat(&mut r, 1, "hi"), Err(Rejection::Forbidden));
    assert!(
        r.handle(
            RoomCommand::Like {
                user: user(1),
                count: 1
            },
            0
        )
        .reply
        .is_ok()
    );
    r.handle(
        RoomCommand::Unmute {
            by: host(),
            user: user(1),
        },
        0,
    )
    .reply
    .unwrap();
    assert!(chat(&mut r, 1, "hi").is_ok());

    let out = r.handle(
        RoomCommand::Ban {
            by: host(),
            user: user(3),
        },
        0,
    );
    assert!(
        matches!(out.changes[..], [RoomChange::Banned { .. }]),
        "a ban is durable"
    );
    assert_eq!(chat(&mut r, 3, "hi"), Err(Rejection::Forbidden));
    assert_eq!(
        r.handle(
            RoomCommand::Like {
                user: user(3),
                count: 1
            },
            0
        )
        .reply,
        Err(Rejection::Forbidden)
    );
    assert!(!r.may_join(Some(&user(3))));
    assert!(r.may_join(None));
}

#[test]
fn likes_are_summed_into_one_hearts_event_per_tick() {
    let mut r = room();
    for _ in 0..10 {
        r.handle(
            RoomCommand::Like {
                user: user(1),
                count: 5,
            },
            0,
        )
        .reply
        .unwrap();
    }
    assert!(
        r.handle(
            RoomCommand::Like {
                user: user(1),
                count: 51
            },
            0
        )
        .reply
        .is_err()
    );
    assert_eq!(r.seq(), 0, "likes are not published one by one");
    let out = r.handle(RoomCommand::Tick, 100);
    assert_eq!(
        out.published.iter().map(|e| &e.event).collect::<Vec<_>>(),
        vec![&RoomEvent::Hearts { count: 50 }]
    );
    assert!(
        r.handle(RoomCommand::Tick, 200).published.is_empty(),
        "nothing new, nothing sent"
    );
}

#[test]
fn only_the_host_pins_and_only_lots_of_the_room() {
    let mut r = room();
    let lot = LotId::new("L1").unwrap();
    assert_eq!(
        r.handle(
            RoomCommand::Pin {
                by: host(),
                lot: lot.clone()
            },
            0
        )
        .reply,
        Err(Rejection::NotFound)
    );
    r.handle(RoomCommand::AddLot { lot: lot.clone() }, 0)
        .reply
        .unwrap();
    assert_eq!(
        r.handle(
            RoomCommand::Pin {
                by: user(1),
                lot: lot.clone()
            },
            0
        )
        .reply,
        Err(Rejection::Forbidden)
    );
    let out = r.handle(
        RoomCommand::Pin {
            by: host(),
            lot: lot.clone(),
        },
        0,
    );
    assert_eq!(
        out.published[0].event,
        RoomEvent::Pinned { lot: lot.clone() }
    );
    assert_eq!(r.pinned(), Some(&lot));
}

#[test]
fn join_replays_what_the_buffer_holds_and_resets_beyond() {
    let mut r = room();
    for i in 0..6 {
        chat(&mut r, 1, &format!("m{i}")).unwrap();
    }
    // Buffer of 4: seqs 3..=6 are kept.
    assert!(matches!(r.join(6), Replay::Events(e) if e.is_empty()));
    assert!(matches!(r.join(2), Replay::Events(e) if e.len() == 4 && e[0].seq == 3));
    assert_eq!(r.join(1), Replay::Reset);
    assert_eq!(
        r.join(7),
        Replay::Reset,
        "a since from the future is a reset"
    );
}

#[test]
fn seqs_are_reserved_durably_before_use_and_recovery_resumes_above() {
    let mut r = room();
    let out = r.handle(
        RoomCommand::Chat {
            user: user(1),
            name: "a".into(),
            text: "hi".into(),
        },
        0,
    );
    assert_eq!(
        out.changes,
        vec![RoomChange::SeqReserved { upto: 1_000 }],
        "the first event reserves a block"
    );
    for i in 0..1_200 {
        chat(&mut r, 1, &format!("m{i}")).unwrap();
    }
    let mut rebuilt = room();
    rebuilt.apply(&RoomChange::SeqReserved { upto: 1_000 });
    rebuilt.apply(&RoomChange::SeqReserved { upto: 2_000 });
    rebuilt.resume(0);
    assert_eq!(rebuilt.seq(), 2_000);
    assert!(rebuilt.seq() >= r.seq());
}

#[test]
fn a_recovered_room_continues_its_sequence() {
    let def = RoomDef {
        id: RoomId::new("r1").unwrap(),
        host: host(),
        title: "Drops".into(),
    };
    let mut r = Room::new(def, 1_000, 8);
    assert_eq!(
        r.join(990),
        Replay::Reset,
        "nothing before recovery can be replayed"
    );
    chat(&mut r, 1, "back").unwrap();
    assert_eq!(r.seq(), 1_001);
    assert!(matches!(r.join(1_000), Replay::Events(e) if e.len() == 1));
}
