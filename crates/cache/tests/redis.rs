//! The cache suite against the Redis backend, on a redis-server this test
//! starts itself (skipped, with a message, if redis-server is missing).
//! Each test uses its own server, so each gets an empty cache.
#![cfg(feature = "redis")]

use liveshop_testkit::redis_server as support;

use liveshop_cache::{RedisCache, suite};

async fn connect(server: &support::RedisServer) -> RedisCache {
    RedisCache::connect(&server.url(), "liveshop-test:")
        .await
        .expect("connect to the test redis-server")
}

#[tokio::test]
async fn a_bucket_allows_the_burst_then_refills() {
    let Some(server) = support::start() else {
        return;
    };
    suite::a_bucket_allows_the_burst_then_refills(&connect(&server).await).await;
}

#[tokio::test]
async fn two_handles_share_one_bucket() {
    let Some(server) = support::start() else {
        return;
    };
    // Two connections, as two nodes would have.
    let a = connect(&server).await;
    let b = connect(&server).await;
    suite::two_handles_share_one_bucket(&a, &b).await;
}

#[tokio::test]
async fn live_rooms_are_listed_by_viewers() {
    let Some(server) = support::start() else {
        return;
    };
    suite::live_rooms_are_listed_by_viewers(&connect(&server).await).await;
}

#[tokio::test]
async fn an_idem_key_is_claimed_once() {
    let Some(server) = support::start() else {
        return;
    };
    suite::an_idem_key_is_claimed_once(&connect(&server).await).await;
}

#[tokio::test]
async fn revoked_families_are_remembered_until_their_ttl() {
    let Some(server) = support::start() else {
        return;
    };
    suite::revoked_families_are_remembered_until_their_ttl(&connect(&server).await).await;
}

#[tokio::test]
async fn live_rooms_expire_without_a_heartbeat() {
    let Some(server) = support::start() else {
        return;
    };
    suite::live_rooms_expire_without_a_heartbeat(&connect(&server).await).await;
}

#[tokio::test]
async fn a_different_prefix_is_a_different_cache() {
    let Some(server) = support::start() else {
        return;
    };
    let a = RedisCache::connect(&server.url(), "node-a:").await.unwrap();
    let b = RedisCache::connect(&server.url(), "node-b:").await.unwrap();
    use liveshop_cache::Cache;
    assert_eq!(a.claim_idem("s", "k", "a", 60_000).await.unwrap(), None);
    assert_eq!(b.claim_idem("s", "k", "b", 60_000).await.unwrap(), None);
}
