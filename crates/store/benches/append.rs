//! Synced appends per second on the embedded store and on the Redis store,
//! measured in one run so the two can be compared.
//!
//! - `<backend>/batch_{1,16,64,256}`: one writer appending batches of N
//!   events (~100-byte payloads) to one log, each append waiting for its
//!   acknowledgement (fsync on the embedded store; `appendfsync always` on
//!   Redis).
//! - `<backend>/64_logs_batch_1`: 64 tasks, one log each, appending one
//!   event at a time. Both backends fold concurrent writes into one fsync
//!   (the embedded commit queue; Redis's AOF flush per event-loop turn), so
//!   this should beat `batch_1` by about the group size.
//!
//! Throughput is in events/s. Data directories live under the target dir
//! (a real disk), not /tmp (which may be tmpfs, where syncs are free). The
//! Redis backend runs against a `redis-server` the bench starts itself
//! (`appendonly yes`, `appendfsync always`); without one installed it is
//! skipped with a message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use liveshop_protocol::LotId;
use liveshop_store::{EmbeddedStore, EventLog, LogKey, RedisOptions, RedisStore, StoredEvent};
use liveshop_testkit::redis_server;

const PAYLOAD: usize = 100;
const TASKS: u64 = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A backend under test; the guards keep its directory and server alive.
struct Backend {
    name: &'static str,
    log: Arc<dyn EventLog>,
    /// For the commit-queue statistics printed after `64_logs_batch_1`.
    embedded: Option<Arc<EmbeddedStore>>,
    _dir: tempfile::TempDir,
    _server: Option<redis_server::RedisServer>,
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench dir")
}

fn embedded() -> Backend {
    let dir = bench_dir();
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    Backend {
        name: "embedded",
        log: store.clone(),
        embedded: Some(store),
        _dir: dir,
        _server: None,
    }
}

fn redis(rt: &tokio::runtime::Runtime) -> Option<Backend> {
    let dir = bench_dir();
    let server = redis_server::start_in(dir.path(), redis_server::DURABLE)?;
    let store = rt
        .block_on(RedisStore::connect_with(
            &server.url(),
            RedisOptions::default(),
        ))
        .expect("connect to the bench redis-server");
    Some(Backend {
        name: "redis",
        log: Arc::new(store),
        embedded: None,
        _dir: dir,
        _server: Some(server),
    })
}

fn backends(rt: &tokio::runtime::Runtime) -> Vec<Backend> {
    let mut all = vec![embedded()];
    all.extend(redis(rt));
    all
}

fn batch(first_seq: u64, n: u64) -> Vec<StoredEvent> {
    (0..n)
        .map(|i| StoredEvent {
            seq: first_seq + i,
            payload: vec![b'x'; PAYLOAD],
        })
        .collect()
}

fn one_log(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends(&rt) {
        let mut group = c.benchmark_group(backend.name);
        for n in [1u64, 16, 64, 256] {
            let log = backend.log.clone();
            let key = LogKey::Lot(LotId::new(format!("bench-{n}")).expect("lot id"));
            let epoch = rt.block_on(log.claim(&key)).expect("claim");
            let next = AtomicU64::new(1);
            group.throughput(Throughput::Elements(n));
            group.bench_function(format!("batch_{n}"), |b| {
                b.to_async(&rt).iter(|| async {
                    let first = next.fetch_add(n, Ordering::Relaxed);
                    log.append(&key, epoch, &batch(first, n))
                        .await
                        .expect("append");
                });
            });
        }
        group.finish();
    }
}

fn many_logs(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends(&rt) {
        let store = backend.log.clone();
        let logs: Arc<Vec<(LogKey, u64, AtomicU64)>> = Arc::new(
            (0..TASKS)
                .map(|i| {
                    let key = LogKey::Lot(LotId::new(format!("many-{i}")).expect("lot id"));
                    let epoch = rt.block_on(store.claim(&key)).expect("claim");
                    (key, epoch, AtomicU64::new(1))
                })
                .collect(),
        );
        let mut group = c.benchmark_group(backend.name);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{TASKS}_logs_batch_1"), |b| {
            // `iters` single-event appends spread over 64 concurrent tasks,
            // each waiting for its own acknowledgement before the next.
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                let logs = logs.clone();
                async move {
                    let start = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for t in 0..TASKS {
                        let share = iters / TASKS + u64::from(t < iters % TASKS);
                        let store = store.clone();
                        let logs = logs.clone();
                        tasks.spawn(async move {
                            let (key, epoch, next) = &logs[t as usize];
                            for _ in 0..share {
                                let seq = next.fetch_add(1, Ordering::Relaxed);
                                store
                                    .append(key, *epoch, &batch(seq, 1))
                                    .await
                                    .expect("append");
                            }
                        });
                    }
                    while let Some(r) = tasks.join_next().await {
                        r.expect("append task");
                    }
                    start.elapsed()
                }
            });
        });
        group.finish();
        if let Some(embedded) = &backend.embedded {
            let stats = embedded.stats();
            eprintln!(
                "embedded/{TASKS}_logs_batch_1: {} requests in {} commits ({:.1} per sync)",
                stats.requests,
                stats.commits,
                stats.requests as f64 / stats.commits.max(1) as f64
            );
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = one_log, many_logs
}
criterion_main!(benches);
