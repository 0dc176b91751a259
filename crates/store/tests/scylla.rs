//! The conformance suite against `ScyllaStore` on a real ScyllaDB cluster.
//!
//! Runs only when `SCYLLA_URI` is set (a comma-separated `host:port` list,
//! e.g. `SCYLLA_URI=127.0.0.1:9042` against docker-compose's `scylla1`);
//! otherwise every test prints `skipped: SCYLLA_URI not set` and passes. No
//! ScyllaDB can run on the development machines, so CI covers the
//! driver-facing code with a forged node instead (`scylla_proxy*.rs`).
//!
//! Each test migrates a throwaway keyspace of its own (replication factor 1,
//! or `SCYLLA_RF`), runs its behaviour and drops the keyspace, also when the
//! behaviour panics.
#![cfg(feature = "scylla")]

use std::future::Future;

use liveshop_store::conformance;
use liveshop_store::{ScyllaOptions, ScyllaStore};

/// The options for a fresh keyspace, or `None` (after saying so) when no
/// cluster is configured.
fn options() -> Option<ScyllaOptions> {
    let Ok(uri) = std::env::var("SCYLLA_URI") else {
        eprintln!("skipped: SCYLLA_URI not set");
        return None;
    };
    let replication_factor = match std::env::var("SCYLLA_RF") {
        Ok(rf) => rf
            .parse()
            .unwrap_or_else(|e| panic!("SCYLLA_RF={rf:?} is not a number: {e}")),
        Err(_) => 1,
    };
    // Keyspace names are [a-z0-9_]; `unique` gives `<tag>-<hex run>-<n>`.
    let keyspace = conformance::unique("conf").replace('-', "_");
    Some(ScyllaOptions {
        keyspace,
        replication_factor,
        ..ScyllaOptions::from_uri(&uri)
    })
}

/// Migrates a throwaway keyspace, runs `body` on a store connected to it,
/// then drops the keyspace whether or not `body` panicked.
async fn with_store<F, Fut>(body: F)
where
    F: FnOnce(ScyllaStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(options) = options() else { return };
    ScyllaStore::migrate(&options)
        .await
        .expect("migrate a throwaway keyspace");
    // Migrating twice is harmless.
    ScyllaStore::migrate(&options).await.expect("migrate again");
    let store = ScyllaStore::connect(options.clone())
        .await
        .expect("connect to ScyllaDB");
    let outcome = tokio::spawn(body(store)).await;
    drop_keyspace(&options).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn drop_keyspace(options: &ScyllaOptions) {
    use scylla::client::session_builder::SessionBuilder;
    let session = SessionBuilder::new()
        .known_nodes(&options.known_nodes)
        .build()
        .await
        .expect("connect to drop the keyspace");
    let drop = format!("DROP KEYSPACE IF EXISTS {}", options.keyspace);
    if let Err(e) = session.query_unpaged(drop, ()).await {
        eprintln!("could not drop keyspace {}: {e}", options.keyspace);
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                with_store(|store| async move { conformance::$name(&store).await }).await;
            }
        )*
    };
}

liveshop_store::conformance_behaviours!(conformance_tests);

/// The whole suite twice on one keyspace: the behaviours do not depend on
/// an empty store and do not collide with each other's ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_shares_one_keyspace() {
    with_store(|store| async move {
        conformance::run_all(&store).await;
        conformance::run_all(&store).await;
    })
    .await;
}

/// Every statement the store runs is prepared at connect, fully qualified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_prepared_and_qualified() {
    with_store(|store| async move {
        let keyspace = format!("{}.", store.options().keyspace);
        let texts = store.statement_texts();
        assert!(texts.len() > 30, "{texts:?}");
        for t in texts {
            assert!(t.contains(&keyspace), "not qualified: {t}");
        }
    })
    .await;
}
