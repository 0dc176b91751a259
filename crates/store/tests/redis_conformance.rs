//! The conformance suite against `RedisStore`, each test on its own
//! `redis-server` (started by the test, see `support/`) under a unique key
//! prefix. Skipped, with a message, when redis-server is not installed.
#![cfg(feature = "redis")]

use liveshop_testkit::redis_server as support;

use liveshop_store::conformance;
use liveshop_store::{RedisOptions, RedisStore};

async fn connect(server: &support::RedisServer) -> RedisStore {
    let options = RedisOptions {
        prefix: format!("{}:", conformance::unique("conf")),
        ..RedisOptions::default()
    };
    RedisStore::connect_with(&server.url(), options)
        .await
        .expect("connect to the test redis-server")
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(server) = support::start() else { return };
                let store = connect(&server).await;
                conformance::$name(&store).await;
            }
        )*
    };
}

conformance_tests!(
    claim_returns_increasing_epochs,
    append_under_stale_epoch_writes_nothing,
    append_rejects_gaps_and_overlaps,
    read_returns_events_after_seq_in_order,
    logs_are_independent,
    snapshot_is_fenced,
    concurrent_appends_from_many_logs_all_land,
    concurrent_claims_fence_each_other,
    username_is_unique,
    concurrent_creates_have_one_winner,
    family_id_is_unique,
    refresh_rotation_detects_reuse_and_revokes_family,
    expired_family_does_not_rotate,
    revoked_family_does_not_rotate,
    concurrent_rotations_have_one_winner,
    rooms_are_unique_and_found_by_stream_key,
    rooms_listed_oldest_first,
    lots_listed_per_room_in_creation_order,
    orders_are_idempotent_by_id_and_by_buyer_idem,
    orders_listed_per_buyer_and_seller,
    recent_chat_returns_newest_oldest_first,
);

/// The whole suite twice on one store, and once more on a second store
/// with another prefix on the same server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_shares_one_server() {
    let Some(server) = support::start() else {
        return;
    };
    let store = connect(&server).await;
    conformance::run_all(&store).await;
    conformance::run_all(&store).await;
    let other = connect(&server).await;
    conformance::run_all(&other).await;
}

/// Chat keeps exactly the configured number of lines per room, newest last.
#[tokio::test]
async fn chat_is_trimmed_to_the_configured_lines() {
    use liveshop_protocol::{RoomId, UserId};
    use liveshop_store::{ChatHistory, ChatLine};

    let Some(server) = support::start() else {
        return;
    };
    let options = RedisOptions {
        prefix: format!("{}:", conformance::unique("trim")),
        chat_lines_per_room: 40,
        ..RedisOptions::default()
    };
    let store = RedisStore::connect_with(&server.url(), options)
        .await
        .expect("connect");
    let room = RoomId::new("trim-room").expect("room id");
    for i in 0..200u64 {
        let line = ChatLine {
            room_id: room.clone(),
            user: UserId::new("u").expect("user id"),
            name: "u".into(),
            // Pairs of lines share a timestamp: ties keep append order.
            text: format!("line {i}"),
            at_ms: 1_000 + i / 2,
        };
        store.append_chat(&line).await.expect("append chat");
    }
    let all = store.recent_chat(&room, 1_000).await.expect("recent");
    let texts: Vec<String> = all.into_iter().map(|l| l.text).collect();
    let expected: Vec<String> = (160..200).map(|i| format!("line {i}")).collect();
    assert_eq!(texts, expected);
}
