//! Synced appends per second on the embedded store.
//!
//! - `one_log/batch_{1,16,256}`: one writer appending batches of N events
//!   (~100-byte payloads) to one log, each append waiting for its sync.
//! - `many_logs/64_tasks_batch_1`: 64 tasks, one log each, appending one
//!   event at a time; the commit queue folds whatever is queued into one
//!   sync, so this should beat `one_log/batch_1` by about the group size.
//!
//! Throughput is in events/s. The data directory lives under the target
//! dir (a real disk), not /tmp (which may be tmpfs, where syncs are free).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use liveshop_protocol::LotId;
use liveshop_store::{EmbeddedStore, EventLog, LogKey, StoredEvent};

const PAYLOAD: usize = 100;
const TASKS: u64 = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn open() -> (tempfile::TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench dir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (dir, Arc::new(store))
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
    let mut group = c.benchmark_group("one_log");
    for n in [1u64, 16, 256] {
        let (_dir, store) = open();
        let key = LogKey::Lot(LotId::new(format!("bench-{n}")).expect("lot id"));
        let epoch = rt.block_on(store.claim(&key)).expect("claim");
        let next = AtomicU64::new(1);
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("batch_{n}"), |b| {
            b.to_async(&rt).iter(|| async {
                let first = next.fetch_add(n, Ordering::Relaxed);
                store
                    .append(&key, epoch, &batch(first, n))
                    .await
                    .expect("append");
            });
        });
    }
    group.finish();
}

fn many_logs(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, store) = open();
    let logs: Arc<Vec<(LogKey, u64, AtomicU64)>> = Arc::new(
        (0..TASKS)
            .map(|i| {
                let key = LogKey::Lot(LotId::new(format!("many-{i}")).expect("lot id"));
                let epoch = rt.block_on(store.claim(&key)).expect("claim");
                (key, epoch, AtomicU64::new(1))
            })
            .collect(),
    );
    let mut group = c.benchmark_group("many_logs");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("{TASKS}_tasks_batch_1"), |b| {
        // `iters` single-event appends spread over 64 concurrent tasks, each
        // waiting for its own acknowledgement before the next append.
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
    let stats = store.stats();
    eprintln!(
        "many_logs: {} requests in {} commits ({:.1} per sync)",
        stats.requests,
        stats.commits,
        stats.requests as f64 / stats.commits.max(1) as f64
    );
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
