//! API keys: generation, validation of new keys, and the in-memory view of active keys the auth
//! layer checks every request against.
//!
//! A key is `flx_` followed by 256 bits from the operating system's RNG (`getrandom`), encoded
//! base64url without padding (43 characters; 47 in all). Only its SHA-256 (lowercase hex) is
//! stored, with a non-secret display prefix (the first 8 characters after `flx_`), so a database
//! leak reveals no usable key. Keys are looked up by hash.
//!
//! [`KeyRegistry`] keeps the active keys in memory and is refreshed from the store every
//! `API_KEY_REFRESH_MS` (default 5 s) and at once after a create or revoke through this process:
//! a key created or revoked on another replica (or with `fluxora keys`) takes effect within that
//! interval. A refresh that fails keeps the last view (fail closed: an unreadable database never
//! reopens the API).
//!
//! Nothing here knows HTTP or SQL: the HTTP layer reads a new key with [`NewKey::from_json`]
//! (its body is [`NEW_KEY`]) and the CLI with [`NewKey::parse`]; both call [`issue`] (through
//! [`KeyRegistry::issue`] in the service); storage goes through [`repo::ApiKeyRepository`].

pub mod repo;

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::{format_millis, now_millis};
use crate::fields::{
    Array, BodySpec, Component, FieldReader, FieldSpec, Shape, Text, UnknownFields,
};
use crate::store::StoreError;
use crate::validation::{Collector, FieldError, ValidationErrors};
use repo::ApiKeyRepository;

/// The literal every key starts with.
pub const KEY_PREFIX: &str = "flx_";
/// Random bytes per key (256 bits).
pub const KEY_RANDOM_BYTES: usize = 32;
/// Characters of the display prefix (taken after `flx_`; 48 bits, not enough to guess a key).
pub const DISPLAY_PREFIX_CHARS: usize = 8;
/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The names [`parse_name`] accepts, as an ECMA-262 pattern that reads the same in Rust's and
/// Python's dialects: 1–[`MAX_NAME_CHARS`] characters without control characters (Unicode `Cc`,
/// `char::is_control`) that start and end with a non-whitespace character, with any amount of
/// surrounding whitespace (what `str::trim` removes: Unicode `White_Space`).
pub const NAME_PATTERN: &str = concat!(
    // Leading whitespace.
    r"^[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*",
    // The first character: neither whitespace nor a control character.
    r"[^\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F]",
    // Up to MAX_NAME_CHARS − 2 characters that are not control characters, and a last one that
    // is neither whitespace nor a control character.
    r"(?:[^\u0000-\u001F\u007F-\u009F]{0,98}[^\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000-\u001F\u007F-\u009F])?",
    // Trailing whitespace.
    r"[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$",
);

/// A permission an API key carries: `streams:read`, `streams:write` or `webhooks:admin`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    /// `streams:read`: read streams.
    #[serde(rename = "streams:read")]
    StreamsRead,
    /// `streams:write`: create, cancel, pause and resume streams.
    #[serde(rename = "streams:write")]
    StreamsWrite,
    /// `webhooks:admin`: the admin routes (`/api/webhooks/*` and `/api/admin/*`, listed in
    /// `docs/api.md`).
    #[serde(rename = "webhooks:admin")]
    WebhooksAdmin,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 3] = [
        Scope::StreamsRead,
        Scope::StreamsWrite,
        Scope::WebhooksAdmin,
    ];

    /// The wire name (`streams:read`, `streams:write`, `webhooks:admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::StreamsRead => "streams:read",
            Scope::StreamsWrite => "streams:write",
            Scope::WebhooksAdmin => "webhooks:admin",
        }
    }

    /// Parses a wire name (exact, case-sensitive); `None` for anything else.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}

/// A stored API key (never the key itself: its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id, `key_` + a UUID v7 (hex).
    pub id: String,
    /// Operator-chosen label, 1–[`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// The first [`DISPLAY_PREFIX_CHARS`] characters after `flx_` (non-secret, for recognition).
    pub prefix: String,
    /// SHA-256 of the whole key (`flx_…`), lowercase hex.
    pub key_hash: String,
    /// Scopes, deduplicated, in [`Scope::ALL`] order.
    pub scopes: Vec<Scope>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Revocation time, unix ms; `None` while active.
    pub revoked_at: Option<i64>,
}

