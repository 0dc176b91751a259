//! Self-test of the forged ScyllaDB node (tests/support/fake_scylla.rs): a
//! plain driver `Session` connects to it, prepares against the real schema,
//! executes with bound values, sends a conditional batch, gets an LWT not
//! applied, a forged write timeout and a forged Overloaded. Proves the
//! harness on its own, before any store code uses it.
#![cfg(feature = "scylla")]

mod support;

use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, PrepareError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::CqlTimestamp;

use support::cql_schema::{ColumnKind, CqlType, Schema};
use support::cql_wire;
use support::fake_scylla::{CallKind, DbError, FakeScylla, Reply, Val, WriteType, row};

/// The harness's own schema (the store's schema text may change under it).
const SCHEMA: &str = "
CREATE KEYSPACE IF NOT EXISTS liveshop WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 3};
-- a log partition: events plus the static fence
CREATE TABLE IF NOT EXISTS liveshop.lot_events (
  log_key  text,
  seq      bigint,
  payload  blob,
  epoch    bigint STATIC,
  last_seq bigint STATIC,
  PRIMARY KEY (log_key, seq)
) WITH CLUSTERING ORDER BY (seq ASC);
CREATE TABLE IF NOT EXISTS snapshots (
  log_key text, seq bigint, state blob, taken_at timestamp,
  PRIMARY KEY ((log_key), seq)
) WITH CLUSTERING ORDER BY (seq DESC);
CREATE TABLE users (
  user_id text PRIMARY KEY, username text, password_hash text,
  display_name text, role text, created_at timestamp
);
CREATE TABLE usernames (username text PRIMARY KEY, user_id text);
CREATE TABLE order_idem (buyer_id text, idem_key text, order_id text, PRIMARY KEY ((buyer_id, idem_key)));
";

const LIMIT: Duration = Duration::from_secs(10);

async fn connect(fake: &FakeScylla) -> Session {
    tokio::time::timeout(
        LIMIT,
        SessionBuilder::new()
            .known_node(fake.uri())
            .fetch_schema_metadata(false)
            .build(),
    )
    .await
    .expect("the session connects in time")
    .expect("the session connects")
}

fn db_error(e: &ExecutionError) -> Option<&DbError> {
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => Some(db),
        _ => None,
    }
}

fn prepare_db_error(e: &PrepareError) -> Option<&DbError> {
    match e {
        PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(db, _),
        } => Some(db),
        _ => None,
    }
}

#[tokio::test]
async fn session_connects_through_the_system_tables() {
    let fake = FakeScylla::start(SCHEMA).await;
    let session = connect(&fake).await;
    let system = fake.system_queries();
    assert!(
        system.iter().any(|q| q.contains("system.local")),
        "{system:?}"
    );
    assert!(
        system.iter().any(|q| q.contains("system.peers")),
        "{system:?}"
    );
    let cluster = session.get_cluster_state();
    let nodes = cluster.get_nodes_info();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].address.ip(), fake.addr().ip());
    assert_eq!(nodes[0].datacenter.as_deref(), Some("datacenter1"));
    assert!(fake.calls().is_empty() && fake.prepared().is_empty());
    fake.stop().await;
}

