//! `fluxora webhook sign|verify`: sign a body, or verify a delivery exactly as a consumer using
//! `fluxora-webhooks` would (the contract is `docs/webhooks.md`), to diagnose failing deliveries.
//!
//! Secrets are read only from environment variables named on the command line (never from
//! arguments, which other users can see in the process list), and never printed. Neither
//! command reads the service configuration (`PORT`, `DATABASE_URL`, …), so both work anywhere.
//!
//! Exit codes: 0 signed / verified; 1 the delivery does not verify (`verify` prints why);
//! 2 usage errors: a bad argument, an unset or empty secret variable, an unreadable body file.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Subcommand, ValueEnum};
use fluxora_webhooks::{
    FixedClock, Outcome, Scheme, SecretUsed, Verifier, DEFAULT_GRACE_SECS, DEFAULT_TOLERANCE_SECS,
};
use serde::Serialize;

/// `fluxora webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Print the x-fluxora-signature of a body: lowercase hex HMAC-SHA256 of "{timestamp}.{body}".
    Sign(SignArgs),
    /// Verify one delivery as a consumer would. Prints one JSON line
    /// {"ok","code","status","message"}; exits 0 only when the delivery verifies.
    Verify(VerifyArgs),
}

/// `fluxora webhook sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Name of the environment variable that holds the secret (never the secret itself).
    #[arg(long, value_name = "VAR", value_parser = NonEmptyStringValueParser::new())]
    secret_env: String,
    /// Unix seconds of the delivery attempt (a positive integer).
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    timestamp: u64,
    /// File holding the exact raw body (default: read standard input to its end).
    #[arg(long, value_name = "F")]
    body_file: Option<PathBuf>,
}

/// `fluxora webhook verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Name of the environment variable that holds the current secret.
    #[arg(long, value_name = "VAR", value_parser = NonEmptyStringValueParser::new())]
    secret_env: String,
    /// The delivery id header, as received.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    delivery_id: String,
    /// The timestamp header, as received (checked like the header: ^[1-9][0-9]*$).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    timestamp: String,
    /// The signature header, as received.
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    signature: String,
    /// Verify as of this unix second instead of the system clock (e.g. the time the delivery
    /// was received, to replay a logged request).
    #[arg(long, value_name = "T")]
    now: Option<u64>,
    /// Name of the environment variable that holds the secret before the last rotation.
    #[arg(
        long,
        value_name = "VAR",
        requires = "rotated_at",
        value_parser = NonEmptyStringValueParser::new()
    )]
    previous_secret_env: Option<String>,
    /// Unix second of the last rotation; the previous secret verifies until rotated-at + grace.
    #[arg(long, value_name = "T", requires = "previous_secret_env")]
    rotated_at: Option<u64>,
    /// Grace window of the previous secret, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_GRACE_SECS)]
    grace_secs: u64,
    /// Largest accepted distance between the timestamp and now, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TOLERANCE_SECS)]
    tolerance_secs: u64,
    /// Which signature headers the values come from.
    #[arg(long, value_enum, default_value_t = SchemeArg::Fluxora)]
    scheme: SchemeArg,
    /// File holding the exact raw body (default: read standard input to its end).
    #[arg(long, value_name = "F")]
    body_file: Option<PathBuf>,
}

/// `--scheme`
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemeArg {
    /// x-fluxora-delivery-id / -timestamp / -signature (hex).
    Fluxora,
    /// webhook-id / -timestamp / -signature (`v1,<base64>` entries; a whsec_ secret).
    StandardWebhooks,
}

/// Runs a webhook subcommand and returns the process exit code.
pub fn run(command: WebhookCommand) -> ExitCode {
    let result = match command {
        WebhookCommand::Sign(args) => sign(args),
        WebhookCommand::Verify(args) => verify(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("fluxora webhook: {message}");
            ExitCode::from(2)
        }
    }
}

fn sign(args: SignArgs) -> Result<ExitCode, String> {
    let secret = secret_from_env(&args.secret_env)?;
    let body = read_body(args.body_file.as_ref())?;
    let signature = fluxora_webhooks::sign(&secret, args.timestamp, &body);
    Ok(print_line(&signature))
}

fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let secret = match secret_from_env(&args.secret_env) {
        Ok(secret) => secret,
        Err(message) => {
            // Still one JSON line on stdout for scripts; the usage error goes to stderr.
            let outcome = Outcome::MissingSecret;
            print_line(&report(
                false,
                outcome.code(),
                outcome.http_status(),
                &message,
            ));
            return Err(message);
        }
    };
    let body = read_body(args.body_file.as_ref())?;
    let scheme = match args.scheme {
        SchemeArg::Fluxora => Scheme::Fluxora,
        SchemeArg::StandardWebhooks => Scheme::StandardWebhooks,
    };
    let mut verifier = Verifier::new(secret)
        .with_scheme(scheme)
        .with_grace_secs(args.grace_secs)
        .with_tolerance_secs(args.tolerance_secs);
    if let Some(now) = args.now {
        verifier = verifier.with_clock(FixedClock(now));
    }
    if let (Some(variable), Some(rotated_at)) = (&args.previous_secret_env, args.rotated_at) {
        verifier = verifier.with_previous_secret(secret_from_env(variable)?, rotated_at);
    }
    let (id_header, timestamp_header, signature_header) = scheme.header_names();
    let headers = [
        (id_header, args.delivery_id.as_str()),
        (timestamp_header, args.timestamp.as_str()),
        (signature_header, args.signature.as_str()),
    ];
    let (line, code) = match verifier.verify(headers, &body) {
        Ok(delivery) => {
            let which = match delivery.secret {
                SecretUsed::Current => "the current secret",
                SecretUsed::Previous => "the previous secret (within its grace window)",
            };
            let outcome = Outcome::Ok;
            let message = format!("{} with {which}", outcome.message());
            (
                report(true, outcome.code(), outcome.http_status(), &message),
                ExitCode::SUCCESS,
            )
        }
        Err(rejection) => (
            report(
                false,
                rejection.code(),
                rejection.http_status(),
                &rejection.message(),
            ),
            ExitCode::from(1),
        ),
    };
    let printed = print_line(&line);
    Ok(if printed == ExitCode::SUCCESS {
        code
    } else {
        printed
    })
}

/// The line `verify` prints, fields in this order.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    code: &'a str,
    status: u16,
    message: &'a str,
}

fn report(ok: bool, code: &str, status: u16, message: &str) -> String {
    let report = Report {
        ok,
        code,
        status,
        message,
    };
    // Serialising four plain fields cannot fail.
    serde_json::to_string(&report).unwrap_or_default()
}

/// The bytes of environment variable `name`; an error (naming the variable, never its value)
/// when it is unset or empty.
fn secret_from_env(name: &str) -> Result<Vec<u8>, String> {
    match std::env::var_os(name).map(OsString::into_encoded_bytes) {
        Some(secret) if !secret.is_empty() => Ok(secret),
        Some(_) => Err(format!("the environment variable {name} is empty")),
        None => Err(format!("the environment variable {name} is not set")),
    }
}

fn read_body(path: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    match path {
        Some(path) => std::fs::read(path)
            .map_err(|error| format!("cannot read the body file {}: {error}", path.display())),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut body)
                .map_err(|error| format!("cannot read the body from standard input: {error}"))?;
            Ok(body)
        }
    }
}

/// Writes one line to stdout; a closed stdout is a failure (exit 1), not a panic.
fn print_line(line: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fluxora webhook: cannot write to standard output: {error}");
            ExitCode::from(1)
        }
    }
}
