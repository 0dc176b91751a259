//! EXECUTE / QUERY / BATCH handling of the forged ScyllaDB node: binds the
//! values against the prepared statements, records the call and renders the
//! chosen [`Reply`].

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use scylla_cql::frame::protocol_features::ProtocolFeatures;
use scylla_cql::frame::request::RequestV2;
use scylla_cql::frame::request::batch::BatchStatement;
use scylla_cql::frame::types::{self, RawValue};
use scylla_proxy::{RequestFrame, RequestOpcode, ResponseFrame, ResponseOpcode};

use super::cql_schema::{ColumnKind, CqlType};
use super::cql_stmt::{Kind, Reject, Stmt, analyze};
use super::cql_wire::{self, Val};
use super::fake_scylla::{BoundStatement, Call, CallKind, DbError, Reply, State, lock, supported};

type Answer = Result<Vec<u8>, (DbError, String)>;

fn lookup(st: &State, id: &[u8]) -> Result<Stmt, (DbError, String)> {
    st.statements.get(id).cloned().ok_or_else(|| {
        (
            DbError::Unprepared {
                statement_id: id.to_vec().into(),
            },
            "unknown prepared statement".to_owned(),
        )
    })
}

fn analyze_text(st: &State, text: &str) -> Result<Stmt, (DbError, String)> {
    analyze(text, &st.schema, &st.keyspace).map_err(|r| match r {
        Reject::Syntax(m) => (DbError::SyntaxError, m),
        Reject::Invalid(m) => (DbError::Invalid, m),
    })
}

pub(super) fn execute_request(st: &mut State, req: RequestV2<'_>) -> Answer {
    let (kind, consistency, serial_consistency, items) = match req {
        RequestV2::Execute(e) => {
            let stmt = lookup(st, e.id.as_ref())?;
            let values: Vec<RawValue<'_>> = e.parameters.values.iter().collect();
            let items = vec![(stmt, raw_owned(&values))];
            (
                CallKind::Execute,
                e.parameters.consistency,
                e.parameters.serial_consistency,
                items,
            )
        }
        RequestV2::Query(q) => {
            let stmt = analyze_text(st, &q.contents)?;
            let values: Vec<RawValue<'_>> = q.parameters.values.iter().collect();
            let items = vec![(stmt, raw_owned(&values))];
            (
                CallKind::Query,
                q.parameters.consistency,
                q.parameters.serial_consistency,
                items,
            )
        }
        RequestV2::Batch(b) => {
            let mut items = Vec::new();
            for (s, values) in b.statements.iter().zip(b.values.iter()) {
                let stmt = match s {
                    BatchStatement::Prepared { id } => lookup(st, id.as_ref())?,
                    BatchStatement::Query { text } => analyze_text(st, text)?,
                };
                let values: Vec<RawValue<'_>> = values.iter().collect();
                items.push((stmt, raw_owned(&values)));
            }
            (CallKind::Batch, b.consistency, b.serial_consistency, items)
        }
        _ => return Err((DbError::ProtocolError, "unsupported request".into())),
    };

    if let ([(stmt, _)], false) = (&items[..], kind == CallKind::Batch) {
        match &stmt.kind {
            Kind::System => {
                push_system(st, &stmt.text);
                let rows = system_rows(st, stmt);
                return cql_wire::result_rows(
                    &stmt.keyspace,
                    &stmt.table,
                    &stmt.result_cols,
                    &rows,
                )
                .map_err(|e| (DbError::ServerError, e));
            }
            Kind::Use(ks) => {
                push_system(st, &stmt.text);
                st.keyspace = ks.clone();
                return Ok(cql_wire::result_set_keyspace(ks));
            }
            Kind::Ddl => {
                push_system(st, &stmt.text);
                return Ok(cql_wire::result_void());
            }
            _ => {}
        }
    }

    let mut violations = Vec::new();
    let mut statements = Vec::new();
    for (stmt, raws) in &items {
        if raws.len() != stmt.markers.len() {
            violations.push(format!(
                "{:?}: bound {} values, prepared with {} markers",
                stmt.text,
                raws.len(),
                stmt.markers.len()
            ));
        }
        let values = raws
            .iter()
            .zip(&stmt.markers)
            .map(|(raw, marker)| {
                let raw = match raw {
                    None => RawValue::Null,
                    Some(None) => RawValue::Unset,
                    Some(Some(b)) => RawValue::Value(b),
                };
                cql_wire::decode_bound(marker, raw).unwrap_or_else(|e| {
                    violations.push(format!("{:?}: {e}", stmt.text));
                    Val::Raw(Vec::new())
                })
            })
            .collect();
        statements.push(BoundStatement {
            text: stmt.text.clone(),
            values,
            markers: stmt.markers.len(),
            lwt: stmt.lwt,
        });
    }
    let call = Call {
        kind,
        statements,
        consistency,
        serial_consistency,
        violations: violations.clone(),
        answer: String::new(),
    };
    let (reply, idx) = record_and_pick(st, call);
    let stmts: Vec<Stmt> = items.into_iter().map(|(s, _)| s).collect();
    let answer = if violations.is_empty() {
        render(st, reply, &stmts, kind == CallKind::Batch)
    } else {
        Err((DbError::Invalid, violations.join("; ")))
    };
    let described = match &answer {
        Ok(_) => "result".to_owned(),
        Err((e, m)) => format!("error {e:?}: {m}"),
    };
    set_answer(st, idx, described);
    answer
}

