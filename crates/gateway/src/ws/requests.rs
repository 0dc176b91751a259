//! What a connection's requests do: auth and rate checks, then a call to
//! the region, and the reply in the contract's shape.

use governor::DefaultDirectRateLimiter;
use liveshop_actors::{ActorError, ConnHandle, Joined};
use liveshop_domain::{LotCommand, Rejection, RoomCommand};
use liveshop_protocol::{
    ClientMessage, ErrorCode, LotId, ModAction, Reply, Request, RequestId, RoomId, Secret,
    ServerMessage, UserId,
};

use super::outbox::Delivered;
use super::replies::{Refusal, lot_reply};
use crate::auth::jwt::Identity;
use crate::context::ApiContext;
use crate::limits::Action;
use crate::metrics::RATE_LIMITED;
use crate::util::random_seed;

type Answer = Result<Vec<ServerMessage>, Refusal>;

/// A connection's state as far as requests are concerned.
pub struct Session {
    pub identity: Option<Identity>,
    pub handle: ConnHandle,
    pub delivered: Delivered,
    limiter: DefaultDirectRateLimiter,
}

fn ok(reply: Reply) -> Answer {
    Ok(vec![ServerMessage::ok(reply)])
}

impl Session {
    pub fn new(ctx: &ApiContext, identity: Option<Identity>, handle: ConnHandle) -> Session {
        Session {
            identity,
            handle,
            delivered: Delivered::new(),
            limiter: ctx.limiters().connection(),
        }
    }

    /// Runs `fut` with the request timeout.
    async fn call<T>(ctx: &ApiContext, fut: impl Future<Output = T>) -> Result<T, Refusal> {
        tokio::time::timeout(ctx.config().limits.request_timeout, fut)
            .await
            .map_err(|_| {
                tracing::warn!("a request to the actors timed out");
                Refusal::new(ErrorCode::Unavailable, "timed out; retry later")
            })
    }

    /// The replies to one client message, in order: one `ok`/`error`, then
    /// for a `join` that replays, the replayed events.
    pub async fn handle(&mut self, ctx: &ApiContext, msg: ClientMessage) -> Vec<ServerMessage> {
        let rid = msg.rid;
        if self.limiter.check().is_err() {
            metrics::counter!(RATE_LIMITED, "kind" => "messages").increment(1);
            let msg = "too many messages; slow down";
            return vec![ServerMessage::error(rid, ErrorCode::RateLimited, msg)];
        }
        match self.dispatch(ctx, rid.clone(), msg.request).await {
            Ok(msgs) => msgs,
            Err(refusal) => vec![refusal.into_message(rid)],
        }
    }

    fn user(&self) -> Result<Identity, Refusal> {
        self.identity
            .clone()
            .ok_or_else(|| Refusal::new(ErrorCode::Unauthorized, "sign in to do this"))
    }

    /// The user's cluster-wide bucket for `action` (one cache round trip,
    /// awaited: the connection answers its requests in order anyway, and
    /// the request must not reach the actors before it is allowed).
    async fn limit(ctx: &ApiContext, action: Action, user: &UserId) -> Result<(), Refusal> {
        if ctx.limiters().allow_user(action, user).await {
            Ok(())
        } else {
            let msg = format!("too many {} requests; slow down", action.as_str());
            Err(Refusal::new(ErrorCode::RateLimited, msg))
        }
    }

