//! A forged single-node ScyllaDB for driver-facing tests, built on the
//! `scylla-proxy` crate in dry mode: no real node stands behind the proxy, one
//! request rule forges every answer. The driver connects to a loopback relay
//! (TCP_NODELAY) that joins each connection to the proxy node in memory
//! (`RunningProxy::transport_factory`): the proxy's own sockets would add a
//! delayed-ACK wait (~40 ms) to every answer.
//!
//! Use: `FakeScylla::start(schema_cql)`, connect a session to `uri()` with
//! `fetch_schema_metadata(false)`, install answers with `respond` /
//! `respond_once` (a [`Reply`] for calls whose statement text contains a
//! substring), then inspect `calls()`, `prepared()`, `rejected()`.
//!
//! What it answers:
//! - OPTIONS with SUPPORTED (no sharding; `SCYLLA_LWT_ADD_METADATA_MARK`, so
//!   the driver knows a prepared LWT as ScyllaDB marks it), STARTUP and
//!   REGISTER with READY;
//! - the driver's metadata reads: `system.local` (one row: host id, this
//!   address as `rpc_address`, datacenter "datacenter1", rack "rack1", the
//!   single token "0", cluster name, schema version), `system.peers` (no rows)
//!   and any other `system*` table (no rows); `USE ks` with SetKeyspace; DDL
//!   with Void;
//! - PREPARE: the statement is parsed and checked against the schema text
//!   ([`super::cql_stmt`]); the PREPARED answer carries the bind markers with
//!   the columns' real types, the partition-key indexes, the LWT mark and the
//!   result columns. A statement that does not fit the schema gets SyntaxError
//!   or Invalid, as from ScyllaDB;
//! - EXECUTE, BATCH and QUERY: the bound values are decoded against the
//!   prepared types (count, length, UTF-8, nulls on key parts), the call is
//!   recorded, and the answer is the first responder rule (newest first) whose
//!   text occurs in one of the call's statements, or the default: Void for a
//!   write, no rows for a SELECT, `[applied] = true` for an LWT. A call whose
//!   values do not fit gets Invalid and its `violations` say why.
//!
//! LWT results follow ScyllaDB (docs "How does ScyllaDB LWT differ from
//! Apache Cassandra", source `modification_statement` / `batch_statement` /
//! `cas_request`): a Rows result whose first column is the boolean
//! `[applied]`, then, for IF [NOT] EXISTS every column of the table, else the
//! columns named in the conditions, in the table's column order. Unlike
//! Cassandra the columns are there whether or not the write applied, carrying
//! the row's values before the write (null when there was no row). A
//! conditional batch returns the partition key and clustering columns plus
//! the union of its statements' condition columns, one row per statement in
//! statement order.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use scylla_proxy::{
    Condition, Node, Proxy, Reaction, RequestFrame, RequestReaction, RequestRule, ResponseFrame,
    RunningProxy, TransportFactory,
};

pub use scylla_cql::Consistency;
pub use scylla_cql::frame::response::error::{DbError, WriteType};
pub use scylla_cql::frame::types::SerialConsistency;

pub use super::cql_wire::Val;

pub use super::cql_schema::CqlType;
use super::cql_schema::Schema;
use super::cql_stmt::Stmt;
use super::cql_wire::LWT_MARK;
use super::fake_exec::handle;

/// A row of an answer: values by column name; columns left out are null.
pub type Row = Vec<(String, Val)>;

pub fn row(cols: &[(&str, Val)]) -> Row {
    cols.iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect()
}

/// What the fake node answers to a call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Void for a write, no rows for a SELECT, `[applied] = true` for an LWT.
    Default,
    Void,
    /// The rows of a SELECT (the statement's result columns, by name).
    Rows(Vec<Row>),
    /// An LWT result. `rows` are the old values, one per statement of a
    /// batch; a single row is repeated for every statement; none means nulls.
    Lwt {
        applied: bool,
        rows: Vec<Row>,
    },
    Error {
        error: DbError,
        message: String,
    },
    /// Any Rows result, columns and values as given: e.g. a Cassandra-style
    /// LWT refusal that carries `[applied]` alone.
    Table {
        columns: Vec<(String, CqlType)>,
        rows: Vec<Vec<Val>>,
    },
}