#[tokio::test]
async fn prepare_checks_the_schema_and_execute_records_bound_values() {
    let fake = FakeScylla::start(SCHEMA).await;
    let session = connect(&fake).await;

    let insert = "INSERT INTO liveshop.users (user_id, username, password_hash, display_name, role, created_at) VALUES (?, ?, ?, ?, ?, ?)";
    let mut prepared = session.prepare(insert).await.expect("prepares");
    let types: Vec<String> = prepared
        .get_variable_col_specs()
        .iter()
        .map(|c| format!("{}:{:?}", c.name(), c.typ()))
        .collect();
    assert_eq!(types.len(), 6, "{types:?}");
    assert!(
        types[5].starts_with("created_at:Native(Timestamp)"),
        "{types:?}"
    );
    assert_eq!(prepared.get_variable_pk_indexes().len(), 1);
    assert_eq!(prepared.get_variable_pk_indexes()[0].index, 0);
    assert!(!prepared.is_confirmed_lwt());

    prepared.set_consistency(Consistency::LocalQuorum);
    let values = (
        "u1",
        "alice",
        "hash",
        "Alice",
        "buyer",
        CqlTimestamp(1_700_000_000_000),
    );
    session
        .execute_unpaged(&prepared, values)
        .await
        .expect("executes");
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.kind, CallKind::Execute);
    assert_eq!(call.text(), insert);
    assert_eq!(call.consistency, Consistency::LocalQuorum);
    assert!(call.violations.is_empty(), "{:?}", call.violations);
    assert_eq!(call.statements[0].values[0], Val::text("u1"));
    assert_eq!(
        call.statements[0].values[5],
        Val::Timestamp(1_700_000_000_000)
    );

    // The prepared types reach the driver: it refuses an i32 for a bigint.
    let select =
        "SELECT seq, payload FROM liveshop.lot_events WHERE log_key = ? AND seq > ? LIMIT ?";
    let read = session.prepare(select).await.expect("prepares");
    let markers = fake.statement(select).expect("analysed").markers;
    let kinds: Vec<(&str, &CqlType)> = markers.iter().map(|m| (m.name.as_str(), &m.typ)).collect();
    assert_eq!(
        kinds,
        [
            ("log_key", &CqlType::Text),
            ("seq", &CqlType::BigInt),
            ("[limit]", &CqlType::Int)
        ]
    );
    assert!(
        session
            .execute_unpaged(&read, ("lot", 1_i32, 10_i32))
            .await
            .is_err()
    );

    // Forged rows come back typed.
    fake.respond_once(
        "FROM liveshop.lot_events",
        Reply::Rows(vec![
            row(&[("seq", Val::BigInt(5)), ("payload", Val::blob(b"e5"))]),
            row(&[("seq", Val::BigInt(6)), ("payload", Val::blob(b"e6"))]),
        ]),
    );
    let rows = session
        .execute_unpaged(&read, ("lot", 4_i64, 100_i32))
        .await
        .expect("reads")
        .into_rows_result()
        .expect("rows");
    let rows: Vec<(i64, Vec<u8>)> = rows
        .rows()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows, [(5, b"e5".to_vec()), (6, b"e6".to_vec())]);
    // Default: no rows.
    let empty = session
        .execute_unpaged(&read, ("lot", 6_i64, 100_i32))
        .await
        .expect("reads");
    assert_eq!(empty.into_rows_result().expect("rows").rows_num(), 0);

    // Statements that do not fit the schema do not prepare.
    for (bad, want) in [
        (
            "INSERT INTO liveshop.users (user_id, nickname) VALUES (?, ?)",
            DbError::Invalid,
        ),
        (
            "SELECT seq FROM liveshop.lot_event WHERE log_key = ?",
            DbError::Invalid,
        ),
        (
            "UPDATE liveshop.lot_events SET last_seq = ? WHERE seq = ? IF epoch = ?",
            DbError::Invalid,
        ),
        (
            "SELECT payload FROM liveshop.lot_events WHERE payload = ?",
            DbError::Invalid,
        ),
        (
            "UPDATE liveshop.users SET user_id = ? WHERE user_id = ?",
            DbError::Invalid,
        ),
        ("SELEC seq FROM liveshop.lot_events", DbError::SyntaxError),
    ] {
        let err = session.prepare(bad).await.expect_err(bad);
        assert_eq!(prepare_db_error(&err), Some(&want), "{bad}: {err}");
    }
    let mut rejected: Vec<String> = fake.rejected().into_iter().map(|(text, _)| text).collect();
    rejected.dedup();
    assert_eq!(rejected.len(), 6, "{rejected:?}");
    fake.stop().await;
}

#[tokio::test]
async fn conditional_batch_and_lwt_results_follow_scylla() {
    let fake = FakeScylla::start(SCHEMA).await;
    let session = connect(&fake).await;
    let fence = session
        .prepare("UPDATE liveshop.lot_events SET last_seq = ? WHERE log_key = ? IF epoch = ? AND last_seq = ?")
        .await
        .expect("prepares");
    assert!(fence.is_confirmed_lwt());
    let event = session
        .prepare("INSERT INTO liveshop.lot_events (log_key, seq, payload) VALUES (?, ?, ?)")
        .await
        .expect("prepares");
    assert_eq!(fence.get_variable_pk_indexes()[0].index, 1);

    let mut batch = Batch::new(BatchType::Logged);
    batch.append_statement(fence.clone());
    batch.append_statement(event.clone());
    batch.append_statement(event.clone());
    batch.set_consistency(Consistency::LocalQuorum);
    batch.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    let values = (
        (2_i64, "lot-1", 3_i64, 0_i64),
        ("lot-1", 1_i64, vec![1_u8]),
        ("lot-1", 2_i64, vec![2_u8]),
    );

    // Default: applied; Scylla's columns: [applied], key columns, condition columns.
    let result = session.batch(&batch, &values).await.expect("applies");
    let rows = result.into_rows_result().expect("an LWT answers rows");
    let names: Vec<&str> = rows.column_specs().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["[applied]", "log_key", "seq", "epoch", "last_seq"]);
    assert_eq!(rows.rows_num(), 3);

    // Not applied: the current epoch comes back in every row.
    fake.respond_once(
        "IF epoch",
        Reply::not_applied(row(&[("epoch", Val::BigInt(7))])),
    );
    let result = session.batch(&batch, &values).await.expect("answers");
    let rows = result.into_rows_result().expect("rows");
    type LwtRow = (bool, Option<String>, Option<i64>, Option<i64>, Option<i64>);
    let (applied, _, _, epoch, last): LwtRow = rows.first_row().expect("a row");
    assert_eq!((applied, epoch, last), (false, Some(7), None));

    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    let call = &calls[1];
    assert_eq!(call.kind, CallKind::Batch);
    assert!(call.is_lwt());
    assert_eq!(call.statements.len(), 3);
    assert_eq!(
        call.serial_consistency,
        Some(SerialConsistency::LocalSerial)
    );
    assert_eq!(
        call.statements[2].values,
        [Val::text("lot-1"), Val::BigInt(2), Val::blob(&[2])]
    );
    assert!(call.violations.is_empty(), "{:?}", call.violations);

    // A single LWT: IF NOT EXISTS returns every column of the table.
    let claim = session
        .prepare("INSERT INTO liveshop.usernames (username, user_id) VALUES (?, ?) IF NOT EXISTS")
        .await
        .expect("prepares");
    fake.respond_once(
        "usernames",
        Reply::not_applied(row(&[
            ("username", Val::text("alice")),
            ("user_id", Val::text("u0")),
        ])),
    );
    let rows = session
        .execute_unpaged(&claim, ("alice", "u1"))
        .await
        .expect("answers")
        .into_rows_result()
        .expect("rows");
    let got: (bool, Option<String>, Option<String>) = rows.single_row().expect("one row");
    assert_eq!(got, (false, Some("alice".into()), Some("u0".into())));
    fake.stop().await;
}

