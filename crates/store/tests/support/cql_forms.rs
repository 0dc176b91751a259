//! The statement forms of [`super::cql_stmt`]'s parser: SELECT, INSERT,
//! UPDATE and DELETE, each checked against the schema as ScyllaDB's PREPARE
//! checks them (unknown tables and columns, key restrictions, conditions).

use super::cql_lex::Tok;
use super::cql_schema::{ColumnKind, CqlType};
use super::cql_stmt::{Kind, Parser, Reject, syn};

impl Parser<'_> {
    pub(super) fn select(&mut self) -> Result<(), Reject> {
        self.stmt.kind = Kind::Select;
        syn(self.c.kw("select"))?;
        self.c.eat_kw("distinct");
        // The selection is checked once the table is known.
        let mut items: Vec<(String, Option<String>, Option<String>)> = Vec::new(); // (col, func, alias)
        if self.c.eat_sym("*") {
            items.push(("*".into(), None, None));
        } else {
            loop {
                let name = syn(self.c.ident())?;
                let item: (String, Option<String>) = if self.c.eat_sym("(") {
                    let arg = if self.c.eat_sym("*") {
                        "*".to_owned()
                    } else {
                        self.c
                            .ident()
                            .or_else(|_| match self.c.peek() {
                                Some(Tok::Num(n)) => {
                                    let n = n.clone();
                                    self.c.pos += 1;
                                    Ok(n)
                                }
                                other => Err(format!("bad argument {other:?}")),
                            })
                            .map_err(Reject::Syntax)?
                    };
                    syn(self.c.sym(")"))?;
                    (arg, Some(name))
                } else {
                    (name, None)
                };
                let alias = if self.c.eat_kw("as") {
                    Some(syn(self.c.ident())?)
                } else {
                    None
                };
                items.push((item.0, item.1, alias));
                if !self.c.eat_sym(",") {
                    break;
                }
            }
        }
        syn(self.c.kw("from"))?;
        self.table()?;
        for (col, func, alias) in items {
            let (name, typ) = match (func.as_deref(), col.as_str()) {
                (None, "*") => {
                    let t = self
                        .table
                        .ok_or_else(|| Reject::Syntax("SELECT * on a system table".into()))?;
                    for c in &t.columns {
                        self.stmt.result_cols.push((c.name.clone(), c.typ.clone()));
                    }
                    continue;
                }
                (None, _) => (col.clone(), self.col_type(&col)?.0),
                (Some("count"), _) => ("count".to_owned(), CqlType::BigInt),
                (Some(f @ "writetime"), _) => (format!("{f}({col})"), {
                    self.col_type(&col)?;
                    CqlType::BigInt
                }),
                (Some(f @ "ttl"), _) => (format!("{f}({col})"), {
                    self.col_type(&col)?;
                    CqlType::Int
                }),
                (Some(f), _) => return Err(Reject::Invalid(format!("Unknown function {f}"))),
            };
            self.stmt.result_cols.push((alias.unwrap_or(name), typ));
        }
        // ALLOW FILTERING comes last, but decides what WHERE may restrict.
        self.allow_filtering = self
            .c
            .toks
            .windows(2)
            .any(|w| w == [Tok::Ident("allow".into()), Tok::Ident("filtering".into())]);
        self.where_clause()?;
        if let Some(t) = self.table {
            for (col, op) in &self.restricted {
                let kind = t.column(col).map(|c| c.kind);
                match kind {
                    Some(ColumnKind::PartitionKey(_)) if op != "=" && op != "in" => {
                        return Err(Reject::Invalid(format!(
                            "Only EQ and IN relation are supported on the partition key (unless you use the token() function): {col}"
                        )));
                    }
                    Some(ColumnKind::Static | ColumnKind::Regular) if !self.allow_filtering => {
                        return Err(Reject::Invalid(format!(
                            "Cannot execute this query as it might involve data filtering (restriction on {col}); use ALLOW FILTERING"
                        )));
                    }
                    _ => {}
                }
            }
            let any_pk = self.restricted.iter().any(|(c, _)| {
                matches!(
                    t.column(c).map(|c| c.kind),
                    Some(ColumnKind::PartitionKey(_))
                )
            });
            if any_pk && !self.allow_filtering {
                self.check_keys(false)?;
            }
        }
        if self.c.eat_kw("order") {
            syn(self.c.kw("by"))?;
            loop {
                let col = syn(self.c.ident())?;
                if !matches!(self.col_type(&col)?.1, Some(ColumnKind::Clustering(_))) {
                    return Err(Reject::Invalid(format!(
                        "Order by is currently only supported on the clustered columns of the PRIMARY KEY, got {col}"
                    )));
                }
                let _ = self.c.eat_kw("asc") || self.c.eat_kw("desc");
                if !self.c.eat_sym(",") {
                    break;
                }
            }
        }
        if self.c.eat_kw("per") {
            syn(self.c.kw("partition").and_then(|_| self.c.kw("limit")))?;
            self.value("[per_partition_limit]", CqlType::Int, true)?;
        }
        if self.c.eat_kw("limit") {
            self.value("[limit]", CqlType::Int, true)?;
        }
        if self.c.eat_kw("allow") {
            syn(self.c.kw("filtering"))?;
        }
        if self.c.eat_kw("bypass") {
            syn(self.c.kw("cache"))?;
        }
        self.using()
    }

    pub(super) fn insert(&mut self) -> Result<(), Reject> {
        self.stmt.kind = Kind::Insert;
        syn(self.c.kw("insert").and_then(|_| self.c.kw("into")))?;
        self.table()?;
        syn(self.c.sym("("))?;
        let mut cols = Vec::new();
        loop {
            cols.push(syn(self.c.ident())?);
            if !self.c.eat_sym(",") {
                break;
            }
        }
        syn(self
            .c
            .sym(")")
            .and_then(|_| self.c.kw("values"))
            .and_then(|_| self.c.sym("(")))?;
        let mut only_static = true;
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                syn(self.c.sym(","))?;
            }
            let (typ, kind) = self.col_type(col)?;
            only_static &= !matches!(kind, Some(ColumnKind::Regular));
            if let Some(m) = self.value(col, typ, Self::is_key(kind))? {
                self.eq_markers.insert(col.clone(), m);
            }
            self.restricted.push((col.clone(), "=".into()));
        }
        if !self.c.eat_sym(")") {
            return Err(Reject::Invalid("Unmatched column names/values".into()));
        }
        self.check_keys(!only_static)?;
        self.using()?;
        if self.c.is_kw("if") {
            syn(self
                .c
                .kw("if")
                .and_then(|_| self.c.kw("not"))
                .and_then(|_| self.c.kw("exists")))?;
            self.c.pos -= 3;
            self.conditions()?;
        }
        self.using()
    }

    pub(super) fn update(&mut self) -> Result<(), Reject> {
        self.stmt.kind = Kind::Update;
        syn(self.c.kw("update"))?;
        self.table()?;
        self.using()?;
        syn(self.c.kw("set"))?;
        let mut only_static = true;
        loop {
            let col = syn(self.c.ident())?;
            let (typ, kind) = self.col_type(&col)?;
            if Self::is_key(kind) {
                return Err(Reject::Invalid(format!(
                    "PRIMARY KEY part {col} found in SET part"
                )));
            }
            only_static &= kind == Some(ColumnKind::Static);
            syn(self.c.sym("="))?;
            // `c = c + v` / `c = v + c` (counters, collections)
            if self.c.peek() == Some(&Tok::Ident(col.clone())) {
                self.c.pos += 1;
                let _ = self.c.eat_sym("+") || self.c.eat_sym("-");
            }
            self.value(&col, typ, false)?;
            if self.c.eat_sym("+") {
                syn(self.c.ident())?;
            }
            if !self.c.eat_sym(",") {
                break;
            }
        }
        self.where_clause()?;
        self.check_keys(!only_static)?;
        self.conditions()
    }

    pub(super) fn delete(&mut self) -> Result<(), Reject> {
        self.stmt.kind = Kind::Delete;
        syn(self.c.kw("delete"))?;
        let mut cols = Vec::new();
        while !self.c.is_kw("from") {
            cols.push(syn(self.c.ident())?);
            if !self.c.eat_sym(",") {
                break;
            }
        }
        syn(self.c.kw("from"))?;
        self.table()?;
        let mut only_static = !cols.is_empty();
        for col in &cols {
            only_static &= self.col_type(col)?.1 == Some(ColumnKind::Static);
        }
        self.using()?;
        self.where_clause()?;
        self.conditions()?;
        let regular_conditions = self.stmt.cas_cols.iter().any(|c| {
            self.table.and_then(|t| t.column(c)).map(|c| c.kind) == Some(ColumnKind::Regular)
        });
        self.check_keys(!only_static && (!cols.is_empty() || regular_conditions))
    }
}
