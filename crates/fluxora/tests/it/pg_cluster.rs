//! A PostgreSQL cluster owned by one test (initdb + pg_ctl on a free port, from `pg_config
//! --bindir`), so a test can stop and start the database under a running service, or serve it
//! over TLS only.

use std::path::Path;

use crate::pki::ServerCert;

/// A test-owned cluster listening on 127.0.0.1:`port`; stopped (immediately) when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    /// `-c` settings added to the server's command line (TLS).
    settings: Vec<String>,
}

impl Cluster {
    fn pg_bin(name: &str) -> String {
        let output = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output();
        match output {
            Ok(output) if output.status.success() => {
                format!("{}/{name}", String::from_utf8_lossy(&output.stdout).trim())
            }
            _ => name.to_string(),
        }
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    /// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
    fn run(&self, tool: &str, args: &[&str]) {
        let program = Self::pg_bin(tool);
        let status = if Self::is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--", &program])
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        } else {
            std::process::Command::new(&program)
                .args(args)
                .stdout(std::process::Stdio::null())
                .status()
        }
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(status.success(), "{tool} {args:?} failed");
    }

    /// The directory handed to the `postgres` user when we are root.
    fn give_to_postgres(path: &Path) {
        if Self::is_root() {
            let _ = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status();
        }
    }

    /// An initialised cluster (trust authentication), not started.
    fn init() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Self::give_to_postgres(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            dir,
            port,
            settings: Vec::new(),
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        cluster
    }

    /// A started cluster without TLS.
    pub fn new() -> Cluster {
        let cluster = Self::init();
        cluster.start();
        cluster
    }

    /// A started cluster with `ssl = on`, serving `cert`. With `tls_only`, `pg_hba.conf` accepts
    /// TCP connections only over TLS (`hostssl`): a plain one is refused with "no pg_hba.conf
    /// entry ... no encryption".
    pub fn with_tls(cert: &ServerCert, tls_only: bool) -> Cluster {
        let mut cluster = Self::init();
        let tls_dir = cluster.dir.path().join("tls");
        std::fs::create_dir(&tls_dir).unwrap();
        let cert_file = tls_dir.join("server.crt");
        let key_file = tls_dir.join("server.key");
        std::fs::copy(&cert.cert_file, &cert_file).unwrap();
        std::fs::copy(&cert.key_file, &key_file).unwrap();
        // PostgreSQL refuses a key file others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        if tls_only {
            let hba = "local all all trust\n\
                       hostssl all all 127.0.0.1/32 trust\n\
                       hostssl all all ::1/128 trust\n";
            let hba_file = cluster.dir.path().join("data").join("pg_hba.conf");
            std::fs::write(hba_file, hba).unwrap();
        }
        Self::give_to_postgres(cluster.dir.path());
        cluster.settings = vec![
            "ssl=on".into(),
            format!("ssl_cert_file={}", cert_file.display()),
            format!("ssl_key_file={}", key_file.display()),
        ];
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn start(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut command = if Self::is_root() {
            let mut command = std::process::Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(Self::pg_bin("pg_ctl"));
            command
        } else {
            std::process::Command::new(Self::pg_bin("pg_ctl"))
        };
        let _ = command
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
