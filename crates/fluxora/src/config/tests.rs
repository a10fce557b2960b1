//! Tests of [`super::Config::from_vars`]: defaults, validation, every section.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults() {
    let config = Config::from_vars(&HashMap::new()).unwrap();
    assert_eq!(config.port, 3000);
    assert_eq!(config.database.url, "sqlite://fluxora.db");
    assert_eq!(config.network, StellarNetwork::Testnet);
    assert_eq!(
        config.network_passphrase,
        "Test SDF Network ; September 2015"
    );
    assert_eq!(config.indexer.stall_threshold_ms, 300_000);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn every_problem_is_reported() {
    let err = Config::from_vars(&vars(&[
        ("PORT", "70000"),
        ("LOG_FORMAT", "xml"),
        ("STELLAR_NETWORK", "mainnet"),
        ("NETWORK_PASSPHRASE", "Test SDF Network ; September 2015"),
        (
            "FLUXORA_CONTRACT_ID",
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
        ),
        ("DATABASE_URL", "mysql://x"),
    ]))
    .unwrap_err();
    let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        vec![
            "PORT",
            "LOG_FORMAT",
            "DATABASE_URL",
            "NETWORK_PASSPHRASE",
            "FLUXORA_CONTRACT_ID"
        ]
    );
    assert!(err
        .to_string()
        .contains("PORT: '70000' is not a port number"));
}

#[test]
fn indexer_settings() {
    let rpc_without_contract =
        Config::from_vars(&vars(&[("STELLAR_RPC_URL", "https://rpc.example")])).unwrap_err();
    assert_eq!(rpc_without_contract.0[0].variable, "FLUXORA_CONTRACT_ID");
    let short_token = Config::from_vars(&vars(&[("INDEXER_WORKER_TOKEN", "short")])).unwrap_err();
    assert_eq!(short_token.0[0].variable, "INDEXER_WORKER_TOKEN");
    let push_only = Config::from_vars(&vars(&[(
        "INDEXER_WORKER_TOKEN",
        "a-long-enough-worker-token",
    )]))
    .unwrap();
    assert!(push_only.indexer.is_configured());
    assert!(!push_only.indexer.polls_rpc());
    assert!(
        !format!("{push_only:?}").contains("a-long-enough"),
        "the token is never printed"
    );
    assert!(!Config::from_vars(&HashMap::new())
        .unwrap()
        .indexer
        .is_configured());
}

#[test]
fn auth_settings() {
    let defaults = Config::from_vars(&HashMap::new()).unwrap();
    assert_eq!(defaults.auth, AuthConfig::default());
    assert!(!defaults.auth.require_read_key);
    let set = Config::from_vars(&vars(&[
        ("AUTH_REQUIRE_READ_KEY", "TRUE"),
        ("API_KEY_REFRESH_MS", "250"),
    ]))
    .unwrap();
    assert!(set.auth.require_read_key);
    assert_eq!(set.auth.key_refresh_interval, Duration::from_millis(250));
    let bad = Config::from_vars(&vars(&[
        ("AUTH_REQUIRE_READ_KEY", "maybe"),
        ("API_KEY_REFRESH_MS", "10"),
    ]))
    .unwrap_err();
    let names: Vec<_> = bad.0.iter().map(|p| p.variable).collect();
    assert_eq!(names, vec!["AUTH_REQUIRE_READ_KEY", "API_KEY_REFRESH_MS"]);
}

#[test]
fn rate_limit_and_hardening_settings() {
    let defaults = Config::from_vars(&HashMap::new()).unwrap();
    assert!(defaults.rate_limit.enabled);
    assert_eq!(defaults.rate_limit.ip_per_minute, 600);
    assert_eq!(defaults.rate_limit.key_per_minute, 3000);
    assert_eq!(defaults.rate_limit.redis_prefix, "fluxora:rl:");
    assert!(defaults.rate_limit.redis_url.is_none());
    assert_eq!(defaults.http.request_timeout, Duration::from_secs(30));
    assert!(defaults.http.cors.is_disabled());
    assert!(defaults.http.trusted_proxies.is_empty());

    let err = Config::from_vars(&vars(&[
        ("RATE_LIMIT_ENABLED", "maybe"),
        ("RATE_LIMIT_IP_PER_MINUTE", "0"),
        ("RATE_LIMIT_KEY_PER_MINUTE", "lots"),
        ("REDIS_URL", "http://cache:6379"),
        ("TRUST_PROXY", "10.0.0.1,not-an-ip"),
        ("REQUEST_TIMEOUT_MS", "0"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example/path"),
    ]))
    .unwrap_err();
    let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        vec![
            "RATE_LIMIT_ENABLED",
            "RATE_LIMIT_IP_PER_MINUTE",
            "RATE_LIMIT_KEY_PER_MINUTE",
            "REDIS_URL",
            "TRUST_PROXY",
            "REQUEST_TIMEOUT_MS",
            "CORS_ALLOWED_ORIGINS"
        ]
    );
    assert!(err.to_string().contains("'not-an-ip'"), "{err}");

    let with_redis = Config::from_vars(&vars(&[
        ("REDIS_URL", "redis://:hunter2@cache:6379/0"),
        ("RATE_LIMIT_ENABLED", "false"),
    ]))
    .unwrap();
    assert!(!with_redis.rate_limit.enabled);
    assert!(
        !format!("{with_redis:?}").contains("hunter2"),
        "the Redis password is never printed"
    );
}

