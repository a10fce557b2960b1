//! `fluxora keys create|list|revoke`: manage API keys directly on `DATABASE_URL`, with the same
//! configuration loading as `fluxora migrate` (the schema is migrated first).
//!
//! - `create --name N --scope S [--scope S …] [--json]`: prints the key once, on stdout: alone on
//!   one line (details on stderr), or with `--json` the object `POST /api/admin/keys` returns.
//! - `list [--json]`: every key, revoked ones included (never a key or its hash).
//! - `revoke ID`: revokes; revoking a revoked key succeeds and keeps the first revocation time.
//!
//! Running services pick a change up within `API_KEY_REFRESH_MS` (default 5 s). Keys are never
//! logged, only their ids. Exit codes: 0 done, 1 database failure or unknown key id, 2 invalid
//! name or scope.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use fluxora::apikeys::repo::ApiKeyRepository;
use fluxora::apikeys::{self, NewKey};
use fluxora::config::Config;

/// `fluxora keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, once (stdout). Scopes: streams:read, streams:write,
    /// webhooks:admin.
    Create(CreateArgs),
    /// List every key (id, name, prefix, scopes, createdAt, revokedAt).
    List(ListArgs),
    /// Revoke a key by id.
    Revoke(RevokeArgs),
}

/// `fluxora keys create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A label for the key (1–100 characters).
    #[arg(long, value_name = "N")]
    name: String,
    /// A scope the key carries; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    scopes: Vec<String>,
    /// Print the created key as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `fluxora keys list`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print `{"keys": [...]}` as JSON.
    #[arg(long)]
    json: bool,
}

/// `fluxora keys revoke`
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key's id (`key_…`, as `fluxora keys list` shows it).
    id: String,
}

/// Runs a keys command on the configured database.
pub async fn run(command: KeysCommand, config: &Config) -> ExitCode {
    // Validate before touching the database.
    let new = match &command {
        KeysCommand::Create(args) => {
            let scopes: Vec<&str> = args.scopes.iter().map(String::as_str).collect();
            match NewKey::parse(&args.name, &scopes) {
                Ok(new) => Some(new),
                Err(errors) => {
                    for error in errors.0 {
                        eprintln!(
                            "fluxora keys create: --{}: {}",
                            flag(&error.field),
                            error.message
                        );
                    }
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let store = match fluxora::store::open(&config.database).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("fluxora keys: {error}");
            return ExitCode::from(1);
        }
    };
    let keys = ApiKeyRepository::new(store.clone());
    let code = match (command, new) {
        (KeysCommand::Create(args), Some(new)) => create(&keys, new, args.json).await,
        (KeysCommand::List(args), _) => list(&keys, args.json).await,
        (KeysCommand::Revoke(args), _) => revoke(&keys, &args.id).await,
        (KeysCommand::Create(_), None) => ExitCode::from(2),
    };
    store.close().await;
    code
}

fn flag(field: &str) -> &str {
    match field {
        "scopes" => "scope",
        other => other,
    }
}

async fn create(keys: &ApiKeyRepository, new: NewKey, json: bool) -> ExitCode {
    let (issued, record) = match apikeys::issue(keys, new).await {
        Ok(created) => created,
        Err(error) => {
            eprintln!("fluxora keys create: {error}");
            return ExitCode::from(1);
        }
    };
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        serde_json::to_string(&issued)
            .map_err(std::io::Error::other)
            .and_then(|line| writeln!(stdout, "{line}"))
    } else {
        eprintln!(
            "created API key {} ({}) with scopes {}; it is printed below once and cannot be shown again",
            record.id,
            issued.view.prefix,
            scopes.join(", ")
        );
        writeln!(stdout, "{}", issued.key)
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fluxora keys create: could not print the key ({error}); revoke {} and create another", record.id);
            ExitCode::from(1)
        }
    }
}

async fn list(keys: &ApiKeyRepository, json: bool) -> ExitCode {
    let listed = match keys.list().await {
        Ok(keys) => keys,
        Err(error) => {
            eprintln!("fluxora keys list: {error}");
            return ExitCode::from(1);
        }
    };
    let views: Vec<_> = listed.iter().map(|k| k.view()).collect();
    let mut stdout = std::io::stdout().lock();
    let written = if json {
        writeln!(stdout, "{}", serde_json::json!({ "keys": views }))
    } else {
        let mut result = writeln!(stdout, "ID\tNAME\tPREFIX\tSCOPES\tCREATED\tREVOKED");
        for view in &views {
            let scopes: Vec<&str> = view.scopes.iter().map(|s| s.as_str()).collect();
            result = result.and_then(|()| {
                writeln!(
                    stdout,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    view.id,
                    view.name,
                    view.prefix,
                    scopes.join(","),
                    view.created_at,
                    view.revoked_at.as_deref().unwrap_or("-")
                )
            });
        }
        result
    };
    if written.is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

async fn revoke(keys: &ApiKeyRepository, id: &str) -> ExitCode {
    match apikeys::revoke(keys, id, fluxora::clock::now_millis()).await {
        Ok(Some(record)) => {
            println!(
                "revoked {} (running services stop accepting it within API_KEY_REFRESH_MS)",
                record.id
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("fluxora keys revoke: no API key has this id");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("fluxora keys revoke: {error}");
            ExitCode::from(1)
        }
    }
}
