//! What the migrations built, read back from the database's own catalogue, in terms
//! both backends share: `tests/store_schema.rs` runs the SQLite and the PostgreSQL
//! migration sets and compares the results (tables, columns with their mapped types,
//! nullability and primary key, explicit indexes, migration versions and names).

use sqlx::{AnyPool, Row};

/// One column: name, portable type (`integer`, `text`, `blob`, `real`), not null, in the
/// primary key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnShape {
    pub name: String,
    pub kind: String,
    pub not_null: bool,
    pub primary_key: bool,
}

/// The shape of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaShape {
    /// Migrations applied: (version, description).
    pub migrations: Vec<(i64, String)>,
    /// Tables (without the migrations table) and their columns, in column order.
    pub tables: Vec<(String, Vec<ColumnShape>)>,
    /// Explicit indexes (not those behind PRIMARY KEY / UNIQUE): (name, table, columns).
    pub indexes: Vec<(String, String, Vec<String>)>,
}

fn portable_type(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    match t.as_str() {
        "integer" | "bigint" | "int" | "int8" | "int4" | "smallint" => "integer".into(),
        "text" | "character varying" | "varchar" => "text".into(),
        "blob" | "bytea" => "blob".into(),
        "real" | "double precision" => "real".into(),
        other => other.into(),
    }
}

/// Read the shape of the schema `pool` sees (PostgreSQL: its `current_schema()`).
/// (`postgres`: which catalogue to read; this file imports nothing of `store` so that
/// `store` can name [`SchemaShape`] without a cycle.)
pub(crate) async fn shape(pool: &AnyPool, postgres: bool) -> sqlx::Result<SchemaShape> {
    let mut s = SchemaShape::default();
    for r in sqlx::query("SELECT version, description FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await?
    {
        s.migrations.push((r.try_get(0)?, r.try_get(1)?));
    }
    match postgres {
        false => {
            let tables = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name <> '_sqlx_migrations' ORDER BY name",
            )
            .fetch_all(pool)
            .await?;
            for t in tables {
                let table: String = t.try_get(0)?;
                let cols = sqlx::query(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
                )
                .bind(table.clone())
                .fetch_all(pool)
                .await?;
                let mut columns = Vec::new();
                for c in cols {
                    let pk = c.try_get::<i64, _>(3)? > 0;
                    columns.push(ColumnShape {
                        name: c.try_get(0)?,
                        kind: portable_type(&c.try_get::<String, _>(1)?),
                        // A primary key column is never null (PostgreSQL says so, SQLite
                        // leaves `notnull` at 0 for INTEGER PRIMARY KEY).
                        not_null: c.try_get::<i64, _>(2)? != 0 || pk,
                        primary_key: pk,
                    });
                }
                s.tables.push((table, columns));
            }
            let indexes = sqlx::query(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
            )
            .fetch_all(pool)
            .await?;
            for i in indexes {
                let name: String = i.try_get(0)?;
                let cols = sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(name.clone())
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<Vec<String>, _>>()?;
                s.indexes.push((name, i.try_get(1)?, cols));
            }
        }
        true => {
            let tables = sqlx::query(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name <> '_sqlx_migrations' ORDER BY table_name",
            )
            .fetch_all(pool)
            .await?;
            for t in tables {
                let table: String = t.try_get(0)?;
                let cols = sqlx::query(
                    "SELECT CAST(c.column_name AS TEXT), CAST(c.data_type AS TEXT), \
                     CASE WHEN c.is_nullable = 'NO' THEN 1 ELSE 0 END, \
                     CASE WHEN EXISTS (SELECT 1 FROM information_schema.table_constraints tc \
                       JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name \
                       AND k.table_schema = tc.table_schema AND k.table_name = tc.table_name \
                       WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema \
                       AND tc.table_name = c.table_name AND k.column_name = c.column_name) THEN 1 ELSE 0 END \
                     FROM information_schema.columns c \
                     WHERE c.table_schema = current_schema() AND c.table_name = $1 ORDER BY c.ordinal_position",
                )
                .bind(table.clone())
                .fetch_all(pool)
                .await?;
                let mut columns = Vec::new();
                for c in cols {
                    columns.push(ColumnShape {
                        name: c.try_get(0)?,
                        kind: portable_type(&c.try_get::<String, _>(1)?),
                        not_null: c.try_get::<i64, _>(2)? != 0,
                        primary_key: c.try_get::<i64, _>(3)? != 0,
                    });
                }
                s.tables.push((table, columns));
            }
            let rows = sqlx::query(
                "SELECT CAST(i.relname AS TEXT), CAST(t.relname AS TEXT), CAST(a.attname AS TEXT) \
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                 CROSS JOIN LATERAL unnest(CAST(x.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations' \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
                 ORDER BY i.relname, k.ord",
            )
            .fetch_all(pool)
            .await?;
            for r in rows {
                let (name, table, col): (String, String, String) =
                    (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
                match s.indexes.last_mut() {
                    Some((n, _, cols)) if *n == name => cols.push(col),
                    _ => s.indexes.push((name, table, vec![col])),
                }
            }
        }
    }
    Ok(s)
}
