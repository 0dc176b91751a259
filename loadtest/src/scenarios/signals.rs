//! What parts' members report that more than one part shares: the signals
//! of members that only get ready and then finish (the flash sale's buyers,
//! the soak's users) and their form on the wire from a worker process
//! (parts with more to say, auction and broadcast, have their own); and the
//! result of a member that sends on a schedule ([`Out`]).

use serde::{Deserialize, Serialize};

use super::RunError;
use crate::history::ClientLog;

/// A finished member: its history and, for one that sends on a schedule
/// (a bidder, a chatter), how late each request left against it (µs).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Out {
    pub log: ClientLog,
    pub send_lag_us: Vec<u64>,
}

/// What a member tells the driver.
pub(crate) enum Signal {
    /// Connected and joined (or why not).
    Ready(Result<(), RunError>),
    /// Its work is over; what went wrong, if anything.
    Done(Option<String>),
    /// A worker process failed (its members are lost).
    Failed(RunError),
}

/// A [`Signal`] as it crosses from a worker (errors as their messages).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Wire {
    Ready(Result<(), String>),
    Done(Option<String>),
}

impl Signal {
    pub(crate) fn into_wire(self) -> Wire {
        match self {
            Signal::Ready(r) => Wire::Ready(r.map_err(|e| e.to_string())),
            Signal::Done(error) => Wire::Done(error),
            Signal::Failed(e) => Wire::Ready(Err(e.to_string())),
        }
    }

    /// The signal a `worker`'s wire form stands for.
    pub(crate) fn from_wire(wire: Wire, worker: usize) -> Signal {
        match wire {
            Wire::Ready(r) => {
                Signal::Ready(r.map_err(|message| RunError::Worker { worker, message }))
            }
            Wire::Done(error) => Signal::Done(error),
        }
    }
}
