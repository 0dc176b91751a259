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

liveshop_store::conformance_behaviours!(conformance_tests);

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
