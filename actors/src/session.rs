//! SessionActor: one per user with at least one attached connection on this
//! node. Delivers the user's personal notices to each of their connections.
//!
//! A notice is offered with `try_send`: a connection whose queue is full
//! misses it (counted and logged), since a notice is not worth holding a slow
//! reader's memory. The session stops when its last connection detaches (or
//! is found closed); notices for a user without a session are dropped, as the
//! user is not connected here.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use liveshop_protocol::{Notice, UserId};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus};

use crate::conn::{ConnHandle, ConnId, Offer, Outbound};
use crate::shared::{Fail, METRIC_NOTICES_DROPPED, Reply, Shared, answer};

pub(crate) enum SessionMsg {
    Attach { conn: ConnHandle, reply: Reply<()> },
    Detach { conn: ConnId },
    Notice(Notice),
}

pub(crate) struct SessionActor {
    pub shared: Arc<Shared>,
}

pub(crate) struct SessionState {
    shared: Arc<Shared>,
    user: UserId,
    conns: Vec<ConnHandle>,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = UserId;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        user: UserId,
    ) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            shared: self.shared.clone(),
            user,
            conns: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Attach { conn, reply } => {
                if myself.get_status() != ActorStatus::Running {
                    // Draining after the last detach: the next instance
                    // must hold this connection, not this one.
                    answer(reply, Err(Fail::Retry));
                    return Ok(());
                }
                state.conns.retain(|c| c.id != conn.id);
                state.conns.push(conn);
                answer(reply, Ok(()));
            }
            SessionMsg::Detach { conn } => state.conns.retain(|c| c.id != conn),
            SessionMsg::Notice(notice) => state.deliver(notice),
        }
        if state.conns.is_empty() && myself.get_status() == ActorStatus::Running {
            tracing::trace!(user = %state.user, "session ends");
            if myself.drain().is_err() {
                myself.stop(None);
            }
        }
        Ok(())
    }
}

impl SessionState {
    fn deliver(&mut self, notice: Notice) {
        let user = &self.user;
        let counters = &self.shared.counters;
        self.conns.retain(
            |conn| match conn.offer(Outbound::Notice(Box::new(notice.clone()))) {
                Offer::Sent => true,
                Offer::Full => {
                    tracing::debug!(%user, conn = conn.id, "notice dropped: queue full");
                    metrics::counter!(METRIC_NOTICES_DROPPED).increment(1);
                    counters.notices_dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Offer::Closed => false,
            },
        );
    }
}