    async fn dispatch(&mut self, ctx: &ApiContext, rid: Option<RequestId>, req: Request) -> Answer {
        match req {
            Request::Ping => ok(Reply::empty(rid)),
            Request::Auth { token } => {
                let user_id = self.auth(ctx, token).await?;
                ok(Reply {
                    user_id: Some(user_id),
                    ..Reply::empty(rid)
                })
            }
            Request::Join { room, since } => self.join(ctx, rid, room, since).await,
            Request::Leave { room } => {
                self.delivered.remove(&room);
                Self::call(ctx, ctx.region().leave(&room, self.handle.id)).await?;
                ok(Reply::empty(rid))
            }
            Request::Chat { room, text } => {
                let me = self.user()?;
                Self::limit(ctx, Action::Chat, &me.user_id).await?;
                let cmd = RoomCommand::Chat {
                    user: me.user_id,
                    name: me.name,
                    text,
                };
                // The domain's `forbidden` here can only mean moderation.
                Self::room(ctx, rid, &room, cmd)
                    .await
                    .map_err(|r| r.forbidden_as("the host has muted or banned you in this room"))
            }
            Request::Like { room, count } => {
                let me = self.user()?;
                Self::limit(ctx, Action::Like, &me.user_id).await?;
                let cmd = RoomCommand::Like {
                    user: me.user_id,
                    count,
                };
                Self::room(ctx, rid, &room, cmd)
                    .await
                    .map_err(|r| r.forbidden_as("the host has banned you from this room"))
            }
            Request::Moderate { room, user, action } => {
                let me = self.user()?;
                Self::moderate(ctx, rid, room, me.user_id, user, action).await
            }
            Request::Pin { room, lot } => {
                let me = self.user()?;
                Self::room(
                    ctx,
                    rid,
                    &room,
                    RoomCommand::Pin {
                        by: me.user_id,
                        lot,
                    },
                )
                .await
            }
            Request::Bid { lot, amount } => {
                let me = self.user()?;
                Self::limit(ctx, Action::Bid, &me.user_id).await?;
                Self::lot(
                    ctx,
                    rid,
                    &lot,
                    LotCommand::Bid {
                        bidder: me.user_id,
                        amount,
                    },
                )
                .await
            }
            Request::MaxBid { lot, amount } => {
                let me = self.user()?;
                Self::limit(ctx, Action::Bid, &me.user_id).await?;
                Self::lot(
                    ctx,
                    rid,
                    &lot,
                    LotCommand::MaxBid {
                        bidder: me.user_id,
                        max: amount,
                    },
                )
                .await
            }
            Request::Hold { lot, qty } => {
                let me = self.user()?;
                Self::limit(ctx, Action::Hold, &me.user_id).await?;
                Self::lot(
                    ctx,
                    rid,
                    &lot,
                    LotCommand::Hold {
                        user: me.user_id,
                        qty,
                    },
                )
                .await
            }
            Request::Release { hold } => {
                let me = self.user()?;
                let lot = hold
                    .lot()
                    .ok_or_else(|| Refusal::not_found("no such hold"))?;
                Self::lot(
                    ctx,
                    rid,
                    &lot,
                    LotCommand::Release {
                        user: me.user_id,
                        hold,
                    },
                )
                .await
            }
            Request::Checkout { hold, idem } => {
                let me = self.user()?;
                let lot = hold
                    .lot()
                    .ok_or_else(|| Refusal::not_found("no such hold"))?;
                let cmd = LotCommand::Checkout {
                    user: me.user_id,
                    hold,
                    idem,
                };
                Self::lot(ctx, rid, &lot, cmd).await
            }
            Request::Enter { lot } => {
                let me = self.user()?;
                Self::lot(ctx, rid, &lot, LotCommand::Enter { user: me.user_id }).await
            }
            Request::OpenLot { lot } => {
                let me = self.user()?;
                let cmd = LotCommand::Open {
                    by: me.user_id,
                    seed: random_seed(),
                };
                Self::lot(ctx, rid, &lot, cmd).await
            }
            Request::CloseLot { lot } => {
                let me = self.user()?;
                Self::lot(ctx, rid, &lot, LotCommand::Close { by: me.user_id }).await
            }
        }
    }

    async fn lot(ctx: &ApiContext, rid: Option<RequestId>, lot: &LotId, cmd: LotCommand) -> Answer {
        let reply = Self::call(ctx, ctx.region().lot_command(lot, cmd))
            .await?
            .map_err(|e| match e {
                ActorError::NotFound => Refusal::not_found("no such lot"),
                other => other.into(),
            })??;
        ok(lot_reply(rid, reply))
    }

    async fn room(
        ctx: &ApiContext,
        rid: Option<RequestId>,
        room: &RoomId,
        cmd: RoomCommand,
    ) -> Answer {
        Self::call(ctx, ctx.region().room_command(room, cmd))
            .await?
            .map_err(|e| match e {
                ActorError::NotFound => Refusal::not_found("no such room"),
                other => other.into(),
            })??;
        ok(Reply::empty(rid))
    }

