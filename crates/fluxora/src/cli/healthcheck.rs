//! `fluxora healthcheck`: probes a running service over HTTP and exits 0 when it is healthy, 1
//! when not — the container's `HEALTHCHECK`, so the image needs no curl.
//!
//! By default it asks `http://127.0.0.1:$PORT/health/ready` (database reachable, migrations
//! applied, not shutting down). `HOST` is used instead of 127.0.0.1 when it names a specific
//! address (not `0.0.0.0`/`::`).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// Arguments of `fluxora healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Full URL to probe (default: `http://127.0.0.1:$PORT` + `--path`).
    #[arg(long)]
    url: Option<String>,
    /// Path probed on the local service.
    #[arg(long, default_value = "/health/ready")]
    path: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
}

/// Runs the probe: exit 0 on a 2xx answer, 1 on anything else (non-2xx, refused connection,
/// timeout), 2 when `PORT`/`HOST` are invalid. One line on stdout/stderr says what happened.
pub fn run(args: HealthcheckArgs) -> ExitCode {
    let url = match args.url {
        Some(url) => url,
        None => match local_base_url() {
            Ok(base) => format!("{base}{}", args.path),
            Err(message) => {
                eprintln!("fluxora healthcheck: {message}");
                return ExitCode::from(2);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fluxora healthcheck: could not start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    runtime.block_on(async move {
        let client = match reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                eprintln!("fluxora healthcheck: {error}");
                return ExitCode::from(1);
            }
        };
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                println!("healthy: {url} answered {}", response.status().as_u16());
                ExitCode::SUCCESS
            }
            Ok(response) => {
                eprintln!("unhealthy: {url} answered {}", response.status().as_u16());
                ExitCode::from(1)
            }
            Err(error) => {
                eprintln!("unhealthy: {url}: {error}");
                ExitCode::from(1)
            }
        }
    })
}

/// `http://HOST:PORT` of the local service, from the same variables `fluxora serve` reads.
fn local_base_url() -> Result<String, String> {
    let port = match std::env::var("PORT") {
        Ok(raw) => raw
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("PORT must be a port number 1-65535, got '{raw}'"))?,
        Err(_) => 3000,
    };
    let host = match std::env::var("HOST") {
        Ok(raw) => raw
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("HOST must be an IP address, got '{raw}'"))?,
        Err(_) => IpAddr::from([0, 0, 0, 0]),
    };
    let host = if host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host
    };
    Ok(match host {
        IpAddr::V4(v4) => format!("http://{v4}:{port}"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
    })
}
