//! The documentation stays true: every error code the service can produce has a row in
//! `docs/api.md`, and the push-ingest example of `docs/indexer.md` runs as written, through the
//! real binary, with the committed body `docs/examples/push-ingest.json`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::binary::Server;
use crate::helpers::{TestApp, TestDb};

/// The repository's root (this crate is `crates/fluxora`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Every error code is documented
// ---------------------------------------------------------------------------------------------

/// String literals of the code shape in `src/` that are not error codes. Setting names are not
/// listed: every setting is read in `src/config.rs` (and its `src/config/` tests), so the
/// literals found there are taken as setting names and skipped.
const NOT_CODES: &[&str] = &[
    // `env!(…)` of Cargo: the fixture directory of unit tests, the service's version.
    "CARGO_MANIFEST_DIR",
    "CARGO_PKG_VERSION",
    // The unit tests' override of `fixtures/chain`.
    "FLUXORA_FIXTURES_DIR",
    // serde's `rename_all` of the code enums.
    "SCREAMING_SNAKE_CASE",
];

/// Whether `token` has the shape of a code: `[A-Z][A-Z0-9]+(_[A-Z0-9]+)+`.
fn is_code_shaped(token: &str) -> bool {
    let mut parts = token.split('_');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let word = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    first.len() >= 2
        && first.as_bytes()[0].is_ascii_uppercase()
        && word(first)
        && !rest.is_empty()
        && rest.iter().all(|part| word(part))
}

