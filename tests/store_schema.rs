//! The SQLite and the PostgreSQL migration sets stay in step (docs/DESIGN.md "The
//! store's two backends"): each set is run on its own database, and what they built is
//! compared — migration versions and names, tables, columns (types mapped: INTEGER is
//! BIGINT, BLOB is BYTEA), nullability, primary keys and explicit indexes. Both the
//! store's schema and the audit chain's. Under `CI=true` a missing PostgreSQL fails.

#[path = "support/pg.rs"]
mod pg;

use confer::store::audit::{AuditLocation, AuditReader, AuditWriter};
use confer::store::schema::SchemaShape;
use confer::store::Store;

fn assert_same(what: &str, sqlite: &SchemaShape, postgres: &SchemaShape) {
    assert_eq!(
        sqlite.migrations, postgres.migrations,
        "{what}: migration versions and names differ"
    );
    let names = |s: &SchemaShape| s.tables.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(sqlite), names(postgres), "{what}: tables differ");
    for ((table, a), (_, b)) in sqlite.tables.iter().zip(&postgres.tables) {
        assert_eq!(
            a, b,
            "{what}: columns of {table} differ (SQLite, then PostgreSQL)"
        );
    }
    assert_eq!(sqlite.indexes, postgres.indexes, "{what}: indexes differ");
    assert!(!sqlite.tables.is_empty() && !sqlite.migrations.is_empty());
}

#[tokio::test]
async fn both_migration_sets_build_the_same_schema() {
    let Some(url) = pg::database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path()).await.unwrap();
    let postgres = Store::connect(&url).await.unwrap();
    let (a, b) = (
        sqlite.schema().await.unwrap(),
        postgres.schema().await.unwrap(),
    );
    assert!(a.tables.iter().any(|t| t.0 == "visits"), "{a:?}");
    assert_same("store", &a, &b);

    // The audit chain's own sets: `<data-dir>/audit.db` and the schema confer_audit.
    let mut shapes = Vec::new();
    for at in [
        AuditLocation::configured(dir.path(), None),
        AuditLocation::configured(dir.path(), Some(&url)),
    ] {
        let w = AuditWriter::open_at(&at).await.unwrap();
        let r = AuditReader::open_at(&at, true).await.unwrap();
        shapes.push(r.schema().await.unwrap());
        r.close().await;
        w.close().await;
    }
    assert!(shapes[0].tables.iter().any(|t| t.0 == "audit_entries"));
    assert_same("audit", &shapes[0], &shapes[1]);
    // Opening again (a restart, or a second node) migrates nothing and fails nothing.
    let again = Store::connect(&url).await.unwrap();
    assert_eq!(again.schema().await.unwrap(), b);
}

#[tokio::test]
async fn a_store_url_that_is_not_postgres_is_refused_with_a_clear_sentence() {
    let e = Store::connect("mysql://root@127.0.0.1/confer")
        .await
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(text.contains("postgres://"), "{text}");
    let e = Store::connect("postgres://u:s3cret@127.0.0.1:1/none")
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

/// The test harness's PostgreSQL (tests/support/pg.rs) picks a free port and then starts
/// postgres on it; another socket may take the port in between. A postgres that exits
/// for that is started again on the next port, and the data `initdb` wrote is kept.
#[tokio::test]
async fn a_postgres_that_finds_its_port_taken_is_started_on_another() {
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("hold a port");
    let taken = held.local_addr().expect("its address").port();
    let free = std::net::TcpListener::bind(("127.0.0.1", 0))
        .expect("pick a port")
        .local_addr()
        .expect("its address")
        .port();
    let Some(server) =
        tokio::task::spawn_blocking(move || pg::PgServer::start_on(false, [taken, free]))
            .await
            .expect("start PostgreSQL")
    else {
        return; // PostgreSQL missing outside CI: pg.rs said so.
    };
    assert_eq!(server.port, free, "started on the port that was taken");
    let url = server.database().await;
    let store = Store::connect(&url)
        .await
        .expect("the server started again works");
    let schema = store.schema().await.expect("its schema");
    assert!(schema.tables.iter().any(|t| t.0 == "visits"), "{schema:?}");
    drop(held);
}
