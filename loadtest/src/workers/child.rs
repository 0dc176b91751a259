//! The driver's side of one worker process: start it with its work order,
//! write the driver's phases and answers to its stdin, read its lines from
//! stdout (signals into the driver's channel, questions answered, results
//! kept), keep the last lines of its stderr for the error if it dies, and
//! turn every way it can fail into one error naming it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Part;
use super::proto::{Figures, FromWorker, ToWorker};
use crate::history::Interner;
use crate::scenarios::RunError;

/// How a worker is started: this executable's hidden `worker` subcommand.
pub(super) struct Program {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

impl Program {
    pub fn this_executable() -> Result<Program, RunError> {
        let exe = std::env::current_exe().map_err(|e| RunError::Worker {
            worker: 0,
            message: format!("cannot find this executable to start workers: {e}"),
        })?;
        Ok(Program {
            exe,
            args: vec!["worker".into()],
        })
    }
}

/// What a worker hands back: its members' results, in its order, and its
/// own figures.
pub(super) type Results<O> = (Vec<O>, Figures);

/// A started worker.
pub(super) struct Worker<P: Part> {
    pub number: usize,
    pub pid: u32,
    /// The crowd indices of its members, in its order.
    pub indices: Vec<usize>,
    /// Lines to its stdin.
    pub lines: mpsc::UnboundedSender<String>,
    reader: JoinHandle<Result<Results<P::Out>, RunError>>,
}

/// Stderr lines kept for the error of a worker that died.
const TAIL: usize = 5;

impl<P: Part> Worker<P> {
    /// Its members' results and its figures, once it finished (bounded: the
    /// reader gives up on a worker silent for longer than the timeout).
    pub async fn finish(&mut self) -> Result<Results<P::Out>, RunError> {
        (&mut self.reader).await.map_err(|e| RunError::Worker {
            worker: self.number,
            message: format!("its reader task failed: {e}"),
        })?
    }
}

impl<P: Part> Drop for Worker<P> {
    /// The reader task owns the process, which is killed when the task is
    /// dropped (`kill_on_drop`): a driver that stops early stops its
    /// workers.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Starts worker `number` of `program` with the work order `order` (one
/// JSON line) for the members at `indices`.
pub(super) fn spawn<P: Part>(
    program: &Program,
    number: usize,
    order: String,
    indices: Vec<usize>,
    signals: mpsc::UnboundedSender<P::Signal>,
    shared: Arc<P::Shared>,
    timeout: Duration,
) -> Result<Worker<P>, RunError> {
    let failed = |message: String| RunError::Worker {
        worker: number,
        message,
    };
    let mut child = Command::new(&program.exe)
        .args(&program.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            failed(format!(
                "cannot start {} {}: {e}",
                program.exe.display(),
                program.args.join(" ")
            ))
        })?;
    let pid = child.id().unwrap_or(0);
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(failed("its stdio was not piped".into()));
    };
    let (lines, to_stdin) = mpsc::unbounded_channel();
    tokio::spawn(write(stdin, order, to_stdin));
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    tokio::spawn(keep_tail(stderr, tail.clone()));
    let reader = Reader::<P> {
        number,
        expected: indices.len(),
        signals,
        lines: lines.clone(),
        shared,
        // Workers send a line every second; this long a silence is a hang.
        silence: timeout.max(Duration::from_secs(5)),
    };
    let reader = tokio::spawn(reader.run(child, stdout, tail));
    Ok(Worker {
        number,
        pid,
        indices,
        lines,
        reader,
    })
}

/// Writes the order, then every line sent, to the worker's stdin; ends
/// (closing it, which ends the worker) when every sender is gone or the
/// worker stopped reading.
async fn write(stdin: ChildStdin, order: String, mut lines: mpsc::UnboundedReceiver<String>) {
    let mut w = BufWriter::new(stdin);
    let mut next = Some(order);
    while let Some(line) = next {
        if w.write_all(line.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
            return;
        }
        next = match lines.try_recv() {
            Ok(line) => Some(line),
            Err(_) => {
                if w.flush().await.is_err() {
                    return;
                }
                lines.recv().await
            }
        };
    }
}