/// Every string literal of `text` that is exactly a code-shaped token (`"LEDGER_HASH_INVALID"`).
fn code_literals(text: &str) -> Vec<String> {
    let quotes: Vec<usize> = text.match_indices('"').map(|(at, _)| at).collect();
    quotes
        .windows(2)
        .map(|pair| &text[pair[0] + 1..pair[1]])
        .filter(|token| is_code_shaped(token))
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether `docs/api.md` (its text `api`) has a table row naming `code` in a cell of its own:
/// a line starting with `|` that contains ``| `CODE` |``.
fn documented(api: &str, code: &str) -> bool {
    let cell = format!("| `{code}` |");
    api.lines()
        .any(|line| line.trim_start().starts_with('|') && line.contains(&cell))
}

/// The code-shaped literals of the source, each with the first file it appears in, setting
/// names and [`NOT_CODES`] left out.
fn source_codes() -> Vec<(String, String)> {
    let src = repo_root().join("crates/fluxora/src");
    let config_dir = src.join("config");
    let files = rust_files(&src);
    let is_config = |path: &Path| path == src.join("config.rs") || path.starts_with(&config_dir);
    let settings: std::collections::BTreeSet<String> = files
        .iter()
        .filter(|path| is_config(path))
        .flat_map(|path| code_literals(&std::fs::read_to_string(path).expect("read source")))
        .collect();
    let mut codes: std::collections::BTreeMap<String, String> = Default::default();
    for path in files.iter().filter(|path| !is_config(path)) {
        let text = std::fs::read_to_string(path).expect("read source");
        for code in code_literals(&text) {
            if settings.contains(&code) || NOT_CODES.contains(&code.as_str()) {
                continue;
            }
            let shown = path.strip_prefix(repo_root()).unwrap_or(path);
            codes
                .entry(code)
                .or_insert_with(|| shown.display().to_string());
        }
    }
    codes.into_iter().collect()
}

#[test]
fn every_error_code_in_the_source_is_documented() {
    let codes = source_codes();
    // The scan itself works: codes of every family are found (a broken scanner finds none).
    for known in [
        "VALIDATION_ERROR",
        "STRKEY_INVALID",
        "LEDGER_HASH_INVALID",
        "CONTRACT_ID_MISMATCH",
        "ADDRESS_FORBIDDEN",
        "SECRET_INVALID",
        "FIELD_VALUE_OUT_OF_RANGE",
    ] {
        assert!(
            codes.iter().any(|(code, _)| code == known),
            "the scan of crates/fluxora/src did not find {known}"
        );
    }
    assert!(
        !codes.iter().any(|(code, _)| code == "DATABASE_URL"),
        "setting names are not codes"
    );

    let api = read("docs/api.md");
    let missing: Vec<String> = codes
        .iter()
        .filter(|(code, _)| !documented(&api, code))
        .map(|(code, file)| format!("{code} (in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes produced by the source but without a row in docs/api.md (add one to the \
         table of the route that returns it; a literal that is not a code goes in NOT_CODES of \
         tests/it/e2e_docs.rs): {missing:#?}"
    );
}

#[test]
fn the_documentation_check_finds_a_missing_code() {
    let api = read("docs/api.md");
    // A row is found; a code mentioned only in prose, or absent, is not.
    assert!(documented(&api, "LEDGER_HASH_INVALID"));
    let without_row: String = api
        .lines()
        .filter(|line| !line.contains("| `LEDGER_HASH_INVALID` |"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!documented(&without_row, "LEDGER_HASH_INVALID"));
    assert!(!documented(&api, "NOT_A_REAL_CODE"));
    // The scanner sees literals exactly: quotes around the token, nothing else.
    assert_eq!(
        code_literals(r#"f("LEDGER_HASH_INVALID", "a B_C", "XY_1", "X_Y", "lower_case")"#),
        ["LEDGER_HASH_INVALID", "XY_1"]
    );
}

#[tokio::test]
async fn every_envelope_code_is_documented() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/openapi.json").await;
    let codes: Vec<String> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("the ErrorCode schema lists the envelope codes: {document}"))
        .iter()
        .map(|code| code.as_str().expect("a code is a string").to_owned())
        .collect();
    assert!(codes.contains(&"RATE_LIMITED".to_owned()), "{codes:?}");
    let api = read("docs/api.md");
    let missing: Vec<&String> = codes.iter().filter(|c| !documented(&api, c)).collect();
    assert!(
        missing.is_empty(),
        "envelope codes of /openapi.json without a row in docs/api.md's envelope table: \
         {missing:?}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The push-ingest example of docs/indexer.md
// ---------------------------------------------------------------------------------------------

/// The heading of the example in `docs/indexer.md`.
const EXAMPLE_HEADING: &str = "### Example: one real event, pushed";

/// The fenced code blocks (language, content) of the section under `heading`, in order.
fn code_blocks(markdown: &str, heading: &str) -> Vec<(String, String)> {
    let start = markdown
        .lines()
        .position(|line| line.trim_end() == heading)
        .unwrap_or_else(|| panic!("docs/indexer.md has no heading {heading:?}"));
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines().skip(start + 1) {
        match open.as_mut() {
            None if line.starts_with('#') => break,
            None => {
                if let Some(language) = line.strip_prefix("```") {
                    open = Some((language.trim().to_owned(), String::new()));
                }
            }
            Some((_, content)) => {
                if line.starts_with("```") {
                    blocks.extend(open.take());
                } else {
                    content.push_str(line);
                    content.push('\n');
                }
            }
        }
    }
    blocks
}

/// The path after `http://localhost:3000` in a shell block (the one URL it calls).
fn path_called(block: &str) -> String {
    let (_, after) = block
        .split_once("http://localhost:3000")
        .unwrap_or_else(|| panic!("no http://localhost:3000 URL in {block}"));
    after
        .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_push_ingest_example_of_the_docs_runs_as_written() {
    let indexer = read("docs/indexer.md");
    let blocks = code_blocks(&indexer, EXAMPLE_HEADING);
    let languages: Vec<&str> = blocks
        .iter()
        .map(|(language, _)| language.as_str())
        .collect();
    assert_eq!(
        languages,
        ["sh", "sh", "json", "sh", "json"],
        "the example is: start the server, push, the report, read the stream, the stream"
    );
    let (serve, push, report, get, stream) = (
        &blocks[0].1,
        &blocks[1].1,
        &blocks[2].1,
        &blocks[3].1,
        &blocks[4].1,
    );

    // The server, with the settings the example exports (on a database of its own here).
    assert!(serve.contains("-p fluxora -- serve"), "{serve}");
    let env: Vec<(String, String)> = serve
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .map(|assignment| {
            let (name, value) = assignment.split_once('=').expect("NAME=value");
            (name.to_owned(), value.trim_matches('\'').to_owned())
        })
        .collect();
    let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["INDEXER_WORKER_TOKEN", "FLUXORA_CONTRACT_ID"]);
    let token = env[0].1.clone();
    let db = TestDb::new().await;
    let env_refs: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let server = Server::start_with(&db.url(), &env_refs).await;
    let client = reqwest::Client::new();

    // The push: the committed body, with the token the server was given.
    const BODY_FILE: &str = "docs/examples/push-ingest.json";
    assert!(
        push.contains(&format!("--data-binary @{BODY_FILE}")),
        "{push}"
    );
    assert!(
        push.contains(&format!("x-indexer-worker-token: {token}'")),
        "{push}"
    );
    assert!(push.contains("Content-Type: application/json"), "{push}");
    let body = std::fs::read(repo_root().join(BODY_FILE)).expect("the example body");
    let response = client
        .post(format!("{}{}", server.base, path_called(push)))
        .header("content-type", "application/json")
        .header("x-indexer-worker-token", &token)
        .body(body.clone())
        .send()
        .await
        .expect("push");
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.expect("the ingest report");
    let documented: Value = serde_json::from_str(report).expect("the documented report is JSON");
    assert_eq!(
        answered, documented,
        "the ingest report is the documented one"
    );

    // The chain stream, exactly as documented (chain times are ledger close times, and the
    // stream ended in 2025: nothing in it depends on when the test runs).
    let response = client
        .get(format!("{}{}", server.base, path_called(get)))
        .send()
        .await
        .expect("read the stream");
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.expect("the stream");
    let documented: Value = serde_json::from_str(stream).expect("the documented stream is JSON");
    assert_eq!(
        answered, documented,
        "the chain stream is the documented one"
    );
    assert_eq!(answered["source"], "chain");
    server.terminate().await;

    // The body is the fixtures' event with its ledger's hash, as docs/examples/README.md says.
    let body: Value = serde_json::from_slice(&body).expect("the body is JSON");
    let event_id = body["events"][0]["id"]
        .as_str()
        .expect("an event id")
        .to_owned();
    let scenario: Value =
        serde_json::from_str(&read("fixtures/chain/fluxora-scenario.getEvents.json")).unwrap();
    let mut event = scenario["pages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|page| page["result"]["events"].as_array().unwrap())
        .find(|event| event["id"] == event_id.as_str())
        .expect("the pushed event is a fixture event")
        .clone();
    let ledgers: Value = serde_json::from_str(&read("fixtures/chain/ledgers.json")).unwrap();
    let hash = ledgers["main"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ledger| ledger["sequence"] == event["ledger"])
        .expect("its ledger is listed")["hash"]
        .clone();
    event["ledgerHash"] = hash;
    assert_eq!(body, json!({ "events": [event] }));
}
