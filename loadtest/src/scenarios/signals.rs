//! The signals of a part whose members only get ready and then finish (the
//! flash sale's buyers, the soak's users), and their form on the wire from
//! a worker process. Parts with more to say (auction, broadcast) have their
//! own.

use serde::{Deserialize, Serialize};

use super::RunError;

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
