//! `--workers N`: the virtual users of a run in N worker processes of this
//! executable, one driver coordinating them, because one process may hold
//! only its `ulimit -n` sockets (~19.9k here).
//!
//! The driver does the setup over HTTP, keeps the host's part (the seller
//! or the broadcast host: whatever emits, opens and closes), and hands each
//! worker its share of the virtual users in a work order on its stdin
//! ([`proto`]). A worker runs those users with the very tasks the driver
//! would run itself (a scenario's [`Part`]), forwards their signals to the
//! driver as JSON lines on its stdout, follows the driver's phases (sent
//! on its stdin), and at the end sends every user's result (its history)
//! and its own CPU and memory. The driver feeds the signals into the same
//! channel its own tasks use, so a scenario's driving code is the same for
//! one process or many: [`Crowd`] is where the two differ. The results are
//! merged back into the users' original order, so the history (and so the
//! checker and the reports) is the one a single process would have made.
//!
//! Users keep their index: user i connects to target i mod len from source
//! address i mod len whichever process runs it. Every process reads one
//! clock (`history::Clock::joined`). A worker exits when its stdin closes
//! (the driver is gone); the driver kills its workers when it stops early,
//! and takes a worker that exits early, fails or is silent for longer than
//! the run's timeout as the run's error (exit status 2), never a hang.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::history::Interner;
use crate::scenarios::{Env, RunError};

mod child;
pub mod proto;
mod serve;
#[cfg(test)]
mod tests;

pub use serve::{Asker, Outbox, main as worker_main, serve};

/// The part of a scenario that runs once per virtual user, in whichever
/// process: what a worker is given, what its members share, how one is
/// started, and how their signals cross between processes.
pub trait Part: Sized + 'static {
    /// Names the part in a work order (the worker dispatches on it).
    const NAME: &'static str;
    /// What the members share besides the environment (rooms, lots, ...).
    type Config: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// One virtual user.
    type Member: Serialize + DeserializeOwned + Send + 'static;
    /// The driver's phases, which every member follows.
    type Phase: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// What a member tells the driver.
    type Signal: Send + 'static;
    /// A signal as it crosses from a worker.
    type Wire: Serialize + DeserializeOwned + Send + 'static;
    /// A member's result (its history and whatever else it measured).
    type Out: Serialize + DeserializeOwned + Send + 'static;
    type Shared: Send + Sync + 'static;

    /// What a process's members share. `asker` is the way to the driver in
    /// a worker, None in the driver itself.
    fn shared(env: Arc<Env>, config: Self::Config, asker: Option<Arc<Asker>>) -> Self::Shared;
    fn spawn(
        shared: &Arc<Self::Shared>,
        member: Self::Member,
        signals: mpsc::UnboundedSender<Self::Signal>,
        phase: watch::Receiver<Self::Phase>,
    ) -> JoinHandle<Self::Out>;
    fn to_wire(signal: Self::Signal) -> Self::Wire;
    /// A signal from worker number `worker` (its errors name the worker).
    fn from_wire(wire: Self::Wire, worker: usize) -> Self::Signal;
    /// The signal that tells the driver's waits a worker failed.
    fn failed(error: RunError) -> Self::Signal;
    /// Shares the ids of a result that crossed from a worker.
    fn intern(out: &mut Self::Out, ids: &mut Interner);
    /// Answers a worker's question, in the driver (which holds the run's
    /// one copy of whatever must be counted across processes).
    fn answer(_shared: &Self::Shared, _question: Value) -> Value {
        Value::Null
    }
}

/// The virtual users of a run, started as tasks of this process or in
/// worker processes (`env.workers`), with their results in one order.
pub struct Crowd<P: Part> {
    env: Arc<Env>,
    len: usize,
    local: Vec<(usize, JoinHandle<P::Out>)>,
    remote: Vec<child::Worker<P>>,
    phases: Option<JoinHandle<()>>,
}

