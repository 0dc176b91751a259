//! A room's live flag from the RTMP server's reports: one publisher per
//! stream, duplicates and lost ends, recovery, and the publisher timeout.

mod common;

use common::*;
use liveshop_domain::{Publisher, Rejection, Room, RoomChange, RoomCommand};
use liveshop_protocol::RoomEvent;

#[test]
fn going_live_twice_publishes_once() {
    let mut r = room();
    assert_eq!(
        r.handle(RoomCommand::SetLive { on: true }, 0)
            .published
            .len(),
        1
    );
    assert!(
        r.handle(RoomCommand::SetLive { on: true }, 0)
            .published
            .is_empty()
    );
    assert!(r.is_live());
}

fn publisher(client: &str) -> Publisher {
    Publisher {
        client: client.into(),
        addr: "10.0.0.7".into(),
    }
}

fn stream(r: &mut Room, cmd: RoomCommand) -> (Result<(), Rejection>, Vec<RoomEvent>) {
    let out = r.handle(cmd, 0);
    let events = out.published.into_iter().map(|s| s.event).collect();
    (out.reply, events)
}

#[test]
fn a_second_publisher_neither_takes_over_nor_ends_the_stream() {
    let mut r = room();
    let (p1, p2) = (publisher("1"), publisher("2"));
    let started = |p: &Publisher| RoomCommand::StreamStarted {
        publisher: p.clone(),
    };
    let ended = |p: &Publisher| RoomCommand::StreamEnded {
        publisher: p.clone(),
    };
    assert_eq!(
        stream(&mut r, started(&p1)),
        (Ok(()), vec![RoomEvent::Live { on: true }])
    );
    assert_eq!(r.publisher(), Some(&p1));
    // The same publisher again (a repeated hook) changes nothing.
    assert_eq!(stream(&mut r, started(&p1)), (Ok(()), vec![]));
    // A duplicate encoder: refused, then its end is ignored.
    let (reply, events) = stream(&mut r, started(&p2));
    assert!(matches!(reply, Err(Rejection::BadState(_))), "{reply:?}");
    assert!(events.is_empty());
    let (reply, events) = stream(&mut r, ended(&p2));
    assert!(matches!(reply, Err(Rejection::BadState(_))), "{reply:?}");
    assert!(events.is_empty());
    assert!(r.is_live());
    assert_eq!(r.publisher(), Some(&p1));
    // The real end.
    assert_eq!(
        stream(&mut r, ended(&p1)),
        (Ok(()), vec![RoomEvent::Live { on: false }])
    );
    assert!(!r.is_live());
    assert_eq!(r.publisher(), None);
    // A late end changes nothing; a new publish after the end is the normal
    // reconnect path.
    assert_eq!(stream(&mut r, ended(&p1)), (Ok(()), vec![]));
    assert_eq!(
        stream(&mut r, started(&p2)),
        (Ok(()), vec![RoomEvent::Live { on: true }])
    );
    assert_eq!(r.publisher(), Some(&p2));
}

#[test]
fn a_publisher_reported_alive_takes_over_a_lost_one() {
    let mut r = room();
    let (p1, p2) = (publisher("1"), publisher("2"));
    let (reply, _) = stream(
        &mut r,
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
    );
    assert_eq!(reply, Ok(()));
    // p1's end never arrived; p2 streams (the RTMP server accepted it).
    let alive = RoomCommand::StreamAlive {
        publisher: p2.clone(),
    };
    let out = r.handle(alive.clone(), 0);
    assert_eq!(out.reply, Ok(()));
    assert!(out.published.is_empty(), "still live: no event");
    assert_eq!(
        out.changes,
        vec![RoomChange::Live {
            on: true,
            publisher: Some(p2.clone())
        }]
    );
    assert_eq!(r.publisher(), Some(&p2));
    let (reply, _) = stream(&mut r, RoomCommand::StreamEnded { publisher: p1 });
    assert!(
        reply.is_err(),
        "the lost publisher no longer ends the stream"
    );
    let (reply, _) = stream(
        &mut r,
        RoomCommand::StreamEnded {
            publisher: p2.clone(),
        },
    );
    assert_eq!(reply, Ok(()));
    assert!(!r.is_live());
    // A report racing with the end does not revive the room.
    let (reply, events) = stream(&mut r, alive);
    assert!(matches!(reply, Err(Rejection::BadState(_))), "{reply:?}");
    assert!(events.is_empty());
    assert!(!r.is_live());
}

