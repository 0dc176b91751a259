//! CQL protocol v4 encoding for the forged ScyllaDB node: bound values
//! decoded (and checked) against their column types, and the RESULT bodies
//! (Void, Rows, Prepared, SetKeyspace) the node answers with. scylla-cql 2.0
//! decodes requests but has no public encoder for response bodies (only
//! hidden test helpers), hence this small one.

use std::net::IpAddr;

use scylla_cql::frame::types::{self, RawValue};

use super::cql_schema::CqlType;
use super::cql_stmt::Marker;

/// The bit ScyllaDB sets in a PREPARED answer's flags for an LWT statement
/// (`SCYLLA_LWT_ADD_METADATA_MARK`, `LWT_OPTIMIZATION_META_BIT_MASK`).
pub const LWT_MARK: u32 = 0x8000_0000;

/// A CQL value, decoded from a bound value or given by a test for an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Unset,
    Text(String),
    BigInt(i64),
    Int(i32),
    Bool(bool),
    Blob(Vec<u8>),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    /// uuid or timeuuid.
    Uuid([u8; 16]),
    Inet(IpAddr),
    /// list or set.
    List(Vec<Val>),
    Map(Vec<(Val, Val)>),
    /// Any other type, raw.
    Raw(Vec<u8>),
}

impl Val {
    pub fn text(s: &str) -> Val {
        Val::Text(s.to_owned())
    }

    pub fn blob(b: &[u8]) -> Val {
        Val::Blob(b.to_vec())
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::BigInt(v) | Val::Timestamp(v) => Some(*v),
            Val::Int(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
}

fn fixed(typ: &CqlType) -> Option<usize> {
    match typ {
        CqlType::BigInt | CqlType::Counter | CqlType::Timestamp | CqlType::Double => Some(8),
        CqlType::Int | CqlType::Date | CqlType::Float => Some(4),
        CqlType::SmallInt => Some(2),
        CqlType::TinyInt | CqlType::Boolean => Some(1),
        CqlType::Uuid | CqlType::TimeUuid => Some(16),
        _ => None,
    }
}

/// Decodes the bytes of one value of type `typ`, checking their encoding.
pub fn decode(typ: &CqlType, b: &[u8]) -> Result<Val, String> {
    if let Some(n) = fixed(typ)
        && b.len() != n
    {
        return Err(format!("{typ:?} must be {n} bytes, got {}", b.len()));
    }
    let be8 = || i64::from_be_bytes(b.try_into().expect("length checked"));
    Ok(match typ {
        CqlType::BigInt | CqlType::Counter => Val::BigInt(be8()),
        CqlType::Timestamp => Val::Timestamp(be8()),
        CqlType::Int => Val::Int(i32::from_be_bytes(b.try_into().expect("length checked"))),
        CqlType::Boolean => Val::Bool(b[0] != 0),
        CqlType::Text | CqlType::Ascii => {
            let s = std::str::from_utf8(b).map_err(|e| format!("text is not UTF-8: {e}"))?;
            if *typ == CqlType::Ascii && !s.is_ascii() {
                return Err("ascii value has non-ASCII bytes".into());
            }
            Val::Text(s.to_owned())
        }
        CqlType::Blob => Val::Blob(b.to_vec()),
        CqlType::Uuid | CqlType::TimeUuid => {
            if *typ == CqlType::TimeUuid && b[6] >> 4 != 1 {
                return Err(format!(
                    "timeuuid must be a version 1 UUID, got version {}",
                    b[6] >> 4
                ));
            }
            Val::Uuid(b.try_into().expect("length checked"))
        }
        CqlType::Inet => match b.len() {
            4 => Val::Inet(IpAddr::from(
                <[u8; 4]>::try_from(b).expect("length checked"),
            )),
            16 => Val::Inet(IpAddr::from(
                <[u8; 16]>::try_from(b).expect("length checked"),
            )),
            n => return Err(format!("inet must be 4 or 16 bytes, got {n}")),
        },
        CqlType::List(t) | CqlType::Set(t) => {
            let mut buf = b;
            let n = types::read_int_length(&mut buf).map_err(|e| e.to_string())?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let item = types::read_bytes(&mut buf).map_err(|e| e.to_string())?;
                items.push(decode(t, item)?);
            }
            if !buf.is_empty() {
                return Err("trailing bytes after a collection".into());
            }
            Val::List(items)
        }
        CqlType::Map(k, v) => {
            let mut buf = b;
            let n = types::read_int_length(&mut buf).map_err(|e| e.to_string())?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let kb = types::read_bytes(&mut buf).map_err(|e| e.to_string())?;
                let vb = types::read_bytes(&mut buf).map_err(|e| e.to_string())?;
                items.push((decode(k, kb)?, decode(v, vb)?));
            }
            Val::Map(items)
        }
        _ => Val::Raw(b.to_vec()),
    })
}

