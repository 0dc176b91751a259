//! Statement analysis for the forged ScyllaDB node: parses the CQL forms a
//! store prepares (SELECT, INSERT, UPDATE, DELETE with their IF / USING /
//! LIMIT clauses) and checks them against a [`Schema`], the way ScyllaDB's
//! PREPARE does, to produce the bind markers (with the real column types), the
//! partition-key bind indexes and the result columns of the PREPARED answer.

use std::collections::HashMap;

pub use super::cql_lex::{Cursor, Tok, tokenize};
use super::cql_schema::{ColumnKind, CqlType, Schema, Table};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Select,
    Insert,
    Update,
    Delete,
    /// A read of a `system*` keyspace (the driver's own metadata queries).
    System,
    Use(String),
    /// CREATE / ALTER / DROP / TRUNCATE: answered Void, not checked.
    Ddl,
}

/// One bind marker, in statement order.
#[derive(Debug, Clone)]
pub struct Marker {
    /// The column name ScyllaDB gives the marker (`[limit]`, `[ttl]`,
    /// `[timestamp]` for the clauses).
    pub name: String,
    pub typ: CqlType,
    /// Bound to a primary-key column or LIMIT: null / unset is rejected.
    pub not_null: bool,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub text: String,
    pub kind: Kind,
    pub keyspace: String,
    pub table: String,
    pub markers: Vec<Marker>,
    /// For each partition-key column (in key order), the index of the marker
    /// that binds it; empty when some part is not bound by a marker.
    pub pk_indexes: Vec<u16>,
    /// The result columns: the selection of a SELECT, `[applied]` followed by
    /// `cas_cols` for a conditional write, nothing for a plain write.
    pub result_cols: Vec<(String, CqlType)>,
    /// A conditional statement (IF ...), i.e. an LWT.
    pub lwt: bool,
    /// The columns ScyllaDB returns next to `[applied]` (all columns for IF
    /// [NOT] EXISTS, else the condition's columns), in the table's order.
    pub cas_cols: Vec<String>,
}

/// Why a statement does not prepare: ScyllaDB answers SyntaxError or Invalid.
#[derive(Debug, Clone)]
pub enum Reject {
    Syntax(String),
    Invalid(String),
}

pub fn analyze(text: &str, schema: &Schema, default_ks: &str) -> Result<Stmt, Reject> {
    let toks = tokenize(text).map_err(Reject::Syntax)?;
    let mut p = Parser {
        c: Cursor::new(&toks),
        schema,
        table: None,
        system: false,
        allow_filtering: false,
        stmt: Stmt {
            text: text.to_owned(),
            kind: Kind::Ddl,
            keyspace: default_ks.to_owned(),
            table: String::new(),
            markers: Vec::new(),
            pk_indexes: Vec::new(),
            result_cols: Vec::new(),
            lwt: false,
            cas_cols: Vec::new(),
        },
        eq_markers: HashMap::new(),
        restricted: Vec::new(),
    };
    let first = match p.c.peek() {
        Some(Tok::Ident(w)) => w.clone(),
        other => return Err(Reject::Syntax(format!("unexpected {other:?}"))),
    };
    match first.as_str() {
        "select" => p.select()?,
        "insert" => p.insert()?,
        "update" => p.update()?,
        "delete" => p.delete()?,
        "use" => {
            p.c.pos += 1;
            p.stmt.kind = Kind::Use(p.c.ident().map_err(Reject::Syntax)?);
        }
        "create" | "alter" | "drop" | "truncate" => return Ok(p.stmt),
        other => {
            return Err(Reject::Syntax(format!(
                "the fake node does not run {other}"
            )));
        }
    }
    if !p.c.at_end() {
        return Err(Reject::Syntax(format!("unexpected {:?}", p.c.peek())));
    }
    if let Some(t) = p.table {
        let idx: Option<Vec<u16>> = t
            .partition_key()
            .map(|c| p.eq_markers.get(&c.name).map(|&i| i as u16))
            .collect();
        p.stmt.pk_indexes = idx.unwrap_or_default();
    }
    Ok(p.stmt)
}

