//! Test harness: starts the real service exactly as `fluxora serve` does (through
//! `Application::build`) on 127.0.0.1:0 with a fresh SQLite database, and returns a client.

use std::sync::OnceLock;

use fluxora::app::Application;
use fluxora::config::{Config, LogFormat};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Valid account StrKeys (test vectors of the `stellar-strkey` crate, SEP-23).
pub const G1: &str = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
pub const G2: &str = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
/// Fixture actors (fixtures/chain/fluxora-scenario.decoded.json).
pub const SENDER: &str = "GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV";
pub const RECIPIENT: &str = "GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA";
/// A valid contract StrKey.
pub const C1: &str = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE";

static TRACING: OnceLock<fluxora::telemetry::LogGuard> = OnceLock::new();

/// Which database the suite runs on: `FLUXORA_TEST_DATABASE=sqlite` (default) or `postgres`.
/// PostgreSQL tests connect to `FLUXORA_TEST_POSTGRES_URL` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`) and create a database per test.
pub fn backend() -> &'static str {
    match std::env::var("FLUXORA_TEST_DATABASE").as_deref() {
        Ok("postgres") | Ok("postgresql") => "postgres",
        _ => "sqlite",
    }
}

/// The PostgreSQL server the tests use (its maintenance database).
pub fn postgres_admin_url() -> String {
    std::env::var("FLUXORA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A brand-new, empty database owned by one test, removed when dropped: a SQLite file in a
/// temporary directory, or a PostgreSQL database named by a UUID.
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new database on the suite's backend ([`backend`]).
    pub async fn new() -> TestDb {
        Self::on(backend()).await
    }

    /// A new PostgreSQL database, whatever the suite's backend (for PostgreSQL-only behaviour
    /// such as advisory-lock leadership).
    pub async fn postgres() -> TestDb {
        Self::on("postgres").await
    }

    async fn on(backend: &str) -> TestDb {
        match backend {
            "postgres" => {
                use sqlx::Connection;
                let admin_url = postgres_admin_url();
                let name = format!("fluxora_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed for FLUXORA_TEST_DATABASE=postgres: {e}"));
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDb::Postgres { admin_url, name }
            }
            _ => TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temp dir"),
            },
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => {
                format!("sqlite://{}", dir.path().join("fluxora.db").display())
            }
            TestDb::Postgres { admin_url, name } => {
                let mut url = url::Url::parse(admin_url).expect("admin url");
                url.set_path(name);
                url.to_string()
            }
        }
    }
}

/// Runs one SQL statement on the database at `url` (SQLite or PostgreSQL) behind the service's
/// back: for states only a crash or an operator leaves behind.
pub async fn execute_sql(url: &str, statement: &str) {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    } else {
        let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    }
}

/// A PostgreSQL backend of the service's pipelined read connections (the fast path of GET by id),
/// as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderBackend {
    pub pid: i32,
    /// When the backend last changed state (a statement started or ended), as text.
    pub state_change: String,
    /// Idle, with the stream SELECT prepared (its last statement).
    pub ready: bool,
}

impl TestDb {
    /// The backends of the service's pipelined read connections to this PostgreSQL database
    /// (`application_name = 'fluxora-reads'`); empty on SQLite.
    pub async fn pipelined_readers(&self) -> Vec<ReaderBackend> {
        let TestDb::Postgres { admin_url, name } = self else {
            return Vec::new();
        };
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("admin connection");
        let rows: Vec<(i32, String, bool)> = sqlx::query_as(
            "SELECT pid, COALESCE(state_change::text, ''), \
               COALESCE(state = 'idle' AND query LIKE '%FROM streams WHERE id = $1', FALSE) \
             FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'fluxora-reads' ORDER BY pid",
        )
        .bind(name)
        .fetch_all(&mut admin)
        .await
        .expect("pg_stat_activity");
        admin.close().await.ok();
        rows.into_iter()
            .map(|(pid, state_change, ready)| ReaderBackend {
                pid,
                state_change,
                ready,
            })
            .collect()
    }

