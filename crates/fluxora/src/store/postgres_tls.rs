//! TLS for the PostgreSQL connections opened outside sqlx (the pipelined readers, over
//! tokio-postgres), and the words of a refused certificate (`docs/operations.md`, "TLS to
//! PostgreSQL and Redis").
//!
//! The rustls configuration here checks what sqlx's checks for the same [`PostgresTls`]
//! settings, so every connection of the service trusts the same servers:
//! - `prefer`, `require` (without `sslrootcert`): encrypted, the certificate not checked;
//! - `verify-ca`: the chain must lead to the platform's roots or a `sslrootcert` CA;
//! - `verify-full`: that, and the certificate must name the host connected to.
//!
//! The crypto provider is ring, as sqlx's build (`tls-rustls-ring-native-roots`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::postgres_tls::{read_certificates, read_private_key, PostgresTls, SslMode};

/// Why a TLS configuration could not be built (a file became unreadable since boot, no root to
/// verify with).
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL TLS settings: {0}")]
pub struct TlsSetupError(String);

/// The rustls client configuration for `tls` (see the module documentation); for
/// [`SslMode::Disable`] it is never used, but built alike.
///
/// Errors: [`TlsSetupError`] when a certificate or key file is unusable, or a verifying mode
/// has no root certificate at all.
pub fn client_config(tls: &PostgresTls) -> Result<ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsSetupError(error.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.mode().verifies_chain() {
        let roots = Arc::new(roots(tls)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|error| TlsSetupError(error.to_string()))?;
        if tls.mode() == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(ChainOnly(webpki))
        }
    } else {
        Arc::new(Unverified(provider))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert)
                .map_err(|problem| TlsSetupError(format!("sslcert {problem}")))?;
            let key = read_private_key(key)
                .map_err(|problem| TlsSetupError(format!("sslkey {problem}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| TlsSetupError(format!("sslcert/sslkey: {error}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The platform's roots plus the `sslrootcert` CAs, like sqlx's (native roots) build.
fn roots(tls: &PostgresTls) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &tls.root_cert {
        let certificates = read_certificates(path)
            .map_err(|problem| TlsSetupError(format!("sslrootcert {problem}")))?;
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| TlsSetupError(format!("sslrootcert: {error}")))?;
        }
    }
    Ok(roots)
}

/// `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer`/`require`: encrypted, whoever the server is (the handshake's signatures are still
/// checked, so the session key belongs to the certificate presented).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a refused server certificate means, in an operator's words, when `error` (or one of
/// its causes) is rustls refusing it; `None` for any other failure.
pub fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        let rustls_error = error.downcast_ref::<rustls::Error>().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(kind)) = rustls_error {
            return Some(describe_certificate_error(kind));
        }
        current = error.source();
    }
    None
}

fn describe_certificate_error(kind: &CertificateError) -> String {
    match kind {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a trusted CA \
             (UnknownIssuer): sslrootcert must name the CA that signed it, or the platform's \
             roots must hold it"
                .into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the server's certificate does not name the host connected to ({kind:?}): \
                 connect by a name the certificate holds"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the server's certificate has expired ({kind:?})")
        }
        other => format!("the server's certificate was refused ({other:?})"),
    }
}
