//! The IO of one accepted connection: it holds the connection's slots (the
//! global permit and the per-address count) for as long as the socket is
//! open, WebSocket included, and closes an HTTP connection that is idle or
//! sends its request head too slowly.
//!
//! Where a connection is comes from two places: [`ConnState::request_started`]
//! and its guard (the service: a request's head has been parsed, its
//! response produced; a 101 answer hands the socket to a WebSocket), and the
//! IO (bytes read while idle start a request head; bytes written while idle
//! are progress). A read or write that would wait past the phase's deadline
//! fails with `TimedOut`, which ends hyper's connection and closes the
//! socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::per_ip::PerIpGuard;
use super::{HTTP_TIMEOUTS, TCP_CONNECTIONS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request under way since this instant (accepted, or the last
    /// response produced or written to).
    Idle(Instant),
    /// A request head began arriving at this instant.
    Head(Instant),
    /// This many requests are being answered.
    Busy(usize),
    /// Answered 101: the socket belongs to a WebSocket now, which keeps
    /// its own idle timeout.
    Upgraded,
}

/// Where one connection is, shared by its IO and its service.
#[derive(Debug)]
pub struct ConnState {
    idle: Duration,
    header: Duration,
    phase: Mutex<Phase>,
}

impl ConnState {
    pub fn new(idle: Duration, header: Duration) -> Arc<ConnState> {
        Arc::new(ConnState {
            idle,
            header,
            phase: Mutex::new(Phase::Idle(Instant::now())),
        })
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // Every change is one assignment: nothing to repair after a panic.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request's head has been parsed; the connection is busy until the
    /// guard is dropped (its response produced, or the request abandoned).
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Upgraded => Phase::Upgraded,
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        };
        RequestGuard {
            state: self.clone(),
            upgraded: false,
        }
    }

    fn on_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
        }
    }

    fn on_write(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Idle(Instant::now());
        }
    }

    /// When the connection must have moved on, and which timeout that is.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Idle(since) => Some((since + self.idle, "idle")),
            Phase::Head(since) => Some((since + self.header, "header")),
            Phase::Busy(_) | Phase::Upgraded => None,
        }
    }
}

/// A request being answered (see [`ConnState::request_started`]).
#[derive(Debug)]
pub struct RequestGuard {
    state: Arc<ConnState>,
    upgraded: bool,
}

impl RequestGuard {
    /// The request was answered 101: no HTTP timeout applies any more.
    pub fn upgraded(&mut self) {
        self.upgraded = true;
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut phase = self.state.phase();
        *phase = match *phase {
            _ if self.upgraded => Phase::Upgraded,
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            Phase::Upgraded => Phase::Upgraded,
            _ => Phase::Idle(Instant::now()),
        };
    }
}

/// An accepted TCP stream with its slots and its HTTP timeouts.
pub struct ConnIo {
    io: TcpStream,
    state: Arc<ConnState>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    _permit: OwnedSemaphorePermit,
    _per_ip: PerIpGuard,
}

impl ConnIo {
    pub fn new(
        io: TcpStream,
        state: Arc<ConnState>,
        permit: OwnedSemaphorePermit,
        per_ip: PerIpGuard,
    ) -> ConnIo {
        metrics::gauge!(TCP_CONNECTIONS).increment(1);
        ConnIo {
            io,
            state,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
            _permit: permit,
            _per_ip: per_ip,
        }
    }

    /// After the stream returned `Pending`: an error if the phase's
    /// deadline has passed, otherwise `Pending` with a wake-up at it.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some((deadline, which)) = self.state.deadline() else {
            return Poll::Pending;
        };
        if self.armed != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                metrics::counter!(HTTP_TIMEOUTS, "phase" => which).increment(1);
                tracing::debug!("closing an HTTP connection: {which} timeout");
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("http {which} timeout"),
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        metrics::gauge!(TCP_CONNECTIONS).decrement(1);
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.check_deadline(cx).map(Err),
        }
    }
}

impl ConnIo {
    /// What every write path does with its result: a write that moved bytes
    /// counts as activity; a pending one checks the deadline.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.state.on_write();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_deadline(cx).map(Err),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_requests_and_upgrades() {
        let state = ConnState::new(Duration::from_secs(30), Duration::from_secs(10));
        assert_eq!(state.deadline().map(|d| d.1), Some("idle"));
        state.on_read();
        assert_eq!(state.deadline().map(|d| d.1), Some("header"));
        let first = state.request_started();
        assert_eq!(state.deadline(), None);
        // Body bytes and pipelined requests keep it busy.
        state.on_read();
        let second = state.request_started();
        drop(first);
        assert_eq!(state.deadline(), None);
        drop(second);
        assert_eq!(state.deadline().map(|d| d.1), Some("idle"));
        let mut ws = state.request_started();
        ws.upgraded();
        drop(ws);
        state.on_read();
        state.on_write();
        assert_eq!(state.deadline(), None);
    }
}