#[test]
fn worker_threads() {
    let defaults = Config::from_vars(&HashMap::new()).unwrap();
    assert_eq!(
        defaults.worker_threads, None,
        "unset: one per CPU (Tokio's default)"
    );
    for (raw, expected) in [("1", 1), ("4", 4), ("1024", 1024)] {
        let config = Config::from_vars(&vars(&[("WORKER_THREADS", raw)])).unwrap();
        assert_eq!(config.worker_threads.map(|n| n.get()), Some(expected));
    }
    for raw in ["0", "1025", "-1", "two", "1.5"] {
        let err = Config::from_vars(&vars(&[("WORKER_THREADS", raw)])).unwrap_err();
        assert_eq!(err.0.len(), 1, "{raw}");
        assert_eq!(err.0[0].variable, "WORKER_THREADS");
        assert!(
            err.0[0].message.contains("from 1 to 1024"),
            "{raw}: {}",
            err.0[0].message
        );
    }
}

#[test]
fn database_password_is_redacted() {
    assert_eq!(
        redact_url("postgres://user:hunter2@db:5432/x"),
        "postgres://user:***@db:5432/x"
    );
}

#[test]
fn the_default_is_the_configuration_of_an_empty_environment() {
    let read = Config::from_vars(&HashMap::new()).unwrap();
    assert_eq!(format!("{read:?}"), format!("{:?}", Config::default()));
}

#[test]
fn horizon_url_is_reported_as_ignored_not_refused() {
    let vars = HashMap::from([("HORIZON_URL".to_string(), "not even a url".to_string())]);
    let read = Config::from_vars(&vars).unwrap();
    assert_eq!(read.ignored_settings, vec!["HORIZON_URL"]);
    assert!(Config::default().ignored_settings.is_empty());
}

