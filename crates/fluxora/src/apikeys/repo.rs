//! Storage of API keys (table `api_keys`): their hash, never the key.

use crate::apikeys::{ApiKeyRecord, Scope};
use crate::store::{Columns, Database, Query, StoreError};

/// Columns of `api_keys`.
const API_KEY_COLUMNS: &str = "id, name, prefix, key_hash, scopes, created_at, revoked_at";

/// API keys in the service's database.
#[derive(Debug, Clone)]
pub struct ApiKeyRepository {
    db: Database,
}

impl ApiKeyRepository {
    /// The repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores a new key (its hash, never the key).
    ///
    /// Errors: [`StoreError`].
    pub async fn create(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        Query::new(format!(
            "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(key.id.as_str())
        .bind(key.name.as_str())
        .bind(key.prefix.as_str())
        .bind(key.key_hash.as_str())
        .bind(serde_json::to_string(&scopes).unwrap_or_else(|_| "[]".into()))
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.db)
        .await
        .map(drop)
    }

    /// Every key, revoked ones included, oldest first.
    ///
    /// Errors: [`StoreError`].
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = Query::new(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
        ))
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// The keys not revoked (the auth layer's view, [`crate::apikeys::KeyRegistry`]).
    ///
    /// Errors: [`StoreError`].
    pub async fn active(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = Query::new(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL"
        ))
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    /// Revokes a key at unix ms `now` (a key already revoked keeps its first revocation time)
    /// and returns it as stored afterwards; `None` if no key has that id.
    ///
    /// Errors: [`StoreError`].
    pub async fn revoke(&self, id: &str, now: i64) -> Result<Option<ApiKeyRecord>, StoreError> {
        Query::new("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.db)
            .await?;
        let row = Query::new(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }
}

/// Decodes an `api_keys` row (scopes are a JSON array of scope names).
fn api_key_from_row(row: &impl Columns) -> Result<ApiKeyRecord, StoreError> {
    let scopes_text = row.text("scopes")?;
    let names: Vec<String> = serde_json::from_str(&scopes_text)
        .map_err(|_| StoreError::Corrupt("api key scopes is not a JSON array".into()))?;
    let scopes = names
        .iter()
        .map(|name| {
            Scope::parse(name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown api key scope '{name}'")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiKeyRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        key_hash: row.text("key_hash")?,
        scopes,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}
