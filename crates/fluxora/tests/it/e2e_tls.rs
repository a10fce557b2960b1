//! TLS to PostgreSQL (`docs/operations.md`, "TLS to PostgreSQL and Redis") against a cluster
//! this test starts with `ssl = on`, a test CA and server certificates: every connection of
//! the service (the pool, the pipelined readers, the leadership lock's) is encrypted and checked
//! as `sslmode` says, and a refused certificate or a refused plain connection stops the start
//! with a message naming the server and the cause, never the password.

use serde_json::{json, Value};

use fluxora::app::Application;
use fluxora::config::Config;

use crate::binary::{command, PROCESS_TIMEOUT};
use crate::helpers::TestApp;
use crate::pg_cluster::Cluster;
use crate::pki::TestCa;

/// `cluster`'s URL with `query` (`sslmode=...&...`).
fn url(cluster: &Cluster, query: &str) -> String {
    format!("{}?{query}", cluster.url())
}

/// The start-up error of the service on `database_url` (panics if it starts).
async fn boot_error(database_url: &str) -> String {
    let mut config = Config::for_database(database_url);
    config.rate_limit.enabled = false;
    match Application::build(config).await {
        Ok(_) => panic!("the service started on {database_url}"),
        Err(error) => error.to_string(),
    }
}

/// The service's connections to `cluster` (`application_name` starting with `fluxora`): the
/// application name and whether the connection is encrypted, as `pg_stat_ssl` says.
async fn service_connections(cluster: &Cluster) -> Vec<(String, bool)> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&url(cluster, "sslmode=require"))
        .await
        .expect("admin connection over TLS");
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name LIKE 'fluxora%' ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .expect("pg_stat_ssl");
    admin.close().await.ok();
    rows
}

