//! Driver-facing behaviour of `ScyllaStore`, against a forged ScyllaDB node
//! (`scylla-proxy` in dry mode, tests/support/fake_scylla.rs): every
//! statement prepares against `config/schema.cql` and binds the right
//! values; a refused conditional append becomes `Fenced` / `SeqGap`; a
//! forged write timeout and Overloaded become the typed retryable errors.
#![cfg(feature = "scylla")]

//!
//! `fixtures` builds records and starts the forged node; `statements`
//! checks what the store sends; `outcomes` checks what it makes of answers.

#[path = "../support/mod.rs"]
mod support;

mod fixtures;
mod outcomes;
mod statements;
