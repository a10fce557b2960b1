//! TLS settings of the PostgreSQL connections, read once from `DATABASE_URL` (`docs/operations.md`,
//! "TLS to PostgreSQL and Redis").
//!
//! The parameters and their meaning follow libpq: `sslmode` (`disable`, `prefer` — the default —,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of CA certificates),
//! `sslcert` and `sslkey` (a client certificate and its key, given together). A parameter
//! missing from the URL is taken from `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` or `PGSSLKEY`,
//! as libpq and sqlx do. Every PostgreSQL client of the service (the sqlx pool, the leadership
//! lock's connection, the pipelined readers) is configured from one [`PostgresTls`].

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The URL parameters this module reads; they are taken out of the URL handed to tokio-postgres,
/// which knows only some of them.
pub const TLS_URL_PARAMETERS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// How a connection uses TLS (libpq's `sslmode`; its `allow` is not offered: tokio-postgres has
/// no such mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it (certificate not checked), plain TCP otherwise.
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless `sslrootcert` is given:
    /// then as [`SslMode::VerifyCa`]).
    Require,
    /// TLS, and the server's certificate chain must lead to a trusted CA.
    VerifyCa,
    /// As [`SslMode::VerifyCa`], and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// Whether the certificate chain is checked against the trusted CAs.
    pub fn verifies_chain(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS settings of `DATABASE_URL` (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTls {
    /// `sslmode` as given (default [`SslMode::Prefer`]); see [`PostgresTls::mode`] for the one
    /// applied.
    pub requested: SslMode,
    /// `sslrootcert`: CA certificates (PEM) trusted in addition to the platform's roots.
    pub root_cert: Option<PathBuf>,
    /// `sslcert`: the client certificate chain (PEM), with [`PostgresTls::client_key`].
    pub client_cert: Option<PathBuf>,
    /// `sslkey`: the client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
}

/// Why the TLS settings of `DATABASE_URL` are unusable. The message names the parameter and
/// the file, never the URL (it may carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostgresTlsError {
    /// `sslmode` is not one of libpq's values.
    #[error("sslmode={0} is not one of disable, prefer, require, verify-ca, verify-full")]
    Mode(String),
    /// Only one of `sslcert` and `sslkey` is given.
    #[error("sslcert and sslkey must be given together")]
    ClientPair,
    /// A certificate or key file cannot be read or holds nothing usable.
    #[error("{parameter}={} {problem}", path.display())]
    File {
        /// `sslrootcert`, `sslcert` or `sslkey`.
        parameter: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl PostgresTls {
    /// The settings of `url` (a `postgres://` URL), parameters missing from it taken from the
    /// variables `env` returns (`PGSSLMODE`, ...). Files are not read here (see
    /// [`PostgresTls::check_files`]).
    ///
    /// Errors: [`PostgresTlsError::Mode`] for an unknown `sslmode`, [`PostgresTlsError::ClientPair`]
    /// when only one of `sslcert`/`sslkey` is set.
    pub fn from_url(
        url: &url::Url,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PostgresTlsError> {
        let param = |name: &str, var: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .or_else(|| env(var))
                .filter(|value| !value.is_empty())
        };
        let requested = match param("sslmode", "PGSSLMODE") {
            None => SslMode::Prefer,
            Some(value) => SslMode::parse(&value).ok_or(PostgresTlsError::Mode(value))?,
        };
        let client_cert = param("sslcert", "PGSSLCERT").map(PathBuf::from);
        let client_key = param("sslkey", "PGSSLKEY").map(PathBuf::from);
        if client_cert.is_some() != client_key.is_some() {
            return Err(PostgresTlsError::ClientPair);
        }
        Ok(Self {
            requested,
            root_cert: param("sslrootcert", "PGSSLROOTCERT").map(PathBuf::from),
            client_cert,
            client_key,
        })
    }

    /// The mode applied: as requested, except that `require` with a `sslrootcert` checks the
    /// chain (`verify-ca`), as libpq does.
    pub fn mode(&self) -> SslMode {
        match self.requested {
            SslMode::Require if self.root_cert.is_some() => SslMode::VerifyCa,
            mode => mode,
        }
    }

    /// Reads the certificate and key files, so that a missing or malformed one is a clear
    /// configuration error at boot rather than a failed connection later.
    ///
    /// Errors: [`PostgresTlsError::File`] naming the parameter, the file and the problem.
    pub fn check_files(&self) -> Result<(), PostgresTlsError> {
        if let Some(path) = &self.root_cert {
            read_certificates(path).map_err(|problem| file_error("sslrootcert", path, problem))?;
        }
        if let Some(path) = &self.client_cert {
            read_certificates(path).map_err(|problem| file_error("sslcert", path, problem))?;
        }
        if let Some(path) = &self.client_key {
            read_private_key(path).map_err(|problem| file_error("sslkey", path, problem))?;
        }
        Ok(())
    }
}

fn file_error(parameter: &'static str, path: &Path, problem: String) -> PostgresTlsError {
    PostgresTlsError::File {
        parameter,
        path: path.to_path_buf(),
        problem,
    }
}

/// The PEM certificates of `path` (at least one).
///
/// Errors: a sentence saying why the file is unusable (unreadable, not PEM, no certificate).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|error| format!("cannot be read: {error}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("is not a PEM certificate file: {error}"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certificates)
}

/// The PEM private key of `path`.
///
/// Errors: a sentence saying why the file is unusable (unreadable, no PEM private key).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|error| format!("cannot be read: {error}"))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|error| format!("holds no usable PEM private key: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, env: &[(&str, &str)]) -> Result<PostgresTls, PostgresTlsError> {
        let url = url::Url::parse(url).unwrap();
        PostgresTls::from_url(&url, |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn prefer_is_the_default_and_the_url_wins_over_the_environment() {
        let plain = settings("postgres://u:p@db/x", &[]).unwrap();
        assert_eq!(plain.mode(), SslMode::Prefer);
        assert_eq!(plain.root_cert, None);
        let from_env = settings("postgres://db/x", &[("PGSSLMODE", "verify-full")]).unwrap();
        assert_eq!(from_env.mode(), SslMode::VerifyFull);
        let url_wins = settings(
            "postgres://db/x?sslmode=disable",
            &[("PGSSLMODE", "verify-full")],
        )
        .unwrap();
        assert_eq!(url_wins.mode(), SslMode::Disable);
    }

    #[test]
    fn require_with_a_root_certificate_checks_the_chain_like_libpq() {
        let require = settings("postgres://db/x?sslmode=require", &[]).unwrap();
        assert_eq!(require.mode(), SslMode::Require);
        let with_ca = settings("postgres://db/x?sslmode=require&sslrootcert=/ca.pem", &[]).unwrap();
        assert_eq!(with_ca.requested, SslMode::Require);
        assert_eq!(with_ca.mode(), SslMode::VerifyCa);
        assert_eq!(with_ca.root_cert.as_deref(), Some(Path::new("/ca.pem")));
    }

    #[test]
    fn unknown_modes_and_half_client_pairs_are_refused() {
        assert_eq!(
            settings("postgres://db/x?sslmode=verify_full", &[]),
            Err(PostgresTlsError::Mode("verify_full".into()))
        );
        assert_eq!(
            settings("postgres://db/x?sslcert=/c.pem", &[]),
            Err(PostgresTlsError::ClientPair)
        );
    }

    #[test]
    fn unreadable_or_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let tls = settings(
            &format!(
                "postgres://db/x?sslmode=verify-full&sslrootcert={}",
                missing.display()
            ),
            &[],
        )
        .unwrap();
        let error = tls.check_files().unwrap_err().to_string();
        assert!(error.starts_with("sslrootcert="), "{error}");
        assert!(error.contains("cannot be read"), "{error}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let tls = settings(
            &format!("postgres://db/x?sslrootcert={}", garbage.display()),
            &[],
        )
        .unwrap();
        let error = tls.check_files().unwrap_err().to_string();
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }
}