/// The type of a column of the `system*` tables the driver reads.
fn system_col(col: &str) -> CqlType {
    match col {
        "host_id" | "schema_version" => CqlType::Uuid,
        "rpc_address" | "peer" | "broadcast_address" | "listen_address" | "preferred_ip" => {
            CqlType::Inet
        }
        "tokens" => CqlType::Set(Box::new(CqlType::Text)),
        "replication" => CqlType::Map(Box::new(CqlType::Text), Box::new(CqlType::Text)),
        "durable_writes" => CqlType::Boolean,
        "position" | "port" | "tls_port" | "initial_tablets" => CqlType::Int,
        _ => CqlType::Text,
    }
}

pub(super) struct Parser<'a> {
    pub(super) c: Cursor<'a>,
    pub(super) schema: &'a Schema,
    pub(super) table: Option<&'a Table>,
    pub(super) system: bool,
    pub(super) allow_filtering: bool,
    pub(super) stmt: Stmt,
    /// Columns bound with `= marker` (for the partition-key indexes).
    pub(super) eq_markers: HashMap<String, usize>,
    /// WHERE restrictions: (column, operator).
    pub(super) restricted: Vec<(String, String)>,
}

pub(super) fn syn<T>(r: Result<T, String>) -> Result<T, Reject> {
    r.map_err(Reject::Syntax)
}

impl<'a> Parser<'a> {
    pub(super) fn table(&mut self) -> Result<(), Reject> {
        let mut name = syn(self.c.ident())?;
        if self.c.eat_sym(".") {
            self.stmt.keyspace = name;
            name = syn(self.c.ident())?;
        }
        self.stmt.table = name.clone();
        if self.stmt.keyspace.starts_with("system") {
            self.system = true;
            self.stmt.kind = Kind::System;
            return Ok(());
        }
        self.table = Some(
            self.schema
                .table(&name)
                .ok_or_else(|| Reject::Invalid(format!("unconfigured table {name}")))?,
        );
        Ok(())
    }

    pub(super) fn col_type(&self, col: &str) -> Result<(CqlType, Option<ColumnKind>), Reject> {
        if self.system {
            return Ok((system_col(col), None));
        }
        let t = self.table.expect("table parsed first");
        let c = t.column(col).ok_or_else(|| {
            Reject::Invalid(format!("Undefined column name {col} in table {}", t.name))
        })?;
        Ok((c.typ.clone(), Some(c.kind)))
    }

    pub(super) fn is_key(kind: Option<ColumnKind>) -> bool {
        matches!(
            kind,
            Some(ColumnKind::PartitionKey(_) | ColumnKind::Clustering(_))
        )
    }

    /// A value: a marker (recorded with `name`/`typ`), a literal, a collection
    /// literal or a function call. Returns the marker index if it was a marker.
    pub(super) fn value(
        &mut self,
        name: &str,
        typ: CqlType,
        not_null: bool,
    ) -> Result<Option<usize>, Reject> {
        match self.c.peek() {
            Some(Tok::Marker(named)) => {
                let name = named.clone().unwrap_or_else(|| name.to_owned());
                self.c.pos += 1;
                self.stmt.markers.push(Marker {
                    name,
                    typ,
                    not_null,
                });
                Ok(Some(self.stmt.markers.len() - 1))
            }
            Some(Tok::Str(_) | Tok::Num(_)) => {
                self.c.pos += 1;
                Ok(None)
            }
            Some(Tok::Sym(s)) if s == "-" => {
                self.c.pos += 2;
                Ok(None)
            }
            Some(Tok::Sym(s)) if s == "(" || s == "{" || s == "[" => {
                syn(self.c.skip_group())?;
                Ok(None)
            }
            Some(Tok::Ident(_)) => {
                self.c.pos += 1;
                if self.c.is_sym("(") {
                    syn(self.c.skip_group())?;
                }
                Ok(None)
            }
            other => Err(Reject::Syntax(format!("expected a value, found {other:?}"))),
        }
    }

    /// `USING TTL v | TIMESTAMP v | TIMEOUT v [AND ...]`
    pub(super) fn using(&mut self) -> Result<(), Reject> {
        if !self.c.eat_kw("using") {
            return Ok(());
        }
        loop {
            let what = syn(self.c.ident())?;
            match what.as_str() {
                "ttl" => self.value("[ttl]", CqlType::Int, false)?,
                "timestamp" => self.value("[timestamp]", CqlType::BigInt, false)?,
                "timeout" => self.value("[timeout]", CqlType::Text, false)?,
                other => return Err(Reject::Syntax(format!("unknown USING option {other}"))),
            };
            if !self.c.eat_kw("and") {
                return Ok(());
            }
        }
    }