/// Reads the stream `id` through `app` until the pipelined readers are among the service's
/// connections (a read is what opens them), then returns the connections; panics after 10 s.
async fn wait_for_readers(app: &TestApp, cluster: &Cluster, id: &str) -> Vec<(String, bool)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let read = app.get_json(&format!("/api/streams/{id}")).await;
        assert_eq!(read["id"], id);
        let connections = service_connections(cluster).await;
        if connections.iter().any(|(name, _)| name == "fluxora-reads") {
            return connections;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pipelined readers never connected: {connections:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn verify_full_with_a_custom_ca_encrypts_every_connection() {
    let ca = TestCa::new("Fluxora test CA");
    let cert = ca.issue("server", &["127.0.0.1", "localhost"]);
    let cluster = Cluster::with_tls(&cert, true);
    let database_url = url(
        &cluster,
        &format!("sslmode=verify-full&sslrootcert={}", ca.ca_file.display()),
    );

    let mut config = Config::for_database(&database_url);
    config.rate_limit.enabled = false;
    let app = TestApp::spawn_config(config).await;
    // Starting later: its amounts do not change between the create and the read.
    let created = app
        .create_stream(json!({"startTime": crate::helpers::now() + 100_000}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let read: Value = app.get_json(&format!("/api/streams/{id}")).await;
    assert_eq!(read, created);

    // The pool's connections and the pipelined readers are all there, all encrypted (the
    // cluster refuses plain TCP anyway: a reader without TLS would never connect).
    let connections = wait_for_readers(&app, &cluster, &id).await;
    assert!(
        connections.iter().any(|(name, _)| name == "fluxora"),
        "{connections:?}"
    );
    assert!(
        connections.iter().all(|(_, encrypted)| *encrypted),
        "{connections:?}"
    );

    // The indexer leadership lock's connection, opened with the pool's settings.
    let database = fluxora::store::postgres::PostgresDatabase::connect(
        &Config::for_database(&database_url).database,
    )
    .await
    .unwrap();
    let held = database.try_advisory_lock(7_001).await.unwrap();
    let mut held = held.expect("the lock is free");
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut held)
            .await
            .unwrap();
    assert!(encrypted, "the leadership connection is encrypted");
    app.stop().await;
}

#[tokio::test]
async fn a_tls_only_server_refuses_sslmode_disable_and_serves_require() {
    let ca = TestCa::new("Fluxora test CA");
    let cert = ca.issue("server", &["127.0.0.1"]);
    let cluster = Cluster::with_tls(&cert, true);
    let with_password = |query: &str| {
        format!(
            "postgres://postgres:s3cret-pw@127.0.0.1:{}/postgres?{query}",
            cluster.port
        )
    };

    let error = boot_error(&with_password("sslmode=disable")).await;
    let server = format!("127.0.0.1:{}", cluster.port);
    assert!(
        error.contains(&format!(
            "could not connect to PostgreSQL at {server} (sslmode=disable)"
        )),
        "{error}"
    );
    assert!(error.contains("no encryption"), "{error}");
    assert!(
        !error.contains("s3cret-pw"),
        "the password is never shown: {error}"
    );

    // `require` (no certificate check) and the default `prefer` both negotiate TLS.
    for query in ["sslmode=require", "application_name=x"] {
        let mut config = Config::for_database(with_password(query));
        config.rate_limit.enabled = false;
        let app = TestApp::spawn_config(config).await;
        let created = app.create_stream(json!({})).await;
        let id = created["id"].as_str().unwrap();
        let connections = wait_for_readers(&app, &cluster, id).await;
        assert!(
            connections.iter().all(|(_, encrypted)| *encrypted),
            "{query}: {connections:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_or_from_an_untrusted_ca_stops_the_start() {
    let ca = TestCa::new("Fluxora test CA");
    let other_ca = TestCa::new("Some other CA");
    let cert = ca.issue("server", &["db.example.test"]);
    let cluster = Cluster::with_tls(&cert, true);
    let server = format!("127.0.0.1:{}", cluster.port);

    // The chain is good, the name is not.
    let wrong_host = boot_error(&url(
        &cluster,
        &format!("sslmode=verify-full&sslrootcert={}", ca.ca_file.display()),
    ))
    .await;
    assert!(
        wrong_host.contains(&format!(
            "could not connect to PostgreSQL at {server} (sslmode=verify-full)"
        )),
        "{wrong_host}"
    );
    assert!(
        wrong_host.contains("does not name the host connected to"),
        "{wrong_host}"
    );

    // verify-ca would accept this server (the chain is good), but the driver refuses a name
    // mismatch there too (docs/operations.md, "TLS to PostgreSQL and Redis"): the same message.
    let verify_ca = boot_error(&url(
        &cluster,
        &format!("sslmode=verify-ca&sslrootcert={}", ca.ca_file.display()),
    ))
    .await;
    assert!(
        verify_ca.contains("does not name the host connected to"),
        "{verify_ca}"
    );

    // Another CA (and `require` with a root certificate checks the chain, as libpq does).
    for query in [
        format!(
            "sslmode=verify-ca&sslrootcert={}",
            other_ca.ca_file.display()
        ),
        format!("sslmode=require&sslrootcert={}", other_ca.ca_file.display()),
        // The platform's roots do not hold the test CA.
        "sslmode=verify-full".to_string(),
    ] {
        let error = boot_error(&url(&cluster, &query)).await;
        assert!(error.contains(&server), "{query}: {error}");
        assert!(
            error.contains("not signed by a trusted CA (UnknownIssuer)"),
            "{query}: {error}"
        );
    }

    // The real binary: exit code 1 and the same message in its ERROR log line.
    let output = tokio::time::timeout(
        PROCESS_TIMEOUT,
        command(&url(
            &cluster,
            &format!(
                "sslmode=verify-full&sslrootcert={}",
                other_ca.ca_file.display()
            ),
        ))
        .arg("serve")
        .output(),
    )
    .await
    .expect("fluxora exits in time")
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stopped: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["message"] == "fluxora stopped with an error")
        .unwrap_or_else(|| panic!("no error line in {stdout}"));
    let error = stopped["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "could not connect to PostgreSQL at {server} (sslmode=verify-full)"
        )) && error.contains("UnknownIssuer"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreadable_root_certificate_is_a_configuration_error() {
    let output = tokio::time::timeout(
        PROCESS_TIMEOUT,
        command("postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .arg("serve")
            .output(),
    )
    .await
    .expect("fluxora exits in time")
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("DATABASE_URL")
            && stderr.contains("sslrootcert=/nonexistent/ca.pem cannot be read"),
        "{stderr}"
    );
}
