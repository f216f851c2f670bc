//! PostgreSQL test schemas, shared by every crate's PostgreSQL tests.

use super::*;

/// The test database's URL comes from `TOKENBRIDGE_TEST_POSTGRES_URL` (scripts/test sets it).
pub const POSTGRES_URL_VAR: &str = "TOKENBRIDGE_TEST_POSTGRES_URL";

/// The test database's URL. A test that needs PostgreSQL fails without it, never passes unrun:
/// leave such tests out explicitly instead (`cargo test -- --skip postgres`, see the README).
pub fn postgres_base_url(test: &str) -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!(
            "{test} needs PostgreSQL: set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test; \
             scripts/test starts PostgreSQL and sets it)"
        ),
    }
}

fn schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("tb_test_{}_{nanos:x}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `base` with `search_path` pointed at `schema` for every connection opened through it.
fn scoped_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    // Percent-encoded `-c search_path=<schema>`.
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A schema of its own for one test, dropped (with everything in it) when the value goes out of
/// scope, also when the test panics.
pub struct TestSchema {
    base: String,
    pub name: String,
    /// The URL stores of this test connect with.
    pub url: String,
}

impl TestSchema {
    /// Fails the test when no test database is configured or it does not answer.
    pub async fn create(test: &str) -> TestSchema {
        let base = postgres_base_url(test);
        let name = schema_name();
        let mut admin = PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{test} needs PostgreSQL, and {POSTGRES_URL_VAR} does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let url = scoped_url(&base, &name);
        TestSchema { base, name, url }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with a
        // runtime of its own.
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&base).await?;
                sqlx::query("SET lock_timeout = '30s'").execute(&mut admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test schema {}: cleanup thread panicked", self.name),
        }
    }
}
