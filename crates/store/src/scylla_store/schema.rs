//! The schema: `config/schema.cql`, embedded, rewritten for the configured
//! keyspace and replication factor, and applied statement by statement.
//!
//! The file stays plain CQL that `cqlsh -f` accepts (keyspace `liveshop`,
//! RF 3). [`statements`] drops `--` comments, splits on `;` and rewrites
//! `liveshop.` table prefixes and the keyspace's name and
//! `'replication_factor': 3`; it refuses a file whose statements do not
//! have that shape, so a schema edit cannot silently escape the rewrite.

use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::Statement;

use super::{ScyllaOptions, driver_error};
use crate::{Result, StoreError};

/// The schema as shipped.
pub(super) const SCHEMA: &str = include_str!("../../../../config/schema.cql");

/// The keyspace name and replication the file is written with.
const FILE_KEYSPACE: &str = "liveshop";
const FILE_REPLICATION: &str = "'replication_factor': 3";

/// DDL waits for the schema to settle on every node; give it longer than a
/// data request.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Refuses a keyspace name that is not a plain lower-case CQL identifier:
/// it is spliced into statement texts, and ScyllaDB folds unquoted names to
/// lower case (which the metadata filter must match).
pub(super) fn check_keyspace_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "ScyllaDB: keyspace name {name:?} must be 1-48 of [a-z0-9_], starting with a letter"
        )))
    }
}

/// The statements of the schema for `options`, in file order.
pub(super) fn statements(options: &ScyllaOptions) -> Result<Vec<String>> {
    check_keyspace_name(&options.keyspace)?;
    if options.replication_factor == 0 {
        return Err(StoreError::Unavailable(
            "ScyllaDB: replication_factor must be at least 1".into(),
        ));
    }
    let bad =
        |why: &str, stmt: &str| StoreError::Corrupt(format!("config/schema.cql: {why}: {stmt}"));
    let code: Vec<&str> = SCHEMA
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect();
    let code = code.join("\n");
    let prefix = format!("{FILE_KEYSPACE}.");
    code.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|stmt| {
            let head = stmt.to_ascii_uppercase();
            if head.starts_with("CREATE KEYSPACE") {
                let name = format!("IF NOT EXISTS {FILE_KEYSPACE}");
                if !stmt.contains(&name) || !stmt.contains(FILE_REPLICATION) {
                    return Err(bad(
                        "the keyspace statement must read `IF NOT EXISTS liveshop` and \
                         `'replication_factor': 3`",
                        stmt,
                    ));
                }
                Ok(stmt
                    .replacen(&name, &format!("IF NOT EXISTS {}", options.keyspace), 1)
                    .replacen(
                        FILE_REPLICATION,
                        &format!("'replication_factor': {}", options.replication_factor),
                        1,
                    ))
            } else if head.starts_with("CREATE TABLE IF NOT EXISTS") {
                if !stmt.contains(&prefix) {
                    return Err(bad("tables must be named `liveshop.<table>`", stmt));
                }
                Ok(stmt.replace(&prefix, &format!("{}.", options.keyspace)))
            } else {
                Err(bad(
                    "only CREATE KEYSPACE / CREATE TABLE IF NOT EXISTS belong here",
                    stmt,
                ))
            }
        })
        .collect()
}

/// Runs every schema statement (each is `IF NOT EXISTS`).
pub(super) async fn apply(session: &Session, options: &ScyllaOptions) -> Result<()> {
    for text in statements(options)? {
        let mut stmt = Statement::new(text.as_str());
        stmt.set_request_timeout(Some(DDL_TIMEOUT.max(options.request_timeout)));
        session
            .query_unpaged(stmt, ())
            .await
            .map_err(|e| driver_error(&format!("applying `{text}`"), &e))?;
    }
    Ok(())
}

/// The table names the schema creates (for the tests).
#[cfg(test)]
fn tables(statements: &[String], keyspace: &str) -> Vec<String> {
    let prefix = format!("CREATE TABLE IF NOT EXISTS {keyspace}.");
    statements
        .iter()
        .filter_map(|s| s.strip_prefix(&prefix))
        .map(|rest| rest.split([' ', '(']).next().unwrap_or_default().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::statements::TEXTS;
    use super::*;

    fn options(keyspace: &str, rf: u32) -> ScyllaOptions {
        ScyllaOptions {
            keyspace: keyspace.into(),
            replication_factor: rf,
            ..ScyllaOptions::default()
        }
    }

    #[test]
    fn schema_is_rewritten_for_the_keyspace_and_replication() {
        let stmts = statements(&options("conf_abc_1", 1)).expect("schema splits");
        assert!(stmts[0].starts_with("CREATE KEYSPACE IF NOT EXISTS conf_abc_1"));
        assert!(stmts[0].contains("'replication_factor': 1"));
        assert!(stmts[0].contains("'enabled': false"), "tablets stay off");
        for s in &stmts {
            assert!(!s.contains("liveshop"), "left unrewritten: {s}");
            assert!(!s.contains("--") && !s.contains(';'), "{s}");
            assert!(!s.to_ascii_uppercase().starts_with("USE"), "{s}");
        }
        let tables = tables(&stmts, "conf_abc_1");
        assert_eq!(
            tables.len(),
            stmts.len() - 1,
            "every other statement is a table"
        );
    }

    #[test]
    fn default_schema_is_the_file() {
        let stmts = statements(&ScyllaOptions::default()).expect("schema splits");
        assert!(stmts[0].contains("liveshop") && stmts[0].contains(FILE_REPLICATION));
    }

    #[test]
    fn statements_use_exactly_the_schema_tables() {
        let stmts = statements(&ScyllaOptions::default()).expect("schema splits");
        let tables = tables(&stmts, FILE_KEYSPACE);
        let used: Vec<String> = TEXTS
            .iter()
            .map(|t| {
                let after = t.split("{ks}.").nth(1).expect("qualified table name");
                after
                    .split([' ', '('])
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        for t in &used {
            assert!(tables.contains(t), "statement uses unknown table {t}");
        }
        for t in &tables {
            assert!(used.contains(t), "schema table {t} is never used");
        }
    }

    #[test]
    fn bad_keyspace_names_and_factors_are_refused() {
        for name in ["", "Liveshop", "1ks", "ks-1", "ks;drop", &"k".repeat(49)] {
            assert!(statements(&options(name, 1)).is_err(), "{name:?}");
        }
        assert!(statements(&options("ks", 0)).is_err());
    }
}
