//! Service metadata: values the service creates once per database and every replica shares
//! (table `service_meta`, one row per key).

use super::{Columns, Database, Query, StoreError};

/// Reads and creates the service's own metadata.
#[derive(Debug, Clone)]
pub struct ServiceMeta {
    db: Database,
}

impl ServiceMeta {
    /// Metadata in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The secret that signs list cursors: 32 random bytes created the first time it is asked
    /// for and kept in the database, so every replica and restart accepts the same cursors.
    ///
    /// Errors: [`StoreError`] when the database cannot be written or read, or the system has
    /// no randomness.
    pub async fn cursor_secret(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| {
            StoreError::Corrupt(format!("no randomness for the cursor secret: {e}"))
        })?;
        Query::new(
            "INSERT INTO service_meta (key, value) VALUES ('cursor_secret', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(fresh.to_vec())
        .execute(&self.db)
        .await?;
        let row = Query::new("SELECT value FROM service_meta WHERE key = 'cursor_secret'")
            .fetch_one(&self.db)
            .await?;
        row.opt_bytes("value")?
            .ok_or_else(|| StoreError::Corrupt("the cursor secret is NULL".into()))
    }
}
