//! A worker process's side (`liveshop-loadtest worker`): read the work
//! order from stdin, run its members with the scenario part's own tasks,
//! and report on stdout, which carries nothing but protocol lines (logs and
//! errors go to stderr). Its stdin ending means the driver is gone, and the
//! worker exits at once: it must never outlive the run.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter, Lines, Stdin};
use tokio::sync::{mpsc, oneshot, watch};

use super::Part;
use super::proto::{Figures, FromWorker, Order, ToWorker};
use crate::history::Clock;
use crate::scenarios::{Env, RunError};

/// How long a worker waits for its work order (it is the first thing the
/// driver writes; someone starting a worker by hand gets an answer).
const ORDER_WAIT: Duration = Duration::from_secs(30);

/// The worker's stdout, one JSON line per message, written by one task so
/// lines never interleave.
#[derive(Clone)]
pub struct Outbox(mpsc::UnboundedSender<Line>);

enum Line {
    Text(String),
    Flush(oneshot::Sender<()>),
}

impl Outbox {
    fn start() -> Outbox {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut out = BufWriter::new(tokio::io::stdout());
            while let Some(line) = rx.recv().await {
                match line {
                    Line::Text(text) => {
                        let ok = out.write_all(text.as_bytes()).await.is_ok()
                            && out.write_all(b"\n").await.is_ok();
                        // Batch while lines queue up; flush when caught up,
                        // so the driver sees each signal promptly.
                        if !ok || (rx.is_empty() && out.flush().await.is_err()) {
                            // The driver stopped reading: it is gone.
                            std::process::exit(2);
                        }
                    }
                    Line::Flush(done) => {
                        let _ = out.flush().await;
                        let _ = done.send(());
                    }
                }
            }
        });
        Outbox(tx)
    }

    fn send<T: Serialize>(&self, msg: &T) {
        // Serialising the protocol's plain data cannot fail; if it ever did,
        // the driver would see the results missing, never wrong ones.
        if let Ok(text) = serde_json::to_string(msg) {
            let _ = self.0.send(Line::Text(text));
        }
    }

    async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.send(Line::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A worker's way to ask the driver something only it knows (a count
/// across every process), and wait for the answer.
pub struct Asker {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    out: Outbox,
    timeout: Duration,
}

impl Asker {
    /// The driver's answer, or None if none came within the run's timeout.
    pub async fn ask(&self, question: Value) -> Option<Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        self.out.send(&FromWorker::<(), ()>::Ask { id, question });
        let answer = tokio::time::timeout(self.timeout, rx).await;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        answer.ok()?.ok()
    }

    fn resolve(&self, id: u64, answer: Value) {
        let waiting = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(tx) = waiting {
            let _ = tx.send(answer);
        }
    }
}

/// `liveshop-loadtest worker`: exit status 0 when its results were sent,
/// 2 when it failed (after a `failed` line saying why, and the same on
/// stderr).
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("liveshop-loadtest worker: error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        let out = Outbox::start();
        match work(&out).await {
            Ok(()) => {
                out.flush().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                out.send(&FromWorker::<(), ()>::Failed(e.to_string()));
                out.flush().await;
                eprintln!("liveshop-loadtest worker: error: {e}");
                ExitCode::from(2)
            }
        }
    });
    // Dropping the runtime would wait for the blocking read of stdin, which
    // only ends when the driver closes it; the driver waits for this exit.
    runtime.shutdown_background();
    code
}

async fn work(out: &Outbox) -> Result<(), RunError> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let bad = |detail: String| RunError::Usage(format!("worker: no usable work order: {detail}"));
    let first = match tokio::time::timeout(ORDER_WAIT, stdin.next_line()).await {
        Err(_) => {
            return Err(bad(format!(
                "none on stdin within {} s",
                ORDER_WAIT.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(bad(e.to_string())),
        Ok(Ok(None)) => {
            return Err(bad(
                "stdin ended (this is started by a --workers run)".into()
            ));
        }
        Ok(Ok(Some(line))) => line,
    };
    let order: Value = serde_json::from_str(&first).map_err(|e| bad(e.to_string()))?;
    let part = order["part"].as_str().unwrap_or("").to_owned();
    crate::scenarios::serve_worker(&part, order, stdin, out.clone()).await
}

/// Runs the members of `order` (a work order of part `P`) to their end and
/// sends their results; see the module doc.
pub async fn serve<P: Part>(
    order: Value,
    mut stdin: Lines<BufReader<Stdin>>,
    out: Outbox,
) -> Result<(), RunError> {
    let order: Order<P::Config, P::Phase, P::Member> = serde_json::from_value(order)
        .map_err(|e| RunError::Usage(format!("worker: a bad {} work order: {e}", P::NAME)))?;
    let env = Arc::new(Env::for_worker(
        &order.common,
        Clock::joined(order.common.clock_base_unix_ns),
    )?);
    let (phase_tx, phase) = watch::channel(order.phase);
    let asker = Arc::new(Asker {
        next: AtomicU64::new(0),
        pending: Mutex::default(),
        out: out.clone(),
        timeout: env.timeout,
    });
    let answers = asker.clone();
    let listen = tokio::spawn(async move {
        loop {
            match stdin.next_line().await {
                Ok(Some(line)) => match serde_json::from_str::<ToWorker<P::Phase>>(&line) {
                    Ok(ToWorker::Phase(p)) => {
                        let _ = phase_tx.send(p);
                    }
                    Ok(ToWorker::Answer { id, answer }) => answers.resolve(id, answer),
                    Err(e) => {
                        eprintln!("liveshop-loadtest worker: ignoring a bad line: {e}");
                    }
                },
                // The driver is gone (or closed our stdin): nothing this
                // worker could still do would be read by anyone.
                Ok(None) | Err(_) => std::process::exit(2),
            }
        }
    });
    let alive = {
        let out = out.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                out.send(&FromWorker::<(), ()>::Alive);
            }
        })
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forward = {
        let out = out.clone();
        tokio::spawn(async move {
            while let Some(signal) = rx.recv().await {
                out.send(&FromWorker::<P::Wire, ()>::Signal(P::to_wire(signal)));
            }
        })
    };
    let shared = Arc::new(P::shared(env, order.config, Some(asker)));
    let tasks: Vec<_> = order
        .members
        .into_iter()
        .map(|m| P::spawn(&shared, m, tx.clone(), phase.clone()))
        .collect();
    drop(tx);
    for task in tasks {
        let result = task
            .await
            .map_err(|e| RunError::Internal(format!("a virtual user's task failed: {e}")))?;
        out.send(&FromWorker::<(), P::Out>::Out(result));
    }
    let _ = forward.await;
    alive.abort();
    out.send(&FromWorker::<(), ()>::Finished(Figures::of_this_process()));
    out.flush().await;
    listen.abort();
    Ok(())
}