#[test]
fn publishers_survive_recovery_and_unknown_ones_end_the_stream() {
    let mut r = room();
    let p1 = publisher("1");
    let out = r.handle(
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
        0,
    );
    let mut recovered = room();
    for c in &out.changes {
        recovered.apply(c);
    }
    assert_eq!(recovered.publisher(), Some(&p1));
    // Live without a recorded publisher (SetLive, an older log): any end
    // takes it offline, and a report names the publisher.
    let mut r = room();
    r.handle(RoomCommand::SetLive { on: true }, 0);
    assert_eq!(r.publisher(), None);
    let (reply, _) = stream(
        &mut r,
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
    );
    assert!(reply.is_err(), "someone else may be streaming");
    let (reply, _) = stream(
        &mut r,
        RoomCommand::StreamAlive {
            publisher: p1.clone(),
        },
    );
    assert_eq!(reply, Ok(()));
    assert_eq!(r.publisher(), Some(&p1));
    let mut r = room();
    r.handle(RoomCommand::SetLive { on: true }, 0);
    assert_eq!(
        stream(&mut r, RoomCommand::StreamEnded { publisher: p1 }),
        (Ok(()), vec![RoomEvent::Live { on: false }])
    );
}

#[test]
fn a_live_change_without_publisher_decodes_from_older_logs() {
    // What a node before publishers were recorded wrote.
    #[derive(serde::Serialize)]
    #[serde(tag = "e", rename_all = "snake_case")]
    enum Old {
        Live { on: bool },
    }
    let bytes = rmp_serde::to_vec_named(&Old::Live { on: true }).unwrap();
    let change: RoomChange = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(
        change,
        RoomChange::Live {
            on: true,
            publisher: None
        }
    );
}

/// A room whose publisher times out after 30 s unheard.
fn timed_room() -> Room {
    room().with_publisher_timeout(Some(30_000))
}

fn ticked(r: &mut Room, now_ms: u64) -> Vec<RoomEvent> {
    r.handle(RoomCommand::Tick, now_ms)
        .published
        .into_iter()
        .map(|s| s.event)
        .collect()
}

#[test]
fn a_publisher_heard_from_keeps_its_room_live() {
    let mut r = timed_room();
    let p1 = publisher("1");
    let started = RoomCommand::StreamStarted {
        publisher: p1.clone(),
    };
    r.handle(started.clone(), 1_000).reply.unwrap();
    assert_eq!(r.next_deadline(), Some(31_000));
    let alive = RoomCommand::StreamAlive {
        publisher: p1.clone(),
    };
    for now in [10_000, 20_000, 30_000, 40_000, 50_000] {
        let out = r.handle(alive.clone(), now);
        assert_eq!(out.reply, Ok(()));
        assert!(out.changes.is_empty(), "an update writes nothing");
        assert_eq!(r.next_deadline(), Some(now + 30_000));
        assert!(ticked(&mut r, now + 29_999).is_empty());
        assert!(r.is_live());
    }
    // A repeated on_publish from the room's publisher counts too.
    r.handle(started, 70_000).reply.unwrap();
    assert_eq!(r.next_deadline(), Some(100_000));
}

#[test]
fn a_publisher_unheard_past_the_timeout_ends_its_stream_at_the_tick() {
    let mut r = timed_room();
    let p1 = publisher("1");
    r.handle(
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
        1_000,
    );
    assert!(ticked(&mut r, 30_999).is_empty());
    assert!(r.is_live());
    let out = r.handle(RoomCommand::Tick, 31_000);
    assert_eq!(
        out.changes,
        vec![RoomChange::Live {
            on: false,
            publisher: None
        }],
        "exactly what the publisher's end writes"
    );
    let events: Vec<_> = out.published.into_iter().map(|s| s.event).collect();
    assert_eq!(events, vec![RoomEvent::Live { on: false }]);
    assert!(!r.is_live());
    assert_eq!(r.publisher(), None);
    assert_eq!(r.next_deadline(), None);
    assert!(ticked(&mut r, 100_000).is_empty(), "ended once");
    // A late end or update changes nothing; a new publish goes live again.
    let (reply, events) = stream(
        &mut r,
        RoomCommand::StreamEnded {
            publisher: p1.clone(),
        },
    );
    assert_eq!((reply, events), (Ok(()), vec![]));
    let out = r.handle(
        RoomCommand::StreamAlive {
            publisher: p1.clone(),
        },
        100_000,
    );
    assert!(out.reply.is_err() && !r.is_live());
    r.handle(RoomCommand::StreamStarted { publisher: p1 }, 100_000);
    assert_eq!(r.next_deadline(), Some(130_000));
}

