//! Scenarios and what they share: the targets (checked before any setup),
//! the source addresses, the clock, progress, and the run's error type.

pub mod auction;
pub mod broadcast;
pub mod chat_storm;
pub mod flash_sale;
pub mod soak;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::api::{Api, ApiError};
use crate::cli::{Cli, parse_source_addrs};
use crate::client::{self, ClientError, Conn};
use crate::history::{ClientLog, Clock, History};
use crate::report::Progress;
use crate::report::timeline::Timeline;

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
        })
    }

    /// The setup and read-back node: the first target (every node serves
    /// the same API).
    pub fn api(&self) -> &Api {
        &self.targets[0].api
    }

    /// Connects virtual user number `i` with `token`: targets round-robin,
    /// and for a loopback target a source address round-robin too.
    pub async fn connect(&self, i: usize, token: &str, log: ClientLog) -> Result<Conn, RunError> {
        let target = &self.targets[i % self.targets.len()];
        let source = (target.addr.ip().is_loopback() && !self.sources.is_empty())
            .then(|| self.sources[i % self.sources.len()])
            .filter(|ip| ip.is_ipv4() == target.addr.is_ipv4());
        let who = log.name.clone();
        client::connect(
            target.addr,
            source,
            &target.api.ws_url(token),
            log,
            self.clock,
            self.timeout,
        )
        .await
        .map_err(|source| RunError::Client { who, source })
    }

    /// Connects virtual user number `i` without a token (as [`Env::connect`]
    /// otherwise): an anonymous viewer, which the contract lets join and
    /// receive but not act.
    pub async fn connect_anonymous(&self, i: usize, log: ClientLog) -> Result<Conn, RunError> {
        let target = &self.targets[i % self.targets.len()];
        let source = (target.addr.ip().is_loopback() && !self.sources.is_empty())
            .then(|| self.sources[i % self.sources.len()])
            .filter(|ip| ip.is_ipv4() == target.addr.is_ipv4());
        let url = target.api.ws_url("");
        let url = url.strip_suffix("?token=").unwrap_or(&url);
        let who = log.name.clone();
        client::connect(target.addr, source, url, log, self.clock, self.timeout)
            .await
            .map_err(|source| RunError::Client { who, source })
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

/// The run's history: the host's log first, then each user task's, in
/// order. A task that panicked is an internal error naming `who`.
pub async fn gather(
    host: ClientLog,
    tasks: Vec<tokio::task::JoinHandle<ClientLog>>,
    who: &str,
) -> Result<History, RunError> {
    let mut history = History {
        clients: vec![host],
    };
    for task in tasks {
        let log = task
            .await
            .map_err(|e| RunError::Internal(format!("a {who} task failed: {e}")))?;
        history.clients.push(log);
    }
    Ok(history)
}
