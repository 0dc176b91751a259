//! Scenarios and what they share: the targets (checked before any setup),
//! the source addresses, the clock, progress, the worker processes
//! (`--workers`), the run's error type, and the steps every scenario's
//! users take (connect, join, check a reply).

pub mod auction;
pub mod broadcast;
pub mod chat_storm;
pub mod flash_sale;
mod signals;
pub mod soak;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{BufReader, Lines, Stdin};

use crate::api::{Api, ApiError};
use crate::cli::{Cli, parse_source_addrs};
use crate::client::{self, ClientError, Conn};
use crate::history::{ClientLog, Clock, Op, Outcome, Record};
use crate::report::timeline::Timeline;
use crate::report::{Progress, cpu_seconds};
use crate::workers::{self, proto};

/// Why a run could not be made (exit status 2). A run that was made but
/// broke the contract is a failed verdict instead (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("target {target}: cannot resolve its address: {detail}")]
    Resolve { target: String, detail: String },
    #[error("{who}: {source}")]
    Client {
        who: String,
        #[source]
        source: ClientError,
    },
    #[error("{who}: {op} refused: {code}")]
    Refused {
        who: String,
        op: &'static str,
        code: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// A worker process (`--workers`) failed; `worker` is 1-based.
    #[error("worker {worker}: {message}")]
    Worker { worker: usize, message: String },
    #[error("cannot write the result to {path}: {source}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A node the run talks to.
pub struct Target {
    pub api: Api,
    pub addr: SocketAddr,
}

/// What every scenario needs from the command line and the targets.
pub struct Env {
    pub targets: Vec<Target>,
    /// Source addresses for sockets to loopback targets; empty: the OS picks.
    pub sources: Vec<IpAddr>,
    pub timeout: Duration,
    pub clock: Clock,
    pub progress: Progress,
    /// Throughput and RSS over time (see `report::timeline`): scenarios
    /// feed it, `main` writes it into the result.
    pub timeline: Timeline,
    /// Worker processes for the virtual users (`--workers`; 1: none, all
    /// run in this process).
    pub workers: usize,
    /// What each worker measured of itself, as it finished.
    reports: Mutex<Vec<proto::Report>>,
}

impl Env {
    /// The targets' base URLs, as a result records them.
    pub fn target_urls(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|t| t.api.base().to_string())
            .collect()
    }

    /// Parses the targets and checks each one answers as a liveshop node,
    /// so a wrong URL or a node that is down fails here, in seconds.
    pub async fn new(cli: &Cli, setup_concurrency: usize) -> Result<Env, RunError> {
        let timeout = Duration::from_secs(cli.timeout_secs.max(1));
        let sources = parse_source_addrs(&cli.source_addrs).map_err(RunError::Usage)?;
        let mut targets = Vec::new();
        for url in &cli.targets {
            let api = Api::new(url, timeout, setup_concurrency)?;
            api.preflight().await?;
            let addr = client::resolve(api.base())
                .await
                .map_err(|e| RunError::Resolve {
                    target: url.clone(),
                    detail: e.to_string(),
                })?;
            targets.push(Target { api, addr });
        }
        if targets.is_empty() {
            return Err(RunError::Usage("give at least one --target".into()));
        }
        let clock = Clock::start();
        let timeline = Timeline::new(clock, cli.bucket_ms);
        timeline.sample_rss(&cli.node_pids, Duration::from_millis(cli.rss_interval_ms));
        Ok(Env {
            targets,
            sources,
            timeout,
            clock,
            progress: Progress::new(),
            timeline,
            workers: cli.workers.max(1),
            reports: Mutex::default(),
        })
    }

    /// A worker process's environment: the driver's targets as it checked
    /// and resolved them, on the driver's clock.
    pub fn for_worker(common: &proto::Common, clock: Clock) -> Result<Env, RunError> {
        let timeout = Duration::from_millis(common.timeout_ms.max(1));
        let targets = common
            .targets
            .iter()
            .map(|(url, addr)| {
                Ok(Target {
                    api: Api::new(url, timeout, 1)?,
                    addr: *addr,
                })
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        if targets.is_empty() {
            return Err(RunError::Usage(
                "worker: the work order has no target".into(),
            ));
        }
        Ok(Env {
            targets,
            sources: common.sources.clone(),
            timeout,
            clock,
            progress: Progress::new(),
            timeline: Timeline::new(clock, 1000),
            workers: 1,
            reports: Mutex::default(),
        })
    }

    /// What a worker's order carries of this environment.
    pub fn common(&self) -> proto::Common {
        proto::Common {
            clock_base_unix_ns: self.clock.base_unix_ns(),
            targets: self
                .targets
                .iter()
                .map(|t| (t.api.base().to_string(), t.addr))
                .collect(),
            sources: self.sources.clone(),
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn record_worker(&self, report: proto::Report) {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(report);
    }

    /// Every finished worker's figures, by worker number.
    pub fn worker_reports(&self) -> Vec<proto::Report> {
        let mut reports = self
            .reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        reports.sort_by_key(|r| r.worker);
        reports
    }

    /// The harness's CPU seconds: this process's and its finished
    /// workers'.
    pub fn harness_cpu_s(&self) -> Option<f64> {
        let workers: Option<f64> = self.worker_reports().iter().map(|r| r.figures.cpu_s).sum();
        Some(((cpu_seconds()? + workers?) * 100.0).round() / 100.0)
    }

    /// Fails unless `users` sockets (one per virtual user) and `extra` more
    /// fit under the `ulimit -n` of the process that holds them: this one,
    /// or with `--workers` each worker (its share; `extra` stays here).
    /// `flag` names the option to lower.
    pub fn check_fd_budget(
        &self,
        users: usize,
        extra: usize,
        what: &str,
        flag: &str,
    ) -> Result<(), RunError> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok();
        let soft = limits.as_deref().and_then(|l| {
            let line = l.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
        let Some(soft) = soft else { return Ok(()) };
        let open = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
        // The runtime, the HTTP pool, stdio and the workers' pipes.
        let spare = 32 + 3 * self.workers;
        let (per_process, here) = match self.workers {
            1 => (users + extra, users + extra),
            n => (users.div_ceil(n), extra),
        };
        if per_process.max(here) + open + spare <= soft {
            return Ok(());
        }
        let (processes, more, beside) = match self.workers {
            1 => (
                "this one process".to_owned(),
                "run --workers 2 or more",
                extra,
            ),
            n => (format!("each of {n} workers"), "raise --workers", 0),
        };
        let fits = soft.saturating_sub(open + spare + beside);
        Err(RunError::Usage(format!(
            "{what} needs {per_process} sockets in {processes}, but a process's open-file \
             limit (ulimit -n) is {soft} with {open} already open: at most {fits} virtual \
             users fit in one; {more} (see loadtest/README.md), or lower {flag}"
        )))
    }

    /// The setup and read-back node: the first target (every node serves
    /// the same API).
    pub fn api(&self) -> &Api {
        &self.targets[0].api
    }

    /// Connects virtual user number `i` with `token`: targets round-robin,
    /// and for a loopback target a source address round-robin too.
    pub async fn connect(&self, i: usize, token: &str, log: ClientLog) -> Result<Conn, RunError> {
        self.connect_as(i, Some(token), log).await
    }

    /// Connects virtual user number `i` without a token (as [`Env::connect`]
    /// otherwise): an anonymous viewer, which the contract lets join and
    /// receive but not act.
    pub async fn connect_anonymous(&self, i: usize, log: ClientLog) -> Result<Conn, RunError> {
        self.connect_as(i, None, log).await
    }

    /// Connects virtual user number `i`, with `token` or anonymously. The
    /// target and source follow from `i` alone, so a user connects the
    /// same way whichever process (`--workers`) runs it.
    pub async fn connect_as(
        &self,
        i: usize,
        token: Option<&str>,
        log: ClientLog,
    ) -> Result<Conn, RunError> {
        let target = &self.targets[i % self.targets.len()];
        let source = (target.addr.ip().is_loopback() && !self.sources.is_empty())
            .then(|| self.sources[i % self.sources.len()])
            .filter(|ip| ip.is_ipv4() == target.addr.is_ipv4());
        let url = target.api.ws_url(token.unwrap_or(""));
        let url = match token {
            Some(_) => url.as_str(),
            None => url.strip_suffix("?token=").unwrap_or(&url),
        };
        let who = log.name.clone();
        client::connect(target.addr, source, url, log, self.clock, self.timeout)
            .await
            .map_err(|source| RunError::Client { who, source })
    }
}

/// An `ok` reply, or the run's error naming who was refused what.
pub fn expect_ok(
    who: &str,
    op: &'static str,
    reply: Result<Outcome, ClientError>,
) -> Result<Outcome, RunError> {
    match reply {
        Ok(Outcome::Error { code }) => Err(RunError::Refused {
            who: who.to_owned(),
            op,
            code: code.to_string(),
        }),
        Ok(outcome) => Ok(outcome),
        Err(source) => Err(RunError::Client {
            who: who.to_owned(),
            source,
        }),
    }
}

/// Fails if the node did not take the connection's token: a bad token
/// still opens the socket, as an anonymous one, with an `error` without
/// `rid` first (docs/protocol.md), which would otherwise only show later
/// as refused requests.
pub fn token_taken(who: &str, conn: &Conn) -> Result<(), RunError> {
    let refused = conn.log.records.iter().find_map(|r| match r {
        Record::ServerError { code, .. } => Some(code.to_string()),
        _ => None,
    });
    match refused {
        Some(code) => Err(RunError::Refused {
            who: who.to_owned(),
            op: "the WebSocket token",
            code,
        }),
        None => Ok(()),
    }
}

/// Joins `room` on `conn` (as `who`) and checks that the node took the
/// connection's token.
pub async fn join_room(who: &str, conn: &mut Conn, room: &Arc<str>) -> Result<(), RunError> {
    let op = Op::Join { room: room.clone() };
    let reply = conn
        .request(op, json!({"type": "join", "room": &**room}))
        .await;
    expect_ok(who, "join", reply)?;
    token_taken(who, conn)
}

/// How far ahead of "now" a timed phase (the broadcast's sending, the
/// auction's bidding) starts when workers must first hear of it (a pipe
/// write and a wake-up), so their first requests are not counted late.
pub(crate) const WORKER_LEAD: std::time::Duration = std::time::Duration::from_millis(50);

/// A worker process's work (`workers::serve`), by the part its order names.
pub async fn serve_worker(
    part: &str,
    order: Value,
    stdin: Lines<BufReader<Stdin>>,
    out: workers::Outbox,
) -> Result<(), RunError> {
    use crate::workers::Part;
    match part {
        broadcast::crowd::CrowdPart::NAME => {
            workers::serve::<broadcast::crowd::CrowdPart>(order, stdin, out).await
        }
        auction::crowd::AuctionPart::NAME => {
            workers::serve::<auction::crowd::AuctionPart>(order, stdin, out).await
        }
        soak::users::SoakPart::NAME => {
            workers::serve::<soak::users::SoakPart>(order, stdin, out).await
        }
        flash_sale::buyers::BuyerPart::NAME => {
            workers::serve::<flash_sale::buyers::BuyerPart>(order, stdin, out).await
        }
        other => Err(RunError::Usage(format!(
            "worker: a work order for {other:?}, which no worker runs"
        ))),
    }
}

/// A prefix making this run's usernames unique on a node that has seen
/// earlier runs (3..32 characters in all, with the suffixes used).
pub fn run_prefix() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut n = ((ms % 36u128.pow(8)) as u64) ^ (u64::from(std::process::id()) << 20);
    let mut s = String::new();
    while n > 0 && s.len() < 9 {
        let d = (n % 36) as u32;
        s.push(char::from_digit(d, 36).unwrap_or('x'));
        n /= 36;
    }
    format!("lt{s}-")
}