/// Decodes a bound value for `marker`: null and unset are allowed except
/// where the marker must not be null (key parts, LIMIT).
pub fn decode_bound(marker: &Marker, raw: RawValue<'_>) -> Result<Val, String> {
    match raw {
        RawValue::Null if marker.not_null => Err(format!("null bound to {}", marker.name)),
        RawValue::Unset if marker.not_null => Err(format!("unset value bound to {}", marker.name)),
        RawValue::Null => Ok(Val::Null),
        RawValue::Unset => Ok(Val::Unset),
        RawValue::Value(b) => decode(&marker.typ, b).map_err(|e| format!("{}: {e}", marker.name)),
    }
}

/// Encodes `v` as a `[bytes]` value of type `typ`.
pub fn encode(typ: &CqlType, v: &Val, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut body = Vec::new();
    match (typ, v) {
        (_, Val::Null) => {
            put_i32(buf, -1);
            return Ok(());
        }
        (
            CqlType::BigInt | CqlType::Counter | CqlType::Timestamp,
            Val::BigInt(x) | Val::Timestamp(x),
        ) => put_i64(&mut body, *x),
        (CqlType::Int, Val::Int(x)) => put_i32(&mut body, *x),
        (CqlType::Boolean, Val::Bool(x)) => put_u8(&mut body, u8::from(*x)),
        (CqlType::Text | CqlType::Ascii, Val::Text(s)) => body.extend_from_slice(s.as_bytes()),
        (CqlType::Blob, Val::Blob(b)) | (_, Val::Raw(b)) => body.extend_from_slice(b),
        (CqlType::Uuid | CqlType::TimeUuid, Val::Uuid(u)) => body.extend_from_slice(u),
        (CqlType::Inet, Val::Inet(IpAddr::V4(a))) => body.extend_from_slice(&a.octets()),
        (CqlType::Inet, Val::Inet(IpAddr::V6(a))) => body.extend_from_slice(&a.octets()),
        (CqlType::List(t) | CqlType::Set(t), Val::List(items)) => {
            put_i32(&mut body, items.len() as i32);
            for item in items {
                encode(t, item, &mut body)?;
            }
        }
        (CqlType::Map(kt, vt), Val::Map(items)) => {
            put_i32(&mut body, items.len() as i32);
            for (k, v) in items {
                encode(kt, k, &mut body)?;
                encode(vt, v, &mut body)?;
            }
        }
        (t, v) => return Err(format!("cannot encode {v:?} as {t:?}")),
    }
    put_i32(buf, body.len() as i32);
    buf.extend_from_slice(&body);
    Ok(())
}

/// Writes a CQL `[option]` type.
pub fn write_type(typ: &CqlType, buf: &mut Vec<u8>) {
    let id: u16 = match typ {
        CqlType::Ascii => 0x01,
        CqlType::BigInt => 0x02,
        CqlType::Blob => 0x03,
        CqlType::Boolean => 0x04,
        CqlType::Counter => 0x05,
        CqlType::Double => 0x07,
        CqlType::Float => 0x08,
        CqlType::Int => 0x09,
        CqlType::Timestamp => 0x0B,
        CqlType::Uuid => 0x0C,
        CqlType::Text => 0x0D,
        CqlType::TimeUuid => 0x0F,
        CqlType::Inet => 0x10,
        CqlType::Date => 0x11,
        CqlType::SmallInt => 0x13,
        CqlType::TinyInt => 0x14,
        CqlType::List(_) => 0x20,
        CqlType::Map(_, _) => 0x21,
        CqlType::Set(_) => 0x22,
    };
    put_u16(buf, id);
    match typ {
        CqlType::List(t) | CqlType::Set(t) => write_type(t, buf),
        CqlType::Map(k, v) => {
            write_type(k, buf);
            write_type(v, buf);
        }
        _ => {}
    }
}

