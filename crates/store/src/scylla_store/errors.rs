//! Driver errors and LWT answers, turned into what the store's callers act on.
//!
//! [`driver_error`] is the one place a driver error becomes a
//! [`StoreError`]: a server-side read or write timeout and the client's own
//! request timeout become [`StoreError::Timeout`] (the write may or may not
//! have happened), `Overloaded` and a rate-limit refusal become
//! [`StoreError::Overloaded`] (nothing written), the rest `Unavailable`.
//! [`Lwt`] is the answer of a conditional statement or batch: `[applied]`
//! and the values the row had before (ScyllaDB sends them whether or not the
//! write applied; a batch sends one row per statement), looked up by column
//! name, since the columns differ between statements and servers.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use scylla::errors::{
    DbError, ExecutionError, NextPageError, NextRowError, PagerExecutionError, PrepareError,
    RequestAttemptError, RequestError,
};
use scylla::response::query_result::QueryResult;
use scylla::value::{CqlValue, Row};

use crate::{Result, StoreError};

/// What a driver error comes down to.
pub(crate) enum Cause<'a> {
    /// The server answered with an error.
    Db(&'a DbError, &'a str),
    /// The driver's own request timeout ran out.
    ClientTimeout(Duration),
    /// Anything else (connection lost, no node, a protocol surprise).
    Other,
}

/// The driver's error types the store meets.
pub(crate) trait DriverError: std::fmt::Display {
    fn cause(&self) -> Cause<'_>;
}

fn attempt_cause(e: &RequestAttemptError) -> Cause<'_> {
    match e {
        RequestAttemptError::DbError(db, msg) => Cause::Db(db, msg),
        _ => Cause::Other,
    }
}

fn request_cause(e: &RequestError) -> Cause<'_> {
    match e {
        RequestError::LastAttemptError(a) => attempt_cause(a),
        RequestError::RequestTimeout(d) => Cause::ClientTimeout(*d),
        _ => Cause::Other,
    }
}

fn page_cause(e: &NextPageError) -> Cause<'_> {
    match e {
        NextPageError::RequestFailure(r) => request_cause(r),
        _ => Cause::Other,
    }
}

impl DriverError for ExecutionError {
    fn cause(&self) -> Cause<'_> {
        match self {
            ExecutionError::LastAttemptError(a) => attempt_cause(a),
            ExecutionError::RequestTimeout(d) => Cause::ClientTimeout(*d),
            ExecutionError::PrepareError(p) => p.cause(),
            _ => Cause::Other,
        }
    }
}

impl DriverError for PrepareError {
    fn cause(&self) -> Cause<'_> {
        match self {
            PrepareError::AllAttemptsFailed { first_attempt } => attempt_cause(first_attempt),
            _ => Cause::Other,
        }
    }
}

impl DriverError for PagerExecutionError {
    fn cause(&self) -> Cause<'_> {
        match self {
            PagerExecutionError::NextPageError(p) => page_cause(p),
            PagerExecutionError::PrepareError(p) => p.cause(),
            _ => Cause::Other,
        }
    }
}

impl DriverError for NextRowError {
    fn cause(&self) -> Cause<'_> {
        match self {
            NextRowError::NextPageError(p) => page_cause(p),
            _ => Cause::Other,
        }
    }
}

/// The [`StoreError`] for a failed request; `what` says what the store was
/// doing.
pub(crate) fn driver_error(what: &str, e: &impl DriverError) -> StoreError {
    match e.cause() {
        Cause::Db(DbError::WriteTimeout { write_type, .. }, msg) => StoreError::Timeout(format!(
            "ScyllaDB: {what}: write timeout ({write_type}; it may have been applied): {msg}"
        )),
        Cause::Db(DbError::ReadTimeout { .. }, msg) => {
            StoreError::Timeout(format!("ScyllaDB: {what}: read timeout: {msg}"))
        }
        Cause::ClientTimeout(d) => StoreError::Timeout(format!(
            "ScyllaDB: {what}: no answer within {} ms (it may have been applied)",
            d.as_millis()
        )),
        Cause::Db(DbError::Overloaded, msg) => {
            StoreError::Overloaded(format!("ScyllaDB: {what}: node overloaded: {msg}"))
        }
        Cause::Db(DbError::RateLimitReached { .. }, msg) => {
            StoreError::Overloaded(format!("ScyllaDB: {what}: rate limit reached: {msg}"))
        }
        Cause::Db(db, msg) => StoreError::Unavailable(format!("ScyllaDB: {what}: {db}: {msg}")),
        Cause::Other => StoreError::Unavailable(format!("ScyllaDB: {what}: {e}")),
    }
}

/// The answer of a conditional statement or batch.
#[derive(Debug)]
pub(crate) struct Lwt {
    pub applied: bool,
    columns: Vec<String>,
    rows: Vec<Row>,
}

impl Lwt {
    pub(crate) fn parse(what: &str, result: QueryResult) -> Result<Self> {
        let bad = |detail: String| {
            StoreError::Unavailable(format!(
                "ScyllaDB: {what}: unexpected answer to a conditional write: {detail}"
            ))
        };
        let rows_result = result.into_rows_result().map_err(|e| bad(e.to_string()))?;
        let columns: Vec<String> = rows_result
            .column_specs()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let rows: Vec<Row> = rows_result
            .rows::<Row>()
            .map_err(|e| bad(e.to_string()))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let mut lwt = Lwt {
            applied: false,
            columns,
            rows,
        };
        lwt.applied = match lwt.get("[applied]") {
            Some(CqlValue::Boolean(b)) => *b,
            other => return Err(bad(format!("[applied] is {other:?}"))),
        };
        Ok(lwt)
    }

    /// Whether the answer has this column at all.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }

    /// The column's first non-null value over the answer's rows (a batch
    /// answers one row per statement; static columns repeat in each).
    pub(crate) fn get(&self, column: &str) -> Option<&CqlValue> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows
            .iter()
            .find_map(|r| r.columns.get(i).and_then(Option::as_ref))
    }

    fn typed<'a, T>(
        &'a self,
        column: &str,
        f: impl Fn(&'a CqlValue) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(column) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!("conditional write answered {column} = {v:?}"))
            }),
        }
    }

    pub(crate) fn bigint(&self, column: &str) -> Result<Option<i64>> {
        self.typed(column, CqlValue::as_bigint)
    }

    pub(crate) fn text(&self, column: &str) -> Result<Option<&str>> {
        self.typed(column, |v| v.as_text().map(String::as_str))
    }

    pub(crate) fn boolean(&self, column: &str) -> Result<Option<bool>> {
        self.typed(column, CqlValue::as_boolean)
    }

    pub(crate) fn blob(&self, column: &str) -> Result<Option<&[u8]>> {
        self.typed(column, |v| v.as_blob().map(Vec::as_slice))
    }
}

/// A random u64 without a random-number dependency: std's per-process
/// random hash keys, mixed with the time and the process id.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish()
}