    pub(super) fn operator(&mut self) -> Result<String, Reject> {
        for op in ["=", "<", ">", "<=", ">=", "!="] {
            if self.c.eat_sym(op) {
                return Ok(op.to_owned());
            }
        }
        if self.c.eat_kw("in") {
            return Ok("in".to_owned());
        }
        Err(Reject::Syntax(format!(
            "expected an operator, found {:?}",
            self.c.peek()
        )))
    }

    /// `col op value`; returns (column, operator, kind).
    pub(super) fn relation(
        &mut self,
        not_null_keys: bool,
    ) -> Result<(String, String, Option<ColumnKind>), Reject> {
        let col = syn(self.c.ident())?;
        let op = self.operator()?;
        let (typ, kind) = self.col_type(&col)?;
        let typ = if op == "in" {
            CqlType::List(Box::new(typ))
        } else {
            typ
        };
        let marker = self.value(&col, typ, not_null_keys && Self::is_key(kind))?;
        if let (Some(i), "=") = (marker, op.as_str()) {
            self.eq_markers.insert(col.clone(), i);
        }
        Ok((col, op, kind))
    }

    pub(super) fn where_clause(&mut self) -> Result<(), Reject> {
        if !self.c.eat_kw("where") {
            return Ok(());
        }
        loop {
            let (col, op, kind) = self.relation(true)?;
            if !self.system
                && !Self::is_key(kind)
                && !self.allow_filtering
                && self.stmt.kind != Kind::Select
            {
                return Err(Reject::Invalid(format!(
                    "Non PRIMARY KEY columns found in where clause: {col}"
                )));
            }
            self.restricted.push((col, op));
            if !self.c.eat_kw("and") {
                return Ok(());
            }
        }
    }

    /// Checks the WHERE restrictions of a write (or a read): the whole
    /// partition key by equality, and the clustering key if `full_ck`.
    pub(super) fn check_keys(&self, full_ck: bool) -> Result<(), Reject> {
        let Some(t) = self.table else { return Ok(()) };
        let eq = |name: &str| {
            self.restricted
                .iter()
                .any(|(c, op)| c == name && (op == "=" || op == "in"))
        };
        for c in t.partition_key() {
            if !eq(&c.name) {
                return Err(Reject::Invalid(format!(
                    "Missing mandatory PRIMARY KEY part {}",
                    c.name
                )));
            }
        }
        if full_ck {
            for c in t.clustering_key() {
                if !eq(&c.name) {
                    return Err(Reject::Invalid(format!(
                        "Missing mandatory PRIMARY KEY part {}",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// `IF EXISTS | IF NOT EXISTS | IF cond [AND cond ...]`
    pub(super) fn conditions(&mut self) -> Result<(), Reject> {
        if !self.c.eat_kw("if") {
            return Ok(());
        }
        self.stmt.lwt = true;
        let t = self.table.expect("table parsed first");
        if self.c.eat_kw("exists") || (self.c.eat_kw("not") && self.c.eat_kw("exists")) {
            self.stmt.cas_cols = t.columns.iter().map(|c| c.name.clone()).collect();
        } else {
            let mut cols = Vec::new();
            loop {
                let (col, _op, kind) = self.relation(false)?;
                if Self::is_key(kind) {
                    return Err(Reject::Invalid(format!(
                        "PRIMARY KEY column '{col}' cannot have IF conditions"
                    )));
                }
                cols.push(col);
                if !self.c.eat_kw("and") {
                    break;
                }
            }
            self.stmt.cas_cols = t
                .columns
                .iter()
                .filter(|c| cols.contains(&c.name))
                .map(|c| c.name.clone())
                .collect();
        }
        let mut result = vec![("[applied]".to_owned(), CqlType::Boolean)];
        for col in &self.stmt.cas_cols {
            result.push((col.clone(), self.col_type(col)?.0));
        }
        self.stmt.result_cols = result;
        Ok(())
    }
}