fn write_str(s: &str, buf: &mut Vec<u8>) {
    types::write_string(s, buf).expect("short string");
}

/// `<flags><count>[<global table spec>]<col specs>` with a global table spec.
fn write_col_specs<'c>(
    ks: &str,
    table: &str,
    cols: impl ExactSizeIterator<Item = (&'c str, &'c CqlType)>,
    extra_flags: u32,
    buf: &mut Vec<u8>,
) {
    let n = cols.len();
    let flags = extra_flags | if n > 0 { 0x0001 } else { 0x0004 };
    put_u32(buf, flags);
    put_i32(buf, n as i32);
    if n > 0 {
        write_str(ks, buf);
        write_str(table, buf);
    }
    for (name, typ) in cols {
        write_str(name, buf);
        write_type(typ, buf);
    }
}

pub fn result_void() -> Vec<u8> {
    vec![0, 0, 0, 1]
}

pub fn result_set_keyspace(ks: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    put_i32(&mut buf, 3);
    write_str(ks, &mut buf);
    buf
}

/// A Rows result with full metadata and no paging state.
pub fn result_rows(
    ks: &str,
    table: &str,
    cols: &[(String, CqlType)],
    rows: &[Vec<Val>],
) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    put_i32(&mut buf, 2);
    // Rows always carry their metadata (NO_METADATA is only for non-SELECTs).
    put_u32(&mut buf, 0x0001);
    put_i32(&mut buf, cols.len() as i32);
    write_str(ks, &mut buf);
    write_str(table, &mut buf);
    for (name, typ) in cols {
        write_str(name, &mut buf);
        write_type(typ, &mut buf);
    }
    put_i32(&mut buf, rows.len() as i32);
    for row in rows {
        if row.len() != cols.len() {
            return Err(format!(
                "row has {} values for {} columns",
                row.len(),
                cols.len()
            ));
        }
        for ((name, typ), v) in cols.iter().zip(row) {
            encode(typ, v, &mut buf).map_err(|e| format!("column {name}: {e}"))?;
        }
    }
    Ok(buf)
}

/// A Prepared result: statement id, bind-marker metadata (with the
/// partition-key indexes and, for an LWT, ScyllaDB's LWT mark) and result metadata.
pub fn result_prepared(
    id: &[u8],
    ks: &str,
    table: &str,
    markers: &[Marker],
    pk_indexes: &[u16],
    lwt: bool,
    result_cols: &[(String, CqlType)],
) -> Vec<u8> {
    let mut buf = Vec::new();
    put_i32(&mut buf, 4);
    types::write_short_bytes(id, &mut buf).expect("short id");
    // Prepared metadata: flags, count, pk count, pk indexes, global spec, specs.
    let n = markers.len();
    let flags: u32 = (if n > 0 { 0x0001 } else { 0 }) | if lwt { LWT_MARK } else { 0 };
    put_u32(&mut buf, flags);
    put_i32(&mut buf, n as i32);
    put_i32(&mut buf, pk_indexes.len() as i32);
    for i in pk_indexes {
        put_u16(&mut buf, *i);
    }
    if n > 0 {
        write_str(ks, &mut buf);
        write_str(table, &mut buf);
    }
    for m in markers {
        write_str(&m.name, &mut buf);
        write_type(&m.typ, &mut buf);
    }
    write_col_specs(
        ks,
        table,
        result_cols.iter().map(|(n, t)| (n.as_str(), t)),
        0,
        &mut buf,
    );
    buf
}

fn put_i32(buf: &mut Vec<u8>, v: i32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_u8(buf: &mut Vec<u8>, v: u8) {
    buf.push(v);
}
