//! The cache suite against the in-process backend.

use liveshop_cache::{MemoryCache, suite};

#[tokio::test]
async fn a_bucket_allows_the_burst_then_refills() {
    suite::a_bucket_allows_the_burst_then_refills(&MemoryCache::new()).await;
}

#[tokio::test]
async fn two_handles_share_one_bucket() {
    let a = MemoryCache::new();
    let b = a.clone();
    suite::two_handles_share_one_bucket(&a, &b).await;
}

#[tokio::test]
async fn live_rooms_are_listed_by_viewers() {
    suite::live_rooms_are_listed_by_viewers(&MemoryCache::new()).await;
}

#[tokio::test]
async fn an_idem_key_is_claimed_once() {
    suite::an_idem_key_is_claimed_once(&MemoryCache::new()).await;
}

#[tokio::test]
async fn revoked_families_are_remembered_until_their_ttl() {
    suite::revoked_families_are_remembered_until_their_ttl(&MemoryCache::new()).await;
}

#[tokio::test]
async fn live_rooms_expire_without_a_heartbeat() {
    suite::live_rooms_expire_without_a_heartbeat(&MemoryCache::new()).await;
}
