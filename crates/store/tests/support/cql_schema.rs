//! A small reader of CQL schema text (`CREATE TABLE` statements): the tables,
//! their columns with CQL types, partition key, clustering key and statics.
//! Enough for the forged ScyllaDB node to check statements against a schema.

use std::collections::HashMap;

use super::cql_lex::{Tok, tokenize};

/// The CQL types the fake node knows (the ones a store schema uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlType {
    Ascii,
    BigInt,
    Blob,
    Boolean,
    Counter,
    Double,
    Float,
    Int,
    SmallInt,
    TinyInt,
    Timestamp,
    Date,
    Uuid,
    TimeUuid,
    Text,
    Inet,
    List(Box<CqlType>),
    Set(Box<CqlType>),
    Map(Box<CqlType>, Box<CqlType>),
}

impl CqlType {
    /// Parses a type name as written in CQL (`text`, `bigint`, `set<text>`, `frozen<...>`).
    pub fn parse(toks: &[Tok], pos: &mut usize) -> Result<CqlType, String> {
        let name = match toks.get(*pos) {
            Some(Tok::Ident(n)) => n.clone(),
            other => return Err(format!("expected a type, found {other:?}")),
        };
        *pos += 1;
        let simple = match name.as_str() {
            "ascii" => Some(CqlType::Ascii),
            "bigint" => Some(CqlType::BigInt),
            "blob" => Some(CqlType::Blob),
            "boolean" => Some(CqlType::Boolean),
            "counter" => Some(CqlType::Counter),
            "double" => Some(CqlType::Double),
            "float" => Some(CqlType::Float),
            "int" => Some(CqlType::Int),
            "smallint" => Some(CqlType::SmallInt),
            "tinyint" => Some(CqlType::TinyInt),
            "timestamp" => Some(CqlType::Timestamp),
            "date" => Some(CqlType::Date),
            "uuid" => Some(CqlType::Uuid),
            "timeuuid" => Some(CqlType::TimeUuid),
            "text" | "varchar" => Some(CqlType::Text),
            "inet" => Some(CqlType::Inet),
            _ => None,
        };
        if let Some(t) = simple {
            return Ok(t);
        }
        expect_sym(toks, pos, "<")?;
        let inner = CqlType::parse(toks, pos)?;
        let t = match name.as_str() {
            "frozen" => inner,
            "list" => CqlType::List(Box::new(inner)),
            "set" => CqlType::Set(Box::new(inner)),
            "map" => {
                expect_sym(toks, pos, ",")?;
                CqlType::Map(Box::new(inner), Box::new(CqlType::parse(toks, pos)?))
            }
            other => return Err(format!("unknown CQL type {other}")),
        };
        expect_sym(toks, pos, ">")?;
        Ok(t)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKind {
    /// Position in the partition key.
    PartitionKey(usize),
    /// Position in the clustering key.
    Clustering(usize),
    Static,
    Regular,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub typ: CqlType,
    pub kind: ColumnKind,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// In ScyllaDB's `all_columns` order: partition key, clustering key,
    /// static columns by name, regular columns by name.
    pub columns: Vec<Column>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn partition_key(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::PartitionKey(_)))
    }

    pub fn clustering_key(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Clustering(_)))
    }
}

/// The tables of a schema text, by (unqualified) table name.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: HashMap<String, Table>,
}

impl Schema {
    /// Reads every `CREATE TABLE` of `text` (other statements are skipped).
    /// Panics with a message on a table it cannot read: the schema is test input.
    pub fn parse(text: &str) -> Schema {
        let toks = tokenize(text).unwrap_or_else(|e| panic!("schema text: {e}"));
        let mut tables = HashMap::new();
        for stmt in toks.split(|t| *t == Tok::Sym(";".into())) {
            let is_create_table =
                matches!(stmt, [Tok::Ident(a), Tok::Ident(b), ..] if a == "create" && b == "table");
            if is_create_table {
                let table = parse_create_table(stmt).unwrap_or_else(|e| panic!("schema text: {e}"));
                tables.insert(table.name.clone(), table);
            }
        }
        Schema { tables }
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }
}