#[test]
fn for_database_listens_on_localhost_with_defaults() {
    let config = Config::for_database("sqlite::memory:");
    assert_eq!(config.host, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(config.port, 0);
    assert_eq!(config.database.url, "sqlite::memory:");
    let expected = Config {
        host: config.host,
        port: 0,
        database: DatabaseConfig {
            url: "sqlite::memory:".into(),
            ..DatabaseConfig::default()
        },
        ..Config::default()
    };
    assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    // A URL the configuration refuses is kept, for the store to report when it opens.
    let odd = Config::for_database("mysql://x");
    assert_eq!(odd.database.url, "mysql://x");
    assert_eq!(odd.port, 0);
    assert_eq!(odd.database.max_connections, 8);
}

#[test]
fn postgres_urls() {
    assert!(is_postgres_url("postgres://u:p@db:5432/x"));
    assert!(is_postgres_url("postgresql://db/x"));
    assert!(!is_postgres_url("sqlite://fluxora.db"));
    assert!(!is_postgres_url("mysql://x"));
}

#[test]
fn database_locations_never_carry_credentials() {
    for (url, location) in [
        ("sqlite://fluxora.db", "fluxora.db"),
        ("sqlite:///data/fluxora.db", "/data/fluxora.db"),
        ("sqlite:///tmp/x.db?mode=rwc", "/tmp/x.db"),
        (
            "postgres://u:hunter2@db.internal:6543/fluxora",
            "db.internal:6543/fluxora",
        ),
        (
            "postgresql://postgres@127.0.0.1/x?sslmode=require",
            "127.0.0.1:5432/x",
        ),
    ] {
        assert_eq!(super::database_location(url), location, "{url}");
    }
}

#[test]
fn postgres_tls_settings_are_checked_at_boot() {
    let err = Config::from_vars(&vars(&[(
        "DATABASE_URL",
        "postgres://u:hunter2@db/x?sslmode=verify_full",
    )]))
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(
        message.contains(
            "sslmode=verify_full is not one of disable, prefer, require, verify-ca, verify-full"
        ),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let err = Config::from_vars(&vars(&[(
        "DATABASE_URL",
        "postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    )]))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("sslrootcert=/nonexistent/ca.pem cannot be read"),
        "{err}"
    );
    // A mode from PGSSLMODE is checked like one in the URL.
    let err = Config::from_vars(&vars(&[
        ("DATABASE_URL", "postgres://db/x"),
        ("PGSSLMODE", "sometimes"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("sslmode=sometimes"), "{err}");

    let good = Config::from_vars(&vars(&[(
        "DATABASE_URL",
        "postgres://db/x?sslmode=verify-full",
    )]));
    assert!(good.is_ok());
}

#[test]
fn rediss_urls_and_the_redis_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let ca = ca.display().to_string();
    let tls = Config::from_vars(&vars(&[
        ("REDIS_URL", "rediss://:hunter2@cache:6380/0"),
        ("REDIS_CA_FILE", &ca),
    ]))
    .unwrap();
    assert!(tls.rate_limit.redis_url.is_some());
    assert_eq!(
        tls.rate_limit.redis_ca.as_deref(),
        Some(std::fs::read(&ca).unwrap().as_slice())
    );

    let err = Config::from_vars(&vars(&[
        ("REDIS_URL", "redis://cache:6379"),
        ("REDIS_CA_FILE", &ca),
    ]))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("REDIS_CA_FILE: is only used with a rediss:// REDIS_URL"),
        "{err}"
    );
    let err = Config::from_vars(&vars(&[
        ("REDIS_URL", "rediss://cache:6380"),
        ("REDIS_CA_FILE", "/nonexistent/ca.pem"),
    ]))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/ca.pem cannot be read"),
        "{err}"
    );
    let err =
        Config::from_vars(&vars(&[("REDIS_URL", "rediss://cache:6380/#insecure")])).unwrap_err();
    assert!(err.to_string().contains("REDIS_URL"), "{err}");
}

#[test]
fn connection_and_health_settings() {
    let defaults = Config::from_vars(&vars(&[])).unwrap();
    assert_eq!(
        defaults.http.header_read_timeout,
        Duration::from_millis(10_000)
    );
    assert_eq!(
        defaults.http.keepalive_idle_timeout,
        Duration::from_millis(75_000)
    );
    assert_eq!(defaults.http.max_connections, 4096);
    assert_eq!(defaults.http.max_connections_per_ip, 256);
    assert_eq!(defaults.health_check_interval, Duration::from_millis(1000));
    let set = Config::from_vars(&vars(&[
        ("HTTP_HEADER_READ_TIMEOUT_MS", "2500"),
        ("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", "30000"),
        ("HTTP_MAX_CONNECTIONS", "100"),
        ("HTTP_MAX_CONNECTIONS_PER_IP", "10"),
        ("HEALTH_CHECK_INTERVAL_MS", "250"),
    ]))
    .unwrap();
    assert_eq!(set.http.header_read_timeout, Duration::from_millis(2500));
    assert_eq!(
        set.http.keepalive_idle_timeout,
        Duration::from_millis(30_000)
    );
    assert_eq!(set.http.max_connections, 100);
    assert_eq!(set.http.max_connections_per_ip, 10);
    assert_eq!(set.health_check_interval, Duration::from_millis(250));
    let err = Config::from_vars(&vars(&[
        ("HTTP_HEADER_READ_TIMEOUT_MS", "0"),
        ("HTTP_KEEPALIVE_IDLE_TIMEOUT_MS", "soon"),
        ("HTTP_MAX_CONNECTIONS", "0"),
        ("HTTP_MAX_CONNECTIONS_PER_IP", "-1"),
        ("HEALTH_CHECK_INTERVAL_MS", "10"),
    ]))
    .unwrap_err();
    let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        vec![
            "HTTP_HEADER_READ_TIMEOUT_MS",
            "HTTP_KEEPALIVE_IDLE_TIMEOUT_MS",
            "HTTP_MAX_CONNECTIONS",
            "HTTP_MAX_CONNECTIONS_PER_IP",
            "HEALTH_CHECK_INTERVAL_MS"
        ]
    );
}
