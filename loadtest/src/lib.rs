//! liveshop-loadtest: drives liveshop nodes through the public client
//! contract only (HTTP `/api/v1` and the JSON WebSocket `/ws`, as in
//! docs/protocol.md), records what every virtual user sent and saw, and
//! checks that history against the contract's promises. It owns the
//! scenarios, the virtual users' connections (spread over several loopback
//! source addresses), the compact history, the checker and the reports. It
//! does not own or link any node code: it never reads a node's store or
//! internals, so it works the same against one node or a cluster, and what
//! it proves is what a real client could observe. One process can hold
//! only so many sockets, so the virtual users may run in worker processes
//! coordinated by one driver (`--workers`, [`workers`]).

pub mod api;
pub mod check;
pub mod cli;
pub mod client;
pub mod history;
pub mod report;
pub mod scenarios;
pub mod workers;
