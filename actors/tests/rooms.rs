//! Rooms: sequencing, fan-out, join/replay, lagging, moderation, directory.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use liveshop_actors::{ActorConfig, EventBatch, Joined, Outbound};
use liveshop_domain::{LotCommand, LotReply, Rejection, RoomCommand, Sequenced};
use liveshop_protocol::{Codec, LotStatus, Notice, RoomEvent, RoomId, RoomStatus, ServerMessage};
use liveshop_store::{RoomRecord, Rooms};

fn snapshot_seq(joined: Joined) -> u64 {
    match joined {
        Joined::Snapshot(s) => s.seq,
        Joined::Replay(_) => panic!("expected a snapshot"),
    }
}

fn chat(who: &str, text: &str) -> RoomCommand {
    RoomCommand::Chat {
        user: user(who),
        name: who.into(),
        text: text.into(),
    }
}

fn chats(events: &[Sequenced]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            RoomEvent::Chat { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_every_bid_in_lot_seq_order_with_gapless_seqs() {
    let node = Node::new(config()).await;
    let lot = node.lot("A1", auction(600_000)).await;
    let r = &node.region;
    let (a, mut a_rx) = conn(1, None, 4096);
    let (b, mut b_rx) = conn(2, None, 4096);
    let a_start = snapshot_seq(r.join(&room_id(), None, &a).await.unwrap().unwrap());
    let b_start = snapshot_seq(r.join(&room_id(), None, &b).await.unwrap().unwrap());
    node.open(&lot).await;

    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let region = r.clone();
        let lot = lot.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for round in 0..10u64 {
                let amount = 1000 + (round * 8 + t) * 5;
                let cmd = LotCommand::Bid {
                    bidder: user(&format!("b{t}")),
                    amount,
                };
                match region.lot_command(&lot, cmd).await.unwrap() {
                    Ok(LotReply::Bid { lot_seq, amount }) => accepted.push((lot_seq, amount)),
                    Err(Rejection::BidTooLow { .. }) => {}
                    other => panic!("{other:?}"),
                }
            }
            accepted
        }));
    }
    let mut accepted = Vec::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    accepted.sort();
    let n = accepted.len();
    assert!(n > 0);

    for (rx, start) in [(&mut a_rx, a_start), (&mut b_rx, b_start)] {
        let events = events_until(rx, |evs| bids(evs).len() >= n).await;
        assert_eq!(events[0].seq, start + 1);
        assert_gapless(&events);
        let seen = bids(&events);
        assert_eq!(seen, accepted, "every accepted bid, in lot_seq order");
        let seqs: Vec<u64> = seen.iter().map(|b| b.0).collect();
        assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
    }
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_since_replays_exactly_the_missed_events() {
    let node = Node::new(ActorConfig {
        replay_buffer: 64,
        ..config()
    })
    .await;
    let r = &node.region;
    let (a, mut a_rx) = conn(1, None, 1024);
    r.join(&room_id(), None, &a).await.unwrap().unwrap();
    for i in 0..5 {
        r.room_command(&room_id(), chat("u1", &format!("m{i}")))
            .await
            .unwrap()
            .unwrap();
    }
    let seen = events_until(&mut a_rx, |evs| chats(evs).len() == 5).await;
    let since = seen
        .iter()
        .find(|e| chats(std::slice::from_ref(e)) == ["m1"])
        .unwrap()
        .seq;

    // A client that saw up to m1 reconnects.
    let (c, mut c_rx) = conn(2, None, 1024);
    let replay = match r.join(&room_id(), Some(since), &c).await.unwrap().unwrap() {
        Joined::Replay(evs) => evs,
        Joined::Snapshot(_) => panic!("expected a replay"),
    };
    assert_eq!(replay.first().map(|e| e.seq), Some(since + 1));
    assert_gapless(&replay);
    assert_eq!(chats(&replay), ["m2", "m3", "m4"]);
    let missed: Vec<_> = seen.iter().filter(|e| e.seq > since).cloned().collect();
    assert_eq!(&replay[..missed.len()], &missed[..]);

    // Live events continue right after the replay.
    r.room_command(&room_id(), chat("u1", "after"))
        .await
        .unwrap()
        .unwrap();
    let live = events_until(&mut c_rx, |evs| chats(evs).contains(&"after".to_string())).await;
    let last_replayed = replay.last().unwrap().seq;
    assert_eq!(live[0].seq, last_replayed + 1);
    assert_gapless(&live);
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_older_than_the_buffer_gets_a_reset_snapshot() {
    let node = Node::new(ActorConfig {
        replay_buffer: 8,
        ..config()
    })
    .await;
    let r = &node.region;
    for i in 0..20 {
        r.room_command(&room_id(), chat("u1", &format!("m{i}")))
            .await
            .unwrap()
            .unwrap();
    }
    let (c, _rx) = conn(1, None, 64);
    for since in [1, 10_000] {
        match r.join(&room_id(), Some(since), &c).await.unwrap().unwrap() {
            Joined::Snapshot(s) => {
                assert!(s.reset);
                assert!(s.seq >= 20);
            }
            Joined::Replay(_) => panic!("since {since} cannot be replayed"),
        }
    }
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_connection_is_lagged_and_unsubscribed_while_others_keep_receiving() {
    let node = Node::new(config()).await;
    let r = &node.region;
    let (slow, mut slow_rx) = conn(1, None, 4);
    let (fast, mut fast_rx) = conn(2, None, 1024);
    r.join(&room_id(), None, &slow).await.unwrap().unwrap();
    r.join(&room_id(), None, &fast).await.unwrap().unwrap();

    for i in 0..50 {
        r.room_command(&room_id(), chat("u1", &format!("m{i}")))
            .await
            .unwrap()
            .unwrap();
    }
    let got = events_until(&mut fast_rx, |evs| chats(evs).len() == 50).await;
    assert_gapless(&got);

    // The slow reader's queue never held more than its capacity plus the
    // reserved `lagged` slot, and ends with `lagged`.
    let mut queued = Vec::new();
    while let Ok(m) = slow_rx.try_recv() {
        queued.push(m);
    }
    assert!(queued.len() <= 5, "{} messages queued", queued.len());
    assert!(matches!(queued.last(), Some(Outbound::Lagged { room }) if *room == room_id()));
    assert!(r.stats().lagged >= 1);
    let view = r.room_view(&room_id()).await.unwrap();
    assert_eq!(view.viewers, 1);

    // Nothing more arrives for the unsubscribed connection.
    r.room_command(&room_id(), chat("u1", "later"))
        .await
        .unwrap()
        .unwrap();
    events_until(&mut fast_rx, |evs| {
        chats(evs).contains(&"later".to_string())
    })
    .await;
    assert!(slow_rx.try_recv().is_err());

    // It can resynchronise by joining again.
    match r.join(&room_id(), Some(1), &slow).await.unwrap().unwrap() {
        Joined::Snapshot(s) => assert!(s.reset),
        Joined::Replay(evs) => assert!(!evs.is_empty()),
    }
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lag_is_reported_even_when_the_reserved_slot_is_in_use() {
    let node = Node::new(config()).await;
    let store = node.store.clone();
    let second = RoomId::new("r2").unwrap();
    store
        .create_room(&RoomRecord {
            room_id: second.clone(),
            host: host(),
            title: "Second".into(),
            description: None,
            stream_key: "key-r2".into(),
            created_ms: 3,
        })
        .await
        .unwrap();
    let r = &node.region;
    let (slow, mut slow_rx) = conn(1, None, 2);
    r.join(&room_id(), None, &slow).await.unwrap().unwrap();
    r.join(&second, None, &slow).await.unwrap().unwrap();
    for i in 0..6 {
        r.room_command(&room_id(), chat("u1", &format!("a{i}")))
            .await
            .unwrap()
            .unwrap();
        r.room_command(&second, chat("u1", &format!("b{i}")))
            .await
            .unwrap()
            .unwrap();
    }
    // Both rooms dropped the connection; reading makes room for the second
    // report, which must then arrive.
    let mut lagged = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while lagged.len() < 2 {
        match tokio::time::timeout_at(deadline, slow_rx.recv()).await {
            Ok(Some(Outbound::Lagged { room })) => {
                lagged.insert(room);
            }
            Ok(Some(_)) => {}
            other => panic!("expected two lagged reports, got {lagged:?} then {other:?}"),
        }
    }
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_shows_the_room_its_lots_and_the_pin() {
    let node = Node::new(config()).await;
    let r = &node.region;
    let a = node.lot("A1", auction(600_000)).await;
    let s = node.lot("S1", sale(10, 600_000)).await;
    node.open(&s).await;
    r.room_command(
        &room_id(),
        RoomCommand::Pin {
            by: host(),
            lot: s.clone(),
        },
    )
    .await
    .unwrap()
    .unwrap();
    r.room_command(&room_id(), RoomCommand::SetLive { on: true })
        .await
        .unwrap()
        .unwrap();
    let hold = LotCommand::Hold {
        user: user("u1"),
        qty: 3,
    };
    assert!(matches!(
        r.lot_command(&s, hold).await,
        Ok(Ok(LotReply::Held { .. }))
    ));

    let (c, _rx) = conn(1, None, 64);
    let snap = match r.join(&room_id(), None, &c).await.unwrap().unwrap() {
        Joined::Snapshot(s) => s,
        Joined::Replay(_) => panic!("expected a snapshot"),
    };
    assert!(!snap.reset);
    assert_eq!(snap.room.room_id, room_id());
    assert_eq!(snap.room.status, RoomStatus::Live);
    assert_eq!(snap.room.pinned, Some(s.clone()));
    assert_eq!(snap.room.description.as_deref(), Some("drops"));
    assert_eq!(snap.room.viewers, 1);
    let lots: Vec<_> = snap
        .lots
        .iter()
        .map(|l| (l.lot.clone(), l.status))
        .collect();
    assert_eq!(lots, [(a, LotStatus::Draft), (s.clone(), LotStatus::Open)]);
    // The lot publishes after its append; the room catches up at once.
    let room = r.clone();
    eventually("the room shows the hold", || {
        let room = room.clone();
        let c = c.clone();
        let s = s.clone();
        async move {
            match room.join(&room_id(), None, &c).await.unwrap().unwrap() {
                Joined::Snapshot(snap) => snap
                    .lots
                    .iter()
                    .any(|l| l.lot == s && l.available == Some(7)),
                Joined::Replay(_) => false,
            }
        }
    })
    .await;
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_user_may_not_join_or_chat() {
    let node = Node::new(config()).await;
    let r = &node.region;
    let ban = RoomCommand::Ban {
        by: host(),
        user: user("troll"),
    };
    r.room_command(&room_id(), ban).await.unwrap().unwrap();
    let (c, _rx) = conn(1, Some(user("troll")), 16);
    assert!(matches!(
        r.join(&room_id(), None, &c).await,
        Ok(Err(Rejection::Forbidden))
    ));
    let said = r
        .room_command(&room_id(), chat("troll", "hi"))
        .await
        .unwrap();
    assert_eq!(said, Err(Rejection::Forbidden));
    let not_host = RoomCommand::Ban {
        by: user("u1"),
        user: user("u2"),
    };
    assert_eq!(
        r.room_command(&room_id(), not_host).await.unwrap(),
        Err(Rejection::Forbidden)
    );
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_lists_rooms_by_viewers_and_remembers_live_rooms() {
    let node = Node::new(config()).await;
    let second = RoomId::new("r2").unwrap();
    node.store
        .create_room(&RoomRecord {
            room_id: second.clone(),
            host: host(),
            title: "Second".into(),
            description: None,
            stream_key: "key-r2".into(),
            created_ms: 3,
        })
        .await
        .unwrap();
    let r = &node.region;
    r.room_command(&second, RoomCommand::SetLive { on: true })
        .await
        .unwrap()
        .unwrap();
    let conns: Vec<_> = (0..2).map(|i| conn(i, None, 16)).collect();
    for (c, _) in &conns {
        r.join(&second, None, c).await.unwrap().unwrap();
    }
    let all = r.rooms(false).await.unwrap();
    let order: Vec<_> = all.iter().map(|s| (s.room_id.clone(), s.viewers)).collect();
    assert_eq!(order, [(second.clone(), 2), (room_id(), 0)]);
    let live = r.rooms(true).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].status, RoomStatus::Live);
    drop(conns);

    let node = node.restart(config()).await;
    let live = node.region.rooms(true).await.unwrap();
    assert_eq!(live.len(), 1, "the live flag is durable");
    assert_eq!((live[0].room_id.clone(), live[0].viewers), (second, 0));
    node.region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_every_attached_connection_of_the_user() {
    let node = Node::new(config()).await;
    let lot = node.lot("A1", auction(600_000)).await;
    node.open(&lot).await;
    let r = &node.region;
    let (phone, mut phone_rx) = conn(1, Some(user("u1")), 16);
    let (laptop, mut laptop_rx) = conn(2, Some(user("u1")), 16);
    r.attach(&user("u1"), &phone).await;
    r.attach(&user("u1"), &laptop).await;
    let bid = |who: &str, amount| LotCommand::Bid {
        bidder: user(who),
        amount,
    };
    r.lot_command(&lot, bid("u1", 1000)).await.unwrap().unwrap();
    r.lot_command(&lot, bid("u2", 1100)).await.unwrap().unwrap();
    for rx in [&mut phone_rx, &mut laptop_rx] {
        let n = notice_where(rx, |n| matches!(n, Notice::Outbid { .. })).await;
        assert!(matches!(n, Notice::Outbid { amount: 1100, .. }));
    }
    r.detach(&user("u1"), laptop.id).await;
    r.detach(&user("u1"), phone.id).await;
    let region = r.clone();
    eventually("the session ends", || {
        let region = region.clone();
        async move { region.stats().sessions == 0 }
    })
    .await;
    node.region.shutdown().await;
}

#[test]
fn a_batch_is_one_frame_of_event_messages_per_codec() {
    let events = vec![
        Sequenced {
            seq: 7,
            event: RoomEvent::Hearts { count: 3 },
        },
        Sequenced {
            seq: 8,
            event: RoomEvent::Live { on: true },
        },
    ];
    let batch = EventBatch::new(room_id(), events.clone());
    for codec in [Codec::Json, Codec::MsgPack] {
        let frame = batch.frame(codec);
        // Encoded once: the same bytes come back.
        assert_eq!(frame.as_ptr(), batch.frame(codec).as_ptr());
        let msgs = codec.decode_batch(&frame).unwrap();
        let expected: Vec<_> = events
            .iter()
            .map(|e| ServerMessage::event(room_id(), e.seq, e.event.clone()))
            .collect();
        assert_eq!(msgs, expected);
    }
    let _ = Duration::ZERO;
}