async fn keep_tail(stderr: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Sends every change of the driver's phase to every worker.
pub(super) fn forward_phases<P: Part>(
    mut phase: watch::Receiver<P::Phase>,
    workers: Vec<mpsc::UnboundedSender<String>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while phase.changed().await.is_ok() {
            let now = phase.borrow_and_update().clone();
            // A phase is plain data; it serialises unless the code is wrong,
            // and then the workers' silence ends the run.
            let Ok(line) = serde_json::to_string(&ToWorker::Phase(now)) else {
                continue;
            };
            for w in &workers {
                let _ = w.send(line.clone());
            }
        }
    })
}

/// Why reading a worker stopped short.
enum Why {
    /// It said so (and exits with status 2).
    Failed(String),
    /// Its output ended before its results did.
    Exited,
    Silent(Duration),
    Broken(String),
}

struct Reader<P: Part> {
    number: usize,
    expected: usize,
    signals: mpsc::UnboundedSender<P::Signal>,
    lines: mpsc::UnboundedSender<String>,
    shared: Arc<P::Shared>,
    silence: Duration,
}

impl<P: Part> Reader<P> {
    async fn run(
        self,
        mut child: Child,
        stdout: ChildStdout,
        tail: Arc<Mutex<VecDeque<String>>>,
    ) -> Result<Results<P::Out>, RunError> {
        let why = match self.read(stdout).await {
            Ok(done) => {
                // It exits by itself after its last line.
                if tokio::time::timeout(Duration::from_secs(5), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                return Ok(done);
            }
            Err(why) => why,
        };
        if matches!(why, Why::Silent(_)) {
            let _ = child.start_kill();
        }
        let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        let _ = child.start_kill();
        let status = match status {
            Ok(Ok(s)) => s.to_string(),
            _ => "still running, killed".to_owned(),
        };
        // Give its stderr a moment to reach us.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tail: Vec<String> = tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let said = match tail.last() {
            Some(_) => format!("; its stderr ended: {}", tail.join(" | ")),
            None => String::new(),
        };
        let message = match why {
            Why::Failed(m) => m,
            Why::Exited => format!("exited before it finished ({status}){said}"),
            Why::Silent(d) => format!("sent nothing for {} s (hung?), killed{said}", d.as_secs()),
            Why::Broken(m) => format!("{m} ({status}){said}"),
        };
        let error = |message: String| RunError::Worker {
            worker: self.number,
            message,
        };
        // The driver may be waiting on its signals rather than on this task.
        let _ = self.signals.send(P::failed(error(message.clone())));
        Err(error(message))
    }

    async fn read(&self, stdout: ChildStdout) -> Result<Results<P::Out>, Why> {
        let mut lines = BufReader::new(stdout).lines();
        let mut outs = Vec::with_capacity(self.expected);
        let mut ids = Interner::default();
        loop {
            let line = match tokio::time::timeout(self.silence, lines.next_line()).await {
                Err(_) => return Err(Why::Silent(self.silence)),
                Ok(Err(e)) => return Err(Why::Broken(format!("cannot read its output: {e}"))),
                Ok(Ok(None)) => return Err(Why::Exited),
                Ok(Ok(Some(line))) => line,
            };
            let msg: FromWorker<P::Wire, P::Out> = serde_json::from_str(&line).map_err(|e| {
                let start: String = line.chars().take(120).collect();
                Why::Broken(format!(
                    "sent a line that is not the protocol ({e}): {start:?}"
                ))
            })?;
            match msg {
                FromWorker::Signal(w) => {
                    let _ = self.signals.send(P::from_wire(w, self.number));
                }
                FromWorker::Ask { id, question } => {
                    let answer = P::answer(&self.shared, question);
                    let reply = ToWorker::<P::Phase>::Answer { id, answer };
                    if let Ok(line) = serde_json::to_string(&reply) {
                        let _ = self.lines.send(line);
                    }
                }
                FromWorker::Alive => {}
                FromWorker::Out(mut out) => {
                    P::intern(&mut out, &mut ids);
                    outs.push(out);
                }
                FromWorker::Finished(figures) => {
                    if outs.len() != self.expected {
                        return Err(Why::Broken(format!(
                            "sent {} results for {} virtual users",
                            outs.len(),
                            self.expected
                        )));
                    }
                    return Ok((outs, figures));
                }
                FromWorker::Failed(m) => return Err(Why::Failed(m)),
            }
        }
    }
}