    /// Polls (every 20 ms, for up to 10 s) until `count` pipelined read connections other than
    /// the backends `except` are connected and ready (idle, the stream SELECT prepared), and
    /// returns them; panics if they never are. Each poll first sends `app` a GET by id on every
    /// connection (a read is what opens one).
    pub async fn wait_for_pipelined_readers(
        &self,
        app: &TestApp,
        count: usize,
        except: &[ReaderBackend],
    ) -> Vec<ReaderBackend> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            for _ in 0..count {
                let response = app.get("/api/streams/str_opens_a_reader").await;
                assert_eq!(response.status(), 404);
            }
            let readers: Vec<ReaderBackend> = self
                .pipelined_readers()
                .await
                .into_iter()
                .filter(|reader| except.iter().all(|old| old.pid != reader.pid))
                .collect();
            if readers.len() == count && readers.iter().all(|reader| reader.ready) {
                return readers;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{count} pipelined readers never connected (now: {readers:?})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Terminates the backends of the pipelined read connections (as an administrator, a
    /// failover or a network cut would) and returns them.
    pub async fn terminate_pipelined_readers(&self) -> Vec<ReaderBackend> {
        let readers = self.pipelined_readers().await;
        let TestDb::Postgres { admin_url, .. } = self else {
            return readers;
        };
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("admin connection");
        for reader in &readers {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(reader.pid)
                .execute(&mut admin)
                .await
                .expect("pg_terminate_backend");
        }
        admin.close().await.ok();
        readers
    }
}

/// Asserts that the pipelined PostgreSQL readers seen `after` some reads are the connections
/// seen `before` them (none was replaced) and that each ran something in between (its
/// `state_change` moved); `what` names the reads in the message.
pub fn assert_readers_kept_and_used(before: &[ReaderBackend], after: &[ReaderBackend], what: &str) {
    assert_eq!(
        after.iter().map(|r| r.pid).collect::<Vec<_>>(),
        before.iter().map(|r| r.pid).collect::<Vec<_>>(),
        "the same connections throughout"
    );
    for (old, new) in before.iter().zip(after) {
        assert_ne!(
            old.state_change, new.state_change,
            "backend {} ran no {what}",
            old.pid
        );
    }
}

/// The number of pipelined read connections the service opens on PostgreSQL: one per core.
pub fn pipelined_reader_count() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, database) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime: use a separate thread with its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    use sqlx::Connection;
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                    ))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop test database {name}: {dropped:?}");
            }
        }
    }
}

/// A running service.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
    db: Option<TestDb>,
}

impl TestApp {
    /// Starts the service on a brand-new database of the suite's backend.
    pub async fn spawn() -> TestApp {
        let db = TestDb::new().await;
        let mut app = Self::spawn_with(&db).await;
        app.db = Some(db);
        app
    }

    /// Starts the service on an existing test database (restart tests keep `db` alive across
    /// two services). Rate limits are off, as in [`TestApp::spawn_env`].
    pub async fn spawn_with(db: &TestDb) -> TestApp {
        let mut config = Config::for_database(db.url());
        config.rate_limit.enabled = false;
        Self::spawn_config(config).await
    }

    /// Starts the service on `db` with extra environment variables (validated like `serve`).
    /// Rate limits are off (`RATE_LIMIT_ENABLED=false`) unless `env` sets `RATE_LIMIT_ENABLED`:
    /// suites that send many requests from 127.0.0.1 test their own area, and `e2e_ratelimit`
    /// tests the limits (the production default, on, included).
    pub async fn spawn_env(db: &TestDb, env: &[(&str, &str)]) -> TestApp {
        let mut vars: std::collections::HashMap<String, String> = [
            ("HOST", "127.0.0.1".to_string()),
            ("PORT", "0".to_string()),
            ("DATABASE_URL", db.url()),
            ("RATE_LIMIT_ENABLED", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (name, value) in env {
            vars.insert(name.to_string(), value.to_string());
        }
        let config = Config::from_vars(&vars).expect("valid test configuration");
        Self::spawn_config(config).await
    }

    /// Starts the service with a complete configuration.
    pub async fn spawn_config(config: Config) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            TRACING.get_or_init(|| fluxora::telemetry::init("info", LogFormat::Pretty));
        }
        let app = Application::build(config).await.expect("service builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            app.run_until_stopped(token).await.expect("service runs");
        });
        TestApp {
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            shutdown,
            handle: Some(handle),
            db: None,
        }
    }

    /// Stops the service gracefully and waits for it. A database the app owns is dropped with it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.expect("service task ends cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// GET `path` and parse the JSON body (whatever the status).
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("JSON body")
    }

    /// POST `body` to `/api/streams` with an `Idempotency-Key`.
    pub async fn create_with_key(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/streams"))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Creates a stream from `valid_body()` with `overrides` merged in; asserts 201 and returns it.
    pub async fn create_stream(&self, overrides: Value) -> Value {
        let response = self
            .post_json("/api/streams", &with(valid_body(), overrides))
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "create failed: {body}");
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A valid create body for a stream running now: 100 units at 0.001/s, started an hour ago.
pub fn valid_body() -> Value {
    json!({
        "sender": SENDER,
        "recipient": RECIPIENT,
        "depositAmount": "100",
        "ratePerSecond": "0.001",
        "startTime": now() - 3600,
    })
}

/// `base` with the keys of `overrides` replaced (a `null` override removes the key).
pub fn with(mut base: Value, overrides: Value) -> Value {
    if let (Some(target), Some(source)) = (base.as_object_mut(), overrides.as_object()) {
        for (key, value) in source {
            if value.is_null() {
                target.remove(key);
            } else {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    base
}

/// Current unix time in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Asserts the error envelope's shape and returns the error object.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .expect("ascii")
        .to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .expect("content-type")
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(content_type, "application/json");
    let body: Value = response.json().await.expect("json envelope");
    let error = body.get("error").expect("error object").clone();
    assert_eq!(error["code"], code, "code in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert_eq!(
        error["requestId"],
        request_id.as_str(),
        "requestId echoes the header"
    );
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["error"], "envelope has only `error`");
    error
}

/// The `(field, code)` pairs of a validation envelope's details.
pub fn detail_codes(error: &Value) -> Vec<(String, String)> {
    error["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| {
                    (
                        d["field"].as_str().unwrap_or_default().to_string(),
                        d["code"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