impl ApiKeyRecord {
    /// The key as the admin API and `fluxora keys list` show it (never the key nor its hash).
    pub fn view(&self) -> ApiKeyView {
        ApiKeyView {
            id: self.id.clone(),
            name: self.name.clone(),
            prefix: format!("{KEY_PREFIX}{}", self.prefix),
            scopes: self.scopes.clone(),
            created_at: format_millis(self.created_at),
            revoked_at: self.revoked_at.map(format_millis),
        }
    }
}

/// An API key as shown: `{id, name, prefix, scopes, createdAt, revokedAt}` (times RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `flx_` and the display prefix, e.g. `flx_Ab3dE9xQ`.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: String,
    /// Revocation time, `null` while active.
    pub revoked_at: Option<String>,
}

/// A key just created: the view plus the key itself, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    /// The stored key's view.
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// The key (`flx_…`). Never stored, logged or shown again.
    pub key: String,
}

/// Validated input of a new key (`{name, scopes}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Trimmed name.
    pub name: String,
    /// Deduplicated scopes, in [`Scope::ALL`] order.
    pub scopes: Vec<Scope>,
}

/// The `POST /api/admin/keys` body: what [`NewKey::from_json`] reads and the OpenAPI document
/// shows.
pub const NEW_KEY: BodySpec = BodySpec {
    name: "CreateKeyRequest",
    description: "The `POST /api/admin/keys` body. Every failing field is reported; unknown \
                  fields are refused.",
    fields: &[
        FieldSpec::required(
            "name",
            Shape::String(Text::ANY.pattern(NAME_PATTERN).length(Some(1), None)),
            "A label for humans: 1–100 characters once surrounding whitespace is trimmed (the \
             name stored), without control characters.",
        )
        .example("\"deploy-bot\""),
        FieldSpec::required(
            "scopes",
            Shape::Array(
                Array::of(&Shape::Component(Component::of::<Scope>())).count(Some(1), None),
            ),
            "At least one scope.",
        )
        .example("[\"streams:write\"]"),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; allowed: ",
        list_names: true,
        mark_cut: false,
    },
    not_object: "the request body must be a JSON object",
};

impl NewKey {
    /// Validates a name and scope names, reporting every failing field (see [`parse_name`] and
    /// [`parse_scopes`]).
    ///
    /// Errors: [`ValidationErrors`] with `NAME_INVALID` and the errors of [`parse_scopes`].
    pub fn parse(name: &str, scopes: &[&str]) -> Result<NewKey, ValidationErrors> {
        let mut errors = Collector::default();
        let name = errors.take(parse_name(name));
        let scopes = errors.take(parse_scopes(scopes));
        errors.finish()?;
        match (name, scopes) {
            (Some(name), Some(scopes)) => Ok(NewKey { name, scopes }),
            // Unreachable: finish() refused any missing part.
            _ => Err(ValidationErrors(Vec::new())),
        }
    }

    /// Reads a `{name, scopes}` body ([`NEW_KEY`]), reporting every failing field.
    ///
    /// Errors: [`ValidationErrors`] with `INVALID_BODY` (not an object), `UNKNOWN_FIELD`,
    /// `NAME_INVALID` (missing, not a string, or refused by [`parse_name`]), `SCOPES_INVALID`
    /// (missing, or not an array of strings) and the errors of [`parse_scopes`].
    pub fn from_json(body: &Value) -> Result<NewKey, ValidationErrors> {
        let mut fields = FieldReader::body(&NEW_KEY, body)?;
        let name = fields.string("name", |_| name_error()).flatten();
        let name = name.and_then(|name| fields.take(parse_name(name)));
        let scopes = fields
            .strings("scopes", |_| {
                FieldError::new(
                    "scopes",
                    "SCOPES_INVALID",
                    format!(
                        "scopes is required: an array of scope names ({})",
                        scope_names()
                    ),
                )
            })
            .flatten();
        let scopes = scopes.and_then(|names| fields.take(parse_scopes(&names)));
        fields.finish()?;
        match (name, scopes) {
            (Some(name), Some(scopes)) => Ok(NewKey { name, scopes }),
            // Unreachable: finish() refused any missing part.
            _ => Err(ValidationErrors(Vec::new())),
        }
    }
}