impl Reply {
    pub fn not_applied(current: Row) -> Reply {
        Reply::Lwt {
            applied: false,
            rows: vec![current],
        }
    }

    pub fn applied(old: Row) -> Reply {
        Reply::Lwt {
            applied: true,
            rows: vec![old],
        }
    }

    pub fn error(error: DbError) -> Reply {
        Reply::Error {
            message: format!("forged {error:?}"),
            error,
        }
    }

    /// A write timeout, as a coordinator reports it for `write_type`.
    pub fn write_timeout(write_type: WriteType) -> Reply {
        Reply::error(DbError::WriteTimeout {
            consistency: Consistency::LocalQuorum,
            received: 1,
            required: 2,
            write_type,
        })
    }

    pub fn overloaded() -> Reply {
        Reply::error(DbError::Overloaded)
    }
}

/// One statement of a recorded call with its decoded values.
#[derive(Debug, Clone)]
pub struct BoundStatement {
    pub text: String,
    pub values: Vec<Val>,
    /// The number of bind markers the statement was prepared with.
    pub markers: usize,
    pub lwt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Execute,
    Query,
    Batch,
}

/// A recorded EXECUTE, QUERY or BATCH.
#[derive(Debug, Clone)]
pub struct Call {
    pub kind: CallKind,
    pub statements: Vec<BoundStatement>,
    pub consistency: Consistency,
    pub serial_consistency: Option<SerialConsistency>,
    /// Values that did not fit the prepared statement (the call got Invalid).
    pub violations: Vec<String>,
    /// How the fake answered (for failure messages).
    pub answer: String,
}

impl Call {
    /// The text of the (first) statement.
    pub fn text(&self) -> &str {
        self.statements.first().map_or("", |s| s.text.as_str())
    }

    pub fn mentions(&self, needle: &str) -> bool {
        self.statements.iter().any(|s| s.text.contains(needle))
    }

    pub fn is_lwt(&self) -> bool {
        self.statements.iter().any(|s| s.lwt)
    }
}

pub(super) struct Rule {
    pub(super) matching: String,
    pub(super) reply: Reply,
    pub(super) once: bool,
}

pub(super) struct State {
    pub(super) schema: Schema,
    pub(super) addr: SocketAddr,
    pub(super) keyspace: String,
    pub(super) statements: HashMap<Vec<u8>, Stmt>,
    pub(super) prepared: Vec<String>,
    pub(super) rejected: Vec<(String, String)>,
    pub(super) calls: Vec<Call>,
    pub(super) rules: Vec<Rule>,
    pub(super) system: Vec<String>,
}

/// The forged node. Dropping it leaves the proxy's tasks to the test's runtime;
/// [`FakeScylla::stop`] ends them.
pub struct FakeScylla {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    proxy: Option<RunningProxy>,
    relay: JoinHandle<()>,
}

impl Drop for FakeScylla {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Accepts the driver's TCP connections and joins each to the proxy node
/// through the proxy's in-memory transport. The proxy writes a frame's header
/// and body with two writes on a socket without TCP_NODELAY, so over TCP
/// every answer waited for the driver's delayed ACK (about 40 ms); this
/// relay's sockets have TCP_NODELAY, the proxy's side is in memory.
async fn relay(listener: TcpListener, transport: Arc<TransportFactory>, node: SocketAddr) {
    loop {
        let Ok((mut tcp, peer)) = listener.accept().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let Ok(mut duplex) = transport.connect(node, Some(peer.ip()), Some(peer.port())) else {
            return;
        };
        tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut duplex).await;
        });
    }
}