/// Raw values in an owned form: None = null, Some(None) = unset.
fn raw_owned(values: &[RawValue<'_>]) -> Vec<Option<Option<Vec<u8>>>> {
    values
        .iter()
        .map(|v| match v {
            RawValue::Null => None,
            RawValue::Unset => Some(None),
            RawValue::Value(b) => Some(Some(b.to_vec())),
        })
        .collect()
}

fn by_name(
    cols: &[(String, CqlType)],
    row: &[(String, Val)],
    fixed: Option<(&str, Val)>,
) -> Result<Vec<Val>, String> {
    if let Some((name, _)) = row.iter().find(|(n, _)| !cols.iter().any(|(c, _)| c == n)) {
        let names: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
        return Err(format!(
            "the forged row names {name}, not a result column of {names:?}"
        ));
    }
    Ok(cols
        .iter()
        .map(|(c, _)| match fixed {
            Some((f, ref v)) if f == c => v.clone(),
            _ => row
                .iter()
                .find(|(n, _)| n == c)
                .map_or(Val::Null, |(_, v)| v.clone()),
        })
        .collect())
}

fn render(st: &State, reply: Reply, stmts: &[Stmt], batch: bool) -> Answer {
    let lwt = stmts.iter().any(|s| s.lwt);
    let reply = match reply {
        Reply::Default if lwt => Reply::Lwt {
            applied: true,
            rows: Vec::new(),
        },
        Reply::Default if !batch && stmts[0].kind == Kind::Select => Reply::Rows(Vec::new()),
        Reply::Default => Reply::Void,
        other => other,
    };
    let server = |m: String| (DbError::ServerError, m);
    let first = &stmts[0];
    match reply {
        Reply::Default | Reply::Void => Ok(cql_wire::result_void()),
        Reply::Error { error, message } => Err((error, message)),
        Reply::Table { columns, rows } => {
            cql_wire::result_rows(&first.keyspace, &first.table, &columns, &rows).map_err(server)
        }
        Reply::Rows(rows) => {
            if batch || first.kind != Kind::Select {
                return Err(server(format!(
                    "forged Rows for a call that is not a SELECT: {:?}",
                    first.text
                )));
            }
            let rows = rows
                .iter()
                .map(|r| by_name(&first.result_cols, r, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(server)?;
            cql_wire::result_rows(&first.keyspace, &first.table, &first.result_cols, &rows)
                .map_err(server)
        }
        Reply::Lwt { applied, rows } => {
            if !lwt {
                return Err(server(format!(
                    "forged an LWT result for a call without IF: {:?}",
                    first.text
                )));
            }
            let cols = lwt_columns(st, stmts, batch);
            let n = if batch { stmts.len() } else { 1 };
            let rows: Vec<Vec<(String, Val)>> = match rows.len() {
                0 => vec![Vec::new(); n],
                1 => vec![rows[0].clone(); n],
                _ => rows,
            };
            let rows = rows
                .iter()
                .map(|r| by_name(&cols, r, Some(("[applied]", Val::Bool(applied)))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(server)?;
            cql_wire::result_rows(&first.keyspace, &first.table, &cols, &rows).map_err(server)
        }
    }
}

fn statement_id(text: &str) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    for salt in 0u8..2 {
        let mut h = DefaultHasher::new();
        (salt, text).hash(&mut h);
        id.extend_from_slice(&h.finish().to_be_bytes());
    }
    id
}

pub(super) fn handle(state: &Mutex<State>, frame: RequestFrame) -> ResponseFrame {
    let mut params = frame.params.for_response();
    params.flags = 0;
    let result = |body: Vec<u8>| ResponseFrame::new(params, ResponseOpcode::Result, body.into());
    let error = |e: DbError, msg: &str| {
        ResponseFrame::forged_error(params, e, Some(msg)).expect("error frame")
    };
    let mut st = lock(state);
    match frame.opcode {
        RequestOpcode::Options => {
            ResponseFrame::forged_supported(params, &supported()).expect("supported")
        }
        RequestOpcode::Startup | RequestOpcode::Register => ResponseFrame::forged_ready(params),
        RequestOpcode::Prepare => {
            let text = match types::read_long_string(&mut &frame.body[..]) {
                Ok(t) => t.to_owned(),
                Err(e) => return error(DbError::ProtocolError, &e.to_string()),
            };
            match analyze(&text, &st.schema, &st.keyspace) {
                Ok(stmt) => {
                    let id = statement_id(&text);
                    if stmt.kind == Kind::System {
                        st.system.push(text);
                    } else {
                        st.prepared.push(text);
                    }
                    let body = cql_wire::result_prepared(
                        &id,
                        &stmt.keyspace,
                        &stmt.table,
                        &stmt.markers,
                        &stmt.pk_indexes,
                        stmt.lwt,
                        &stmt.result_cols,
                    );
                    st.statements.insert(id, stmt);
                    result(body)
                }
                Err(reject) => {
                    let (e, msg) = match reject {
                        Reject::Syntax(m) => (DbError::SyntaxError, m),
                        Reject::Invalid(m) => (DbError::Invalid, m),
                    };
                    st.prepared.push(text.clone());
                    st.rejected.push((text, msg.clone()));
                    error(e, &msg)
                }
            }
        }
        RequestOpcode::Execute | RequestOpcode::Query | RequestOpcode::Batch => {
            let features = ProtocolFeatures::parse_from_supported(&supported());
            match frame.deserialize(&features) {
                Ok(req) => match execute_request(&mut st, req) {
                    Ok(body) => result(body),
                    Err((e, msg)) => error(e, &msg),
                },
                Err(e) => error(DbError::ProtocolError, &format!("undecodable request: {e}")),
            }
        }
        RequestOpcode::AuthResponse => error(DbError::ProtocolError, "no authentication here"),
    }
}

pub(super) fn record_and_pick(st: &mut State, call: Call) -> (Reply, usize) {
    let pos = st
        .rules
        .iter()
        .rposition(|r| call.statements.iter().any(|s| s.text.contains(&r.matching)));
    let reply = match pos {
        Some(i) if st.rules[i].once => st.rules.remove(i).reply,
        Some(i) => st.rules[i].reply.clone(),
        None => Reply::Default,
    };
    st.calls.push(call);
    (reply, st.calls.len() - 1)
}

pub(super) fn set_answer(st: &mut State, idx: usize, answer: String) {
    st.calls[idx].answer = answer;
}

pub(super) fn push_system(st: &mut State, text: &str) {
    st.system.push(text.to_owned());
}

/// The one row of `system.local` (for the selected columns), or no rows for
/// any other system table.
pub(super) fn system_rows(st: &State, stmt: &Stmt) -> Vec<Vec<Val>> {
    if stmt.table != "local" {
        return Vec::new();
    }
    let row = stmt
        .result_cols
        .iter()
        .map(|(name, typ)| match (name.as_str(), typ) {
            ("key", _) => Val::text("local"),
            ("host_id", _) => Val::Uuid(*b"fake-scylla-host"),
            ("schema_version", _) => Val::Uuid(*b"fake-schema-vers"),
            (_, CqlType::Inet) => Val::Inet(st.addr.ip()),
            ("data_center", _) => Val::text("datacenter1"),
            ("rack", _) => Val::text("rack1"),
            ("tokens", _) => Val::List(vec![Val::text("0")]),
            ("cluster_name", _) => Val::text("fake-scylla"),
            ("partitioner", _) => Val::text("org.apache.cassandra.dht.Murmur3Partitioner"),
            ("release_version", _) => Val::text("3.0.8"),
            ("cql_version", _) => Val::text("3.3.1"),
            _ => Val::Null,
        })
        .collect();
    vec![row]
}

/// The result columns of an LWT call: the statement's own for a single
/// statement; for a batch `[applied]`, the key columns and the union of the
/// statements' condition columns, in the table's order.
pub(super) fn lwt_columns(st: &State, stmts: &[Stmt], batch: bool) -> Vec<(String, CqlType)> {
    if let ([one], false) = (stmts, batch) {
        return one.result_cols.clone();
    }
    let mut cols = vec![("[applied]".to_owned(), CqlType::Boolean)];
    if let Some(table) = stmts.first().and_then(|s| st.schema.table(&s.table)) {
        for c in &table.columns {
            let key = matches!(
                c.kind,
                ColumnKind::PartitionKey(_) | ColumnKind::Clustering(_)
            );
            if key || stmts.iter().any(|s| s.cas_cols.contains(&c.name)) {
                cols.push((c.name.clone(), c.typ.clone()));
            }
        }
    }
    cols
}