#[test]
fn only_the_rooms_publisher_extends_its_deadline() {
    let mut r = timed_room();
    let (p1, p2) = (publisher("1"), publisher("2"));
    r.handle(
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
        0,
    );
    // A refused duplicate's publish and its end do not extend it.
    let out = r.handle(
        RoomCommand::StreamStarted {
            publisher: p2.clone(),
        },
        20_000,
    );
    assert!(out.reply.is_err());
    let out = r.handle(
        RoomCommand::StreamEnded {
            publisher: p2.clone(),
        },
        25_000,
    );
    assert!(out.reply.is_err());
    assert_eq!(r.next_deadline(), Some(30_000));
    assert_eq!(ticked(&mut r, 30_000), vec![RoomEvent::Live { on: false }]);
    // An update from another publisher is nginx's word that it streams
    // (its predecessor's end was lost): it takes the room over and it is
    // that publisher's deadline from then on.
    r.handle(
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
        40_000,
    );
    r.handle(
        RoomCommand::StreamAlive {
            publisher: p2.clone(),
        },
        50_000,
    )
    .reply
    .unwrap();
    assert_eq!(r.publisher(), Some(&p2));
    assert_eq!(r.next_deadline(), Some(80_000));
}

#[test]
fn a_room_live_without_a_publisher_or_timeout_never_times_out() {
    let mut r = timed_room();
    r.handle(RoomCommand::SetLive { on: true }, 0);
    assert_eq!(r.next_deadline(), None);
    assert!(ticked(&mut r, u64::MAX).is_empty());
    assert!(r.is_live());
    let mut r = room();
    r.handle(
        RoomCommand::StreamStarted {
            publisher: publisher("1"),
        },
        0,
    );
    assert_eq!(r.next_deadline(), None, "no timeout configured");
    assert!(ticked(&mut r, u64::MAX).is_empty());
    assert!(r.is_live());
    let mut r = room().with_publisher_timeout(Some(0));
    r.handle(
        RoomCommand::StreamStarted {
            publisher: publisher("1"),
        },
        0,
    );
    assert_eq!(r.next_deadline(), None, "0 means never");
}

#[test]
fn a_recovered_live_room_restarts_its_publishers_clock_at_recovery() {
    let mut r = timed_room();
    let p1 = publisher("1");
    let mut log = Vec::new();
    let out = r.handle(
        RoomCommand::StreamStarted {
            publisher: p1.clone(),
        },
        1_000,
    );
    log.extend(out.changes);
    let out = r.handle(
        RoomCommand::StreamAlive {
            publisher: p1.clone(),
        },
        20_000,
    );
    log.extend(out.changes);
    // The same log rebuilds the same durable state; the last-heard time is
    // not in it and restarts at recovery (never earlier than the original).
    let mut rebuilt = timed_room();
    for c in &log {
        rebuilt.apply(c);
    }
    rebuilt.resume(60_000);
    assert!(rebuilt.is_live());
    assert_eq!(rebuilt.publisher(), Some(&p1));
    assert_eq!(rebuilt.next_deadline(), Some(90_000));
    assert!(ticked(&mut rebuilt, 89_999).is_empty());
    assert_eq!(
        ticked(&mut rebuilt, 90_000),
        vec![RoomEvent::Live { on: false }]
    );
    // An ended stream stays ended after replay: no deadline, no event.
    let out = r.handle(RoomCommand::Tick, 50_000);
    log.extend(out.changes);
    assert!(!r.is_live());
    let mut rebuilt = timed_room();
    for c in &log {
        rebuilt.apply(c);
    }
    rebuilt.resume(60_000);
    assert!(!rebuilt.is_live());
    assert_eq!(rebuilt.next_deadline(), None);
    assert!(ticked(&mut rebuilt, u64::MAX).is_empty());
}
