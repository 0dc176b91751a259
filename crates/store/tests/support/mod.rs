//! Test support shared by the store's integration tests.
//!
//! Every test binary that declares `mod support;` compiles all of it, and
//! most binaries use only part of it.
#![allow(dead_code)]

pub mod cql_forms;
pub mod cql_lex;
pub mod cql_schema;
pub mod cql_stmt;
pub mod cql_wire;
pub mod fake_exec;
pub mod fake_scylla;