/// A key name: 1–[`MAX_NAME_CHARS`] characters after trimming, no control characters; the
/// trimmed name. Error: `name` / `NAME_INVALID`.
pub fn parse_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(name_error());
    }
    Ok(trimmed.to_string())
}

/// The `NAME_INVALID` error of `name`.
pub fn name_error() -> FieldError {
    FieldError::new(
        "name",
        "NAME_INVALID",
        format!(
            "name must be a string of 1–{MAX_NAME_CHARS} characters without control characters"
        ),
    )
}

/// Scope names: at least one (`SCOPES_EMPTY`), each one of [`Scope::ALL`] (`SCOPE_UNKNOWN`);
/// deduplicated, in [`Scope::ALL`] order. Errors name the field `scopes`.
pub fn parse_scopes(names: &[&str]) -> Result<Vec<Scope>, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new(
            "scopes",
            "SCOPES_EMPTY",
            format!("scopes must name at least one of {}", scope_names()),
        ));
    }
    let mut scopes = names
        .iter()
        .map(|name| Scope::parse(name).ok_or_else(scopes_error))
        .collect::<Result<Vec<_>, _>>()?;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// The `SCOPE_UNKNOWN` error of `scopes`.
pub fn scopes_error() -> FieldError {
    FieldError::new(
        "scopes",
        "SCOPE_UNKNOWN",
        format!("scopes must be a list of known scopes: {}", scope_names()),
    )
}

/// `streams:read, streams:write, webhooks:admin`.
pub fn scope_names() -> String {
    Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// SHA-256 of a presented key, lowercase hex (the stored `key_hash`).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's RNG failed (no key is created).
    #[error("no randomness for a new API key: {0}")]
    Randomness(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Generates a key: `flx_` + base64url (no padding) of 32 bytes from the OS RNG.
///
/// Errors: [`KeyError::Randomness`] when the RNG is unavailable.
pub fn generate_key() -> Result<String, KeyError> {
    let mut bytes = [0u8; KEY_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Randomness(e.to_string()))?;
    Ok(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Creates and stores a key for `new`; returns it (shown once) and its record.
///
/// Errors: [`KeyError`] when no randomness is available or the store fails.
pub async fn issue(
    keys: &ApiKeyRepository,
    new: NewKey,
) -> Result<(IssuedKey, ApiKeyRecord), KeyError> {
    let key = generate_key()?;
    let record = ApiKeyRecord {
        id: format!("key_{}", uuid::Uuid::now_v7().simple()),
        name: new.name,
        prefix: key
            .get(KEY_PREFIX.len()..KEY_PREFIX.len() + DISPLAY_PREFIX_CHARS)
            .unwrap_or_default()
            .to_string(),
        key_hash: hash_key(&key),
        scopes: new.scopes,
        created_at: now_millis(),
        revoked_at: None,
    };
    keys.create(&record).await?;
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    tracing::info!(key_id = %record.id, scopes = %scopes.join(","), "API key created");
    Ok((
        IssuedKey {
            view: record.view(),
            key,
        },
        record,
    ))
}

/// Revokes the key `id` at unix ms `now` (the admin API and `fluxora keys revoke`): the
/// revoked record, also when it already was revoked (its first `revokedAt` is kept), or `None`
/// for an unknown id. Logs the key id (never the key).
///
/// Errors: [`StoreError`] when the database fails.
pub async fn revoke(
    keys: &ApiKeyRepository,
    id: &str,
    now: i64,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let revoked = keys.revoke(id, now).await?;
    if let Some(record) = &revoked {
        tracing::info!(key_id = %record.id, "API key revoked");
    }
    Ok(revoked)
}

/// An active key as the auth layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    /// Public id.
    pub id: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
}

/// What the registry knows about protection right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protection {
    /// Active keys.
    pub active_keys: usize,
    /// Active keys with `webhooks:admin`.
    pub admin_keys: usize,
}

#[derive(Debug, Default)]
struct View {
    /// Active keys by hash.
    by_hash: HashMap<String, ActiveKey>,
    /// Bumped by every local change, so a refresh that read the store before it cannot undo it.
    generation: u64,
    /// The counts of `by_hash`, kept with it: read on every stream and admin request.
    protection: Protection,
}

impl View {
    /// Recounts [`View::protection`] after `by_hash` changed (a refresh, create or revoke).
    fn recount(&mut self) {
        self.protection = Protection {
            active_keys: self.by_hash.len(),
            admin_keys: self
                .by_hash
                .values()
                .filter(|k| k.scopes.contains(&Scope::WebhooksAdmin))
                .count(),
        };
    }
}

/// The in-memory view of active keys (see the module docs for its refresh rules).
pub struct KeyRegistry {
    store: ApiKeyRepository,
    view: std::sync::RwLock<View>,
}

impl std::fmt::Debug for KeyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRegistry")
            .field("protection", &self.protection())
            .finish()
    }
}