    /// `moderate`: the host mutes, unmutes, bans or unbans `user`. The host
    /// check comes first (the domain makes it again when it decides), so a
    /// non-host learns nothing about which users exist; then an unknown
    /// user is `not_found` rather than a durable entry nobody can match.
    async fn moderate(
        ctx: &ApiContext,
        rid: Option<RequestId>,
        room: RoomId,
        by: UserId,
        user: UserId,
        action: ModAction,
    ) -> Answer {
        let view = Self::call(ctx, ctx.region().room_view(&room))
            .await?
            .map_err(|e| match e {
                ActorError::NotFound => Refusal::not_found("no such room"),
                other => other.into(),
            })?;
        if view.host != by {
            return Err(Refusal::new(
                ErrorCode::Forbidden,
                "only the room's host may moderate it",
            ));
        }
        let known = Self::call(ctx, ctx.store().user(&user)).await?;
        match known {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Refusal::not_found("no such user")),
            Err(err) => {
                tracing::warn!(%err, "looking up a user to moderate");
                let msg = "service unavailable; retry later";
                return Err(Refusal::new(ErrorCode::Unavailable, msg));
            }
        }
        let cmd = match action {
            ModAction::Mute => RoomCommand::Mute { by, user },
            ModAction::Unmute => RoomCommand::Unmute { by, user },
            ModAction::Ban => RoomCommand::Ban { by, user },
            ModAction::Unban => RoomCommand::Unban { by, user },
        };
        Self::room(ctx, rid, &room, cmd).await
    }

    /// Signs the connection in. The same user again (a fresh token) is
    /// fine; another user is refused.
    async fn auth(&mut self, ctx: &ApiContext, token: Secret) -> Result<UserId, Refusal> {
        let identity = ctx
            .jwt()
            .verify(token.expose())
            .map_err(|e| Refusal::new(ErrorCode::Unauthorized, e.to_string()))?;
        let user_id = identity.user_id.clone();
        match &self.identity {
            Some(current) if current.user_id == user_id => {}
            Some(_) => {
                let msg = "this connection is signed in as another user";
                return Err(Refusal::new(ErrorCode::BadRequest, msg));
            }
            None => {
                self.handle.user = Some(user_id.clone());
                Self::call(ctx, ctx.region().attach(&user_id, &self.handle)).await?;
            }
        }
        self.identity = Some(identity);
        Ok(user_id)
    }

    /// `join`: an `ok` with the snapshot, or a plain `ok` followed by the
    /// replayed events. The connection reads its outbound queue only after
    /// these are written, so no event of the room overtakes the `ok`.
    async fn join(
        &mut self,
        ctx: &ApiContext,
        rid: Option<RequestId>,
        room: RoomId,
        since: Option<u64>,
    ) -> Answer {
        let joined = Self::call(ctx, ctx.region().join(&room, since, &self.handle))
            .await?
            .map_err(|e| match e {
                ActorError::NotFound => Refusal::not_found("no such room"),
                other => other.into(),
            })?
            .map_err(|r| match r {
                // The only reason a room refuses a join.
                Rejection::Forbidden => Refusal::new(
                    ErrorCode::Forbidden,
                    "the host has banned you from this room",
                ),
                other => other.into(),
            })?;
        Ok(self.joined(rid, room, since.unwrap_or(0), joined, false))
    }

    /// Records a join's starting point and turns it into messages. A
    /// resynchronisation (`reset`) always marks its snapshot as a reset.
    fn joined(
        &mut self,
        rid: Option<RequestId>,
        room: RoomId,
        since: u64,
        joined: Joined,
        reset: bool,
    ) -> Vec<ServerMessage> {
        match joined {
            Joined::Snapshot(mut snapshot) => {
                snapshot.reset |= reset;
                self.delivered.insert(room, snapshot.seq);
                vec![ServerMessage::ok(Reply {
                    snapshot: Some(snapshot),
                    ..Reply::empty(rid)
                })]
            }
            Joined::Replay(events) => {
                let mut out = Vec::with_capacity(events.len() + 1);
                if !reset {
                    out.push(ServerMessage::ok(Reply::empty(rid)));
                }
                let mut last = since;
                for e in events {
                    if e.seq > last {
                        last = e.seq;
                        out.push(ServerMessage::event(room.clone(), e.seq, e.event));
                    }
                }
                self.delivered.insert(room, last);
                out
            }
        }
    }

    /// After a `lagged`: joins `room` again from the last delivered seq.
    /// Replayable events follow directly; otherwise an `ok` without `rid`
    /// carries a snapshot with `reset`. `None` when the room cannot be joined
    /// again (it is unavailable, or the user was banned meanwhile): the
    /// caller closes the connection, as the contract says, rather than
    /// silently stop following the room.
    pub async fn resync(&mut self, ctx: &ApiContext, room: RoomId) -> Option<Vec<ServerMessage>> {
        let Some(&since) = self.delivered.get(&room) else {
            return Some(Vec::new());
        };
        let result = Self::call(ctx, ctx.region().join(&room, Some(since), &self.handle)).await;
        match result {
            Ok(Ok(Ok(joined))) => Some(self.joined(None, room, since, joined, true)),
            Ok(Ok(Err(_))) | Ok(Err(_)) | Err(_) => {
                self.delivered.remove(&room);
                None
            }
        }
    }
}