impl<P: Part> Crowd<P> {
    /// Starts `members` (a member marked `true` is the host's part and
    /// always runs here; with `env.workers` 1, all do). Their signals go to
    /// `signals`; they follow `phase`.
    pub fn start(
        env: &Arc<Env>,
        config: P::Config,
        members: Vec<(P::Member, bool)>,
        signals: &mpsc::UnboundedSender<P::Signal>,
        phase: &watch::Receiver<P::Phase>,
    ) -> Result<Crowd<P>, RunError> {
        let shared = Arc::new(P::shared(env.clone(), config.clone(), None));
        let len = members.len();
        let mut crowd = Crowd {
            env: env.clone(),
            len,
            local: Vec::new(),
            remote: Vec::new(),
            phases: None,
        };
        let mut away: Vec<(usize, P::Member)> = Vec::new();
        for (k, (member, here)) in members.into_iter().enumerate() {
            if here || env.workers <= 1 {
                let task = P::spawn(&shared, member, signals.clone(), phase.clone());
                crowd.local.push((k, task));
            } else {
                away.push((k, member));
            }
        }
        if away.is_empty() {
            return Ok(crowd);
        }
        let mut phase = phase.clone();
        let initial = phase.borrow_and_update().clone();
        let program = child::Program::this_executable()?;
        let (indices, mut members): (Vec<usize>, Vec<Option<P::Member>>) =
            away.into_iter().map(|(k, m)| (k, Some(m))).unzip();
        for (w, share) in split(indices.len(), env.workers).into_iter().enumerate() {
            if share.is_empty() {
                continue;
            }
            let order = proto::Order {
                part: P::NAME.to_owned(),
                worker: w + 1,
                common: env.common(),
                config: config.clone(),
                phase: initial.clone(),
                members: share.iter().filter_map(|&j| members[j].take()).collect(),
            };
            let line = serde_json::to_string(&order)
                .map_err(|e| RunError::Internal(format!("cannot write a work order: {e}")))?;
            let indices = share.iter().map(|&j| indices[j]).collect();
            let worker = child::spawn::<P>(
                &program,
                w + 1,
                line,
                indices,
                signals.clone(),
                shared.clone(),
                env.timeout,
            )?;
            env.timeline
                .track(worker.pid, &format!("liveshop-loadtest worker {}", w + 1));
            crowd.remote.push(worker);
        }
        crowd.phases = Some(child::forward_phases::<P>(
            phase,
            crowd.remote.iter().map(|w| w.lines.clone()).collect(),
        ));
        Ok(crowd)
    }

    /// The worker processes' pids (none when all run here).
    pub fn pids(&self) -> Vec<u32> {
        self.remote.iter().map(|w| w.pid).collect()
    }

    /// Every member's result in the order given to [`Crowd::start`], once
    /// they have all ended (after the driver's last phase). A worker's
    /// CPU and memory go to `env` for the result.
    pub async fn join(mut self, who: &str) -> Result<Vec<P::Out>, RunError> {
        let mut local = Vec::new();
        for (k, task) in std::mem::take(&mut self.local) {
            let out = task
                .await
                .map_err(|e| RunError::Internal(format!("a {who} task failed: {e}")))?;
            local.push((k, out));
        }
        let mut remote = Vec::new();
        for mut worker in std::mem::take(&mut self.remote) {
            let (outs, figures) = worker.finish().await?;
            let indices = std::mem::take(&mut worker.indices);
            self.env.record_worker(proto::Report {
                worker: worker.number,
                pid: worker.pid,
                members: indices.len(),
                figures,
            });
            remote.push((indices, outs));
        }
        merge(self.len, local, remote).map_err(RunError::Internal)
    }
}

impl<P: Part> Drop for Crowd<P> {
    /// The workers stop with their handles (`child::Worker`'s drop); the
    /// phase forwarder has nobody left to tell.
    fn drop(&mut self) {
        if let Some(phases) = &self.phases {
            phases.abort();
        }
    }
}

/// Deals `n` items to `workers` shares round-robin (item k to share
/// k mod workers), so rooms and senders spread evenly.
pub fn split(n: usize, workers: usize) -> Vec<Vec<usize>> {
    let workers = workers.max(1);
    let mut shares = vec![Vec::with_capacity(n.div_ceil(workers)); workers];
    for k in 0..n {
        shares[k % workers].push(k);
    }
    shares
}

/// Puts `len` results back in order: `local` as (index, result), each
/// worker's as its indices and its results in the same order. Every index
/// must come exactly once.
pub fn merge<O>(
    len: usize,
    local: Vec<(usize, O)>,
    remote: Vec<(Vec<usize>, Vec<O>)>,
) -> Result<Vec<O>, String> {
    let mut slots: Vec<Option<O>> = std::iter::repeat_with(|| None).take(len).collect();
    let mut put = |k: usize, out: O| match slots.get_mut(k) {
        Some(slot @ None) => {
            *slot = Some(out);
            Ok(())
        }
        Some(Some(_)) => Err(format!("virtual user {k} has two results")),
        None => Err(format!("a result for virtual user {k} of {len}")),
    };
    for (k, out) in local {
        put(k, out)?;
    }
    for (w, (indices, outs)) in remote.into_iter().enumerate() {
        if indices.len() != outs.len() {
            return Err(format!(
                "worker {} sent {} results for {} virtual users",
                w + 1,
                outs.len(),
                indices.len()
            ));
        }
        for (k, out) in indices.into_iter().zip(outs) {
            put(k, out)?;
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(k, s)| s.ok_or_else(|| format!("no result for virtual user {k}")))
        .collect()
}