impl KeyRegistry {
    /// Loads the active keys once.
    ///
    /// Errors: [`StoreError`] when the store cannot be read (the service does not start).
    pub async fn load(store: ApiKeyRepository) -> Result<KeyRegistry, StoreError> {
        let registry = KeyRegistry {
            store,
            view: std::sync::RwLock::new(View::default()),
        };
        registry.refresh().await?;
        Ok(registry)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, View> {
        self.view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-reads the active keys from the store and replaces the view, unless a local change
    /// happened meanwhile (the next refresh picks both up). Returns the protection now in force.
    ///
    /// Errors: [`StoreError`]; the previous view is then kept unchanged (fail closed).
    pub async fn refresh(&self) -> Result<Protection, StoreError> {
        let generation = self.read().generation;
        let keys = self.store.active().await?;
        let by_hash: HashMap<String, ActiveKey> = keys
            .into_iter()
            .map(|record| {
                (
                    record.key_hash,
                    ActiveKey {
                        id: record.id,
                        scopes: record.scopes,
                    },
                )
            })
            .collect();
        let mut view = self.write();
        if view.generation == generation {
            view.by_hash = by_hash;
            view.recount();
        }
        Ok(view.protection)
    }

    /// Creates and stores a key for `new` ([`issue`]) and puts it in this view at once, so it
    /// authenticates on this process before the next refresh. Returns it (shown once) and its
    /// record.
    ///
    /// Errors: [`KeyError`] when no randomness is available or the store fails.
    pub async fn issue(&self, new: NewKey) -> Result<(IssuedKey, ApiKeyRecord), KeyError> {
        let (issued, record) = issue(&self.store, new).await?;
        self.insert(&record);
        Ok((issued, record))
    }

    /// Revokes the key `id` at unix ms `now` ([`revoke`]) and drops it from this view at once.
    /// `None` for an unknown id.
    ///
    /// Errors: [`StoreError`] when the database fails.
    pub async fn revoke(&self, id: &str, now: i64) -> Result<Option<ApiKeyRecord>, StoreError> {
        let revoked = revoke(&self.store, id, now).await?;
        if let Some(record) = &revoked {
            self.remove(&record.id);
        }
        Ok(revoked)
    }

    /// Every key as stored, revoked ones included, oldest first.
    ///
    /// Errors: [`StoreError`] when the database fails.
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.store.list().await
    }

    /// Adds a key just created by this process.
    pub fn insert(&self, record: &ApiKeyRecord) {
        if record.revoked_at.is_some() {
            return;
        }
        let mut view = self.write();
        view.generation += 1;
        view.by_hash.insert(
            record.key_hash.clone(),
            ActiveKey {
                id: record.id.clone(),
                scopes: record.scopes.clone(),
            },
        );
        view.recount();
    }

    /// Removes a key just revoked by this process.
    pub fn remove(&self, id: &str) {
        let mut view = self.write();
        view.generation += 1;
        view.by_hash.retain(|_, key| key.id != id);
        view.recount();
    }

    /// The active key whose hash matches `key`, if any.
    pub fn authenticate(&self, key: &str) -> Option<ActiveKey> {
        let hash = hash_key(key);
        self.read().by_hash.get(&hash).cloned()
    }

    /// How many active keys (and `webhooks:admin` keys) exist.
    pub fn protection(&self) -> Protection {
        self.read().protection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str`/`parse` and the serde names (API bodies, OpenAPI) are the same names.
    #[test]
    fn scope_names_agree_with_serde() {
        for scope in Scope::ALL {
            let wire = serde_json::to_value(scope).unwrap();
            assert_eq!(wire, serde_json::json!(scope.as_str()));
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            let back: Scope = serde_json::from_value(wire).unwrap();
            assert_eq!(back, scope);
        }
    }

    #[test]
    fn keys_have_the_documented_shape() {
        let key = generate_key().unwrap();
        assert!(key.starts_with("flx_"));
        assert_eq!(key.len(), 4 + 43);
        assert!(key[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(key, generate_key().unwrap());
        assert_eq!(hash_key(&key).len(), 64);
    }

    #[test]
    fn new_key_validation() {
        let ok = NewKey::parse(
            "  ci  ",
            &["streams:write", "streams:read", "streams:write"],
        )
        .unwrap();
        assert_eq!(ok.name, "ci");
        assert_eq!(ok.scopes, vec![Scope::StreamsRead, Scope::StreamsWrite]);
        let codes = |e: ValidationErrors| e.0.iter().map(|f| f.code).collect::<Vec<_>>();
        assert_eq!(
            codes(NewKey::parse("", &[]).unwrap_err()),
            vec!["NAME_INVALID", "SCOPES_EMPTY"]
        );
        assert_eq!(
            codes(NewKey::parse(&"x".repeat(101), &["admin"]).unwrap_err()),
            vec!["NAME_INVALID", "SCOPE_UNKNOWN"]
        );
        assert!(NewKey::parse(&"é".repeat(100), &["webhooks:admin"]).is_ok());
        assert!(NewKey::parse("a\nb", &["webhooks:admin"]).is_err());
    }

    /// The documented name schema (`NAME_PATTERN`, at least one character) accepts exactly the
    /// names `parse_name` accepts.
    #[test]
    fn the_name_pattern_is_the_name_rule() {
        let schema = serde_json::json!({"type": "string", "minLength": 1, "pattern": NAME_PATTERN});
        let validator = jsonschema::validator_for(&schema).unwrap();
        let x = |n: usize| "x".repeat(n);
        let mut names = vec![
            String::new(),
            " ".into(),
            "\t\n".into(),
            "a".into(),
            " a ".into(),
            "\ta\r\n".into(),
            "a b".into(),
            "a\tb".into(),
            "a\u{0085}".into(),
            "\u{0085}a\u{0085}".into(),
            "a\u{0085}b".into(),
            "\u{0001}a".into(),
            "a\u{0001}".into(),
            "a\u{007F}b".into(),
            "a\u{009F}".into(),
            "\u{00A0}a\u{3000}".into(),
            "a\u{00A0}b".into(),
            "\u{FEFF}a".into(),
            "\u{200B}".into(),
            "deploy-bot 🚀".into(),
            x(100),
            x(101),
            format!("  {}  ", x(100)),
            format!("\t{}\n", x(99)),
            format!("a{}b", " ".repeat(98)),
            format!("a{}b", " ".repeat(99)),
            "é".repeat(100),
            "é".repeat(101),
            "🚀".repeat(100),
        ];
        names.push(format!("{}\u{0002}", x(50)));
        for name in names {
            assert_eq!(
                validator.is_valid(&serde_json::json!(name)),
                parse_name(&name).is_ok(),
                "{name:?}"
            );
        }
    }
}
