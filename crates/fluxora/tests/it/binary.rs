//! Running the real `fluxora` binary: a clean environment, a free port, JSON logs collected in
//! the background (so a busy server never blocks on a full stdout pipe), SIGTERM and SIGKILL.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_fluxora");
/// Upper bound for the binary to start or stop; a hang fails the test instead of blocking CI.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary with a clean environment, listening on a free port of 127.0.0.1, on `database_url`.
pub fn command(database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("DATABASE_URL", database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A running `fluxora serve`.
pub struct Server {
    child: Child,
    log: Arc<Mutex<Vec<Value>>>,
    reader: JoinHandle<()>,
    pub base: String,
}

impl Server {
    /// Starts `fluxora serve` on `database_url` with extra environment, and waits until it
    /// listens.
    pub async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut command = command(database_url);
        command.arg("serve");
        for (name, value) in env {
            command.env(name, value);
        }
        Self::spawn(command).await
    }

    /// Starts `fluxora serve` like [`Server::start_with`], under a limit of `nofile` open file
    /// descriptors (through util-linux's `prlimit`).
    pub async fn start_limited(database_url: &str, env: &[(&str, &str)], nofile: u32) -> Server {
        let template = command(database_url);
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg(BIN)
            .arg("serve")
            .env_clear();
        for (name, value) in template.as_std().get_envs() {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        for (name, value) in env {
            command.env(name, value);
        }
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Self::spawn(command).await
    }

    async fn spawn(mut command: Command) -> Server {
        let mut child = command.spawn().expect("spawn fluxora");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        let reader = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut address_tx = Some(address_tx);
                while let Ok(Some(line)) = lines.next_line().await {
                    let entry: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|_| panic!("stdout line is not JSON: {line}"));
                    if entry["message"] == "fluxora listening" {
                        if let (Some(tx), Some(address)) =
                            (address_tx.take(), entry["address"].as_str())
                        {
                            let _ = tx.send(address.to_string());
                        }
                    }
                    log.lock().unwrap().push(entry);
                }
            })
        };
        let address = tokio::time::timeout(PROCESS_TIMEOUT, address_rx)
            .await
            .expect("fluxora starts in time")
            .unwrap_or_else(|_| {
                panic!("fluxora exited before listening: {:?}", log.lock().unwrap())
            });
        Server {
            child,
            log,
            reader,
            base: format!("http://{address}"),
        }
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<Value> {
        self.log.lock().unwrap().clone()
    }

    /// Starts `fluxora serve` on `database_url`.
    pub async fn start(database_url: &str) -> Server {
        Self::start_with(database_url, &[]).await
    }

    /// Sends SIGTERM, waits for a clean exit (code 0) and returns every log line.
    pub async fn terminate(self) -> Vec<Value> {
        self.sigterm();
        let (exit, log) = self.wait_exit().await;
        assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
        log
    }

    /// Sends SIGTERM and returns at once.
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("pid").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) until a log line with `message` appears, and returns it.
    pub async fn wait_for_log(&self, message: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PROCESS_TIMEOUT;
        loop {
            if let Some(line) = self.log().into_iter().find(|e| e["message"] == message) {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line '{message}' in {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded) for the process to exit; its exit status and every log line.
    pub async fn wait_exit(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        let exit = tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        tokio::time::timeout(PROCESS_TIMEOUT, &mut self.reader)
            .await
            .expect("stdout closes")
            .expect("log reader");
        let log = self.log.lock().unwrap().clone();
        (exit, log)
    }

    /// SIGKILL: the process dies at once, mid-request, without any cleanup.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        tokio::time::timeout(PROCESS_TIMEOUT, self.child.wait())
            .await
            .expect("dies in time")
            .expect("wait");
    }
}