fn expect_sym(toks: &[Tok], pos: &mut usize, sym: &str) -> Result<(), String> {
    match toks.get(*pos) {
        Some(Tok::Sym(s)) if s == sym => {
            *pos += 1;
            Ok(())
        }
        other => Err(format!("expected {sym:?}, found {other:?}")),
    }
}

fn ident(toks: &[Tok], pos: &mut usize) -> Result<String, String> {
    match toks.get(*pos) {
        Some(Tok::Ident(n)) => {
            *pos += 1;
            Ok(n.clone())
        }
        other => Err(format!("expected a name, found {other:?}")),
    }
}

fn is_kw(toks: &[Tok], pos: usize, kw: &str) -> bool {
    matches!(toks.get(pos), Some(Tok::Ident(n)) if n == kw)
}

/// `CREATE TABLE [IF NOT EXISTS] [ks.]name ( col type [STATIC] [PRIMARY KEY], ...,
/// PRIMARY KEY ((pk...), ck...) ) [WITH ...]`
fn parse_create_table(toks: &[Tok]) -> Result<Table, String> {
    let mut pos = 2;
    if is_kw(toks, pos, "if") {
        pos += 3;
    }
    let mut name = ident(toks, &mut pos)?;
    if toks.get(pos) == Some(&Tok::Sym(".".into())) {
        pos += 1;
        name = ident(toks, &mut pos)?;
    }
    expect_sym(toks, &mut pos, "(")?;
    let mut cols: Vec<(String, CqlType, bool)> = Vec::new();
    let mut pk: Vec<String> = Vec::new();
    let mut ck: Vec<String> = Vec::new();
    loop {
        if is_kw(toks, pos, "primary") {
            pos += 2;
            expect_sym(toks, &mut pos, "(")?;
            if toks.get(pos) == Some(&Tok::Sym("(".into())) {
                pos += 1;
                loop {
                    pk.push(ident(toks, &mut pos)?);
                    if expect_sym(toks, &mut pos, ",").is_err() {
                        break;
                    }
                }
                expect_sym(toks, &mut pos, ")")?;
            } else {
                pk.push(ident(toks, &mut pos)?);
            }
            while expect_sym(toks, &mut pos, ",").is_ok() {
                ck.push(ident(toks, &mut pos)?);
            }
            expect_sym(toks, &mut pos, ")")?;
        } else {
            let col = ident(toks, &mut pos)?;
            let typ = CqlType::parse(toks, &mut pos)?;
            let mut is_static = false;
            if is_kw(toks, pos, "static") {
                is_static = true;
                pos += 1;
            }
            if is_kw(toks, pos, "primary") {
                pos += 2;
                pk.push(col.clone());
            }
            cols.push((col, typ, is_static));
        }
        if expect_sym(toks, &mut pos, ",").is_err() {
            break;
        }
    }
    expect_sym(toks, &mut pos, ")")?;
    if pk.is_empty() {
        return Err(format!("table {name} has no primary key"));
    }
    let mut columns: Vec<Column> = cols
        .into_iter()
        .map(|(cname, typ, is_static)| {
            let kind = if let Some(i) = pk.iter().position(|p| *p == cname) {
                ColumnKind::PartitionKey(i)
            } else if let Some(i) = ck.iter().position(|c| *c == cname) {
                ColumnKind::Clustering(i)
            } else if is_static {
                ColumnKind::Static
            } else {
                ColumnKind::Regular
            };
            Column {
                name: cname,
                typ,
                kind,
            }
        })
        .collect();
    for key in pk.iter().chain(ck.iter()) {
        if !columns.iter().any(|c| c.name == *key) {
            return Err(format!("table {name}: key column {key} is not defined"));
        }
    }
    columns.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.name.cmp(&b.name)));
    Ok(Table { name, columns })
}