pub(super) fn supported() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("CQL_VERSION".to_owned(), vec!["3.3.1".to_owned()]),
        ("COMPRESSION".to_owned(), vec![]),
        (
            "SCYLLA_LWT_ADD_METADATA_MARK".to_owned(),
            vec![format!("LWT_OPTIMIZATION_META_BIT_MASK={LWT_MARK}")],
        ),
    ])
}

impl FakeScylla {
    /// Starts the node on a free loopback port with the tables of `schema_cql`.
    pub async fn start(schema_cql: &str) -> FakeScylla {
        let schema = Schema::parse(schema_cql);
        // The driver connects to this relay, which hands each connection to
        // the proxy in memory (see `relay`).
        let relay_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the relay port");
        let addr = relay_listener.local_addr().expect("relay address");
        let state = Arc::new(Mutex::new(State {
            schema,
            addr,
            keyspace: "liveshop".to_owned(),
            statements: HashMap::new(),
            prepared: Vec::new(),
            rejected: Vec::new(),
            calls: Vec::new(),
            rules: Vec::new(),
            system: Vec::new(),
        }));
        let mut last_err = String::new();
        for _ in 0..10 {
            // The proxy insists on listening itself; nobody connects there.
            let proxy_addr = {
                let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .expect("bind a probe port");
                probe.local_addr().expect("probe address")
            };
            let handler_state = Arc::clone(&state);
            let rule = RequestRule(
                Condition::True,
                RequestReaction::forge_response(Arc::new(move |frame: RequestFrame| {
                    let stream_params = frame.params;
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handle(&handler_state, frame)
                    }))
                    .unwrap_or_else(|_| {
                        ResponseFrame::forged_error(
                            stream_params,
                            DbError::ServerError,
                            Some("the fake node panicked"),
                        )
                        .expect("error frame")
                    })
                })),
            );
            let node = Node::builder()
                .proxy_address(proxy_addr)
                .request_rules(vec![rule])
                .build_dry_mode();
            match Proxy::builder().with_node(node).build().run().await {
                Ok(proxy) => {
                    let relay =
                        tokio::spawn(relay(relay_listener, proxy.transport_factory(), proxy_addr));
                    return FakeScylla {
                        addr,
                        state,
                        proxy: Some(proxy),
                        relay,
                    };
                }
                Err(e) => last_err = e.to_string(),
            }
        }
        panic!("could not start the fake ScyllaDB node: {last_err}");
    }

    /// `host:port` for `SessionBuilder::known_node`.
    pub fn uri(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// From now on, answers calls mentioning `matching` with `reply`.
    pub fn respond(&self, matching: &str, reply: Reply) {
        self.lock().rules.push(Rule {
            matching: matching.to_owned(),
            reply,
            once: false,
        });
    }

    /// Answers the next call mentioning `matching` with `reply`.
    pub fn respond_once(&self, matching: &str, reply: Reply) {
        self.lock().rules.push(Rule {
            matching: matching.to_owned(),
            reply,
            once: true,
        });
    }

    pub fn clear_responders(&self) {
        self.lock().rules.clear();
    }

    /// Every recorded EXECUTE / QUERY / BATCH (not the driver's system reads).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The text of every PREPARE request (not the driver's system reads), in order.
    pub fn prepared(&self) -> Vec<String> {
        self.lock().prepared.clone()
    }

    /// Statements that failed to prepare, with the error the node gave.
    pub fn rejected(&self) -> Vec<(String, String)> {
        self.lock().rejected.clone()
    }

    /// The analysis of a prepared statement, by its text.
    pub fn statement(&self, text: &str) -> Option<Stmt> {
        self.lock()
            .statements
            .values()
            .find(|s| s.text == text)
            .cloned()
    }

    /// The driver's own reads of system tables, in order.
    pub fn system_queries(&self) -> Vec<String> {
        self.lock().system.clone()
    }

    /// Stops the proxy (bounded: a proxy that does not stop in 5 s is left).
    pub async fn stop(mut self) {
        self.relay.abort();
        if let Some(proxy) = self.proxy.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), proxy.finish()).await;
        }
    }
}

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