#[tokio::test]
async fn forged_write_timeout_and_overloaded_reach_the_driver() {
    let fake = FakeScylla::start(SCHEMA).await;
    let session = connect(&fake).await;
    let fence = session
        .prepare("UPDATE liveshop.lot_events SET last_seq = ? WHERE log_key = ? IF epoch = ?")
        .await
        .expect("prepares");
    let mut batch = Batch::new(BatchType::Logged);
    batch.append_statement(fence);
    batch.set_serial_consistency(Some(SerialConsistency::LocalSerial));

    fake.respond_once("IF epoch", Reply::write_timeout(WriteType::Cas));
    let err = tokio::time::timeout(LIMIT, session.batch(&batch, ((1_i64, "lot", 1_i64),)))
        .await
        .expect("in time")
        .expect_err("times out");
    assert!(
        matches!(
            db_error(&err),
            Some(DbError::WriteTimeout {
                write_type: WriteType::Cas,
                ..
            })
        ),
        "{err}"
    );
    // Not idempotent: the driver does not retry.
    assert_eq!(fake.calls().len(), 1);

    // The control for "sent once": an idempotent batch that times out
    // writing the batch log is retried once by the default retry policy.
    batch.set_is_idempotent(true);
    fake.respond_once("IF epoch", Reply::write_timeout(WriteType::BatchLog));
    tokio::time::timeout(LIMIT, session.batch(&batch, ((1_i64, "lot", 1_i64),)))
        .await
        .expect("in time")
        .expect("the retry applies");
    assert_eq!(fake.calls().len(), 3, "{:?}", fake.calls());

    let read = session
        .prepare("SELECT state FROM liveshop.snapshots WHERE log_key = ? LIMIT 1")
        .await
        .expect("prepares");
    fake.respond("liveshop.snapshots", Reply::overloaded());
    let err = tokio::time::timeout(LIMIT, session.execute_unpaged(&read, ("lot",)))
        .await
        .expect("in time")
        .expect_err("overloaded");
    assert_eq!(db_error(&err), Some(&DbError::Overloaded), "{err}");
    let answers: Vec<String> = fake.calls().into_iter().map(|c| c.answer).collect();
    assert!(
        answers[0].starts_with("error") && answers[1].starts_with("error"),
        "{answers:?}"
    );
    assert_eq!(answers[2], "result", "{answers:?}");
    assert!(answers[3].contains("Overloaded"), "{answers:?}");
    fake.stop().await;
}

#[test]
fn schema_text_is_read_with_keys_and_types() {
    let schema = Schema::parse(SCHEMA);
    let events = schema.table("lot_events").expect("lot_events");
    let kinds: Vec<(&str, ColumnKind)> = events
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("log_key", ColumnKind::PartitionKey(0)),
            ("seq", ColumnKind::Clustering(0)),
            ("epoch", ColumnKind::Static),
            ("last_seq", ColumnKind::Static),
            ("payload", ColumnKind::Regular),
        ]
    );
    let idem = schema.table("order_idem").expect("order_idem");
    assert_eq!(idem.partition_key().count(), 2);
    // The store's real schema text reads too.
    let real = Schema::parse(include_str!("../../../config/schema.cql"));
    assert!(!real.tables.is_empty());
}

#[test]
fn value_checks_reject_bad_encodings() {
    assert!(cql_wire::decode(&CqlType::BigInt, &[0, 0, 0, 1]).is_err());
    assert!(cql_wire::decode(&CqlType::Int, &[0; 8]).is_err());
    assert!(cql_wire::decode(&CqlType::Boolean, &[]).is_err());
    assert!(cql_wire::decode(&CqlType::Text, &[0xff, 0xfe]).is_err());
    assert!(cql_wire::decode(&CqlType::TimeUuid, &[0; 16]).is_err());
    assert_eq!(
        cql_wire::decode(&CqlType::Blob, &[]).ok(),
        Some(Val::Blob(vec![]))
    );
    assert_eq!(
        cql_wire::decode(&CqlType::BigInt, &7_i64.to_be_bytes()).ok(),
        Some(Val::BigInt(7))
    );
}
