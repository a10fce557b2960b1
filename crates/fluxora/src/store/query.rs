//! Running one statement on either driver: [`Query`] (SQL text and its parameters),
//! [`QueryBuilder`] (statements whose text grows with their rows), [`Row`] (a result row read
//! through [`Columns`]) and [`Tx`] (a transaction).
//!
//! Every statement is written once with numbered parameters (`$1`, `$2`, …), which both
//! PostgreSQL and SQLite accept; the few dialect differences are in [`super::dialect`]. A
//! repository runs a statement with `Query::new(SQL).bind(a).bind(b).execute(&database)` or,
//! inside a transaction, `.execute(&mut tx)`.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Arguments, Executor, IntoArguments, Postgres, Sqlite};

use super::dialect::Dialect;
use super::sqlite_direct::{DirectRow, DirectTx, FromDirect};
use super::{Database, StoreError};

/// One parameter value. Amounts travel as exact decimal text ([`Arg::Amount`]); times, ids and
/// counts as 64-bit integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg<'q> {
    /// An integer, or NULL.
    Int(Option<i64>),
    /// A text value, or NULL.
    Text(Option<Cow<'q, str>>),
    /// A byte string, or NULL.
    Bytes(Option<Vec<u8>>),
    /// A boolean.
    Bool(bool),
    /// A token amount in stroops as decimal text, for a `NUMERIC` (PostgreSQL) or `TEXT`
    /// (SQLite) column: written `$n::numeric` by [`QueryBuilder::row`] on PostgreSQL.
    Amount(String),
}

impl From<i64> for Arg<'_> {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<bool> for Arg<'_> {
    fn from(value: bool) -> Self {
        Arg::Bool(value)
    }
}

impl<'q> From<&'q str> for Arg<'q> {
    fn from(value: &'q str) -> Self {
        Arg::Text(Some(Cow::Borrowed(value)))
    }
}

impl From<String> for Arg<'_> {
    fn from(value: String) -> Self {
        Arg::Text(Some(Cow::Owned(value)))
    }
}

impl<'q> From<Option<&'q str>> for Arg<'q> {
    fn from(value: Option<&'q str>) -> Self {
        Arg::Text(value.map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value.map(Cow::Owned))
    }
}

impl From<&[u8]> for Arg<'_> {
    fn from(value: &[u8]) -> Self {
        Arg::Bytes(Some(value.to_vec()))
    }
}

impl From<Vec<u8>> for Arg<'_> {
    fn from(value: Vec<u8>) -> Self {
        Arg::Bytes(Some(value))
    }
}

/// How a parameter binds on a direct SQLite connection (`store/sqlite_direct.rs`).
impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(value) => match value {
                Some(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
                None => ToSqlOutput::Borrowed(ValueRef::Null),
            },
            Arg::Text(value) => match value.as_deref() {
                Some(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
                None => ToSqlOutput::Borrowed(ValueRef::Null),
            },
            Arg::Bytes(value) => match value.as_deref() {
                Some(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
                None => ToSqlOutput::Borrowed(ValueRef::Null),
            },
            // As sqlx stores booleans on SQLite: the integers 0 and 1.
            Arg::Bool(value) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*value))),
            Arg::Amount(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

/// A statement and its parameters, ready to run on a [`Database`] or in a [`Tx`].
#[derive(Debug, Clone)]
pub struct Query<'q> {
    sql: Cow<'q, str>,
    args: Vec<Arg<'q>>,
    persistent: bool,
}

impl<'q> Query<'q> {
    /// A statement with no parameters bound yet; `sql` numbers its parameters `$1, $2, …`.
    pub fn new(sql: impl Into<Cow<'q, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
            persistent: true,
        }
    }

    /// Binds the next parameter (`$1` first).
    #[must_use]
    pub fn bind(mut self, value: impl Into<Arg<'q>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Whether the driver keeps the prepared statement in its per-connection cache (default
    /// yes). Statements whose text varies with their row count pass `false` except for the one
    /// full-size text, so the cache keeps the hot statements.
    #[must_use]
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// The SQL text (for tests and diagnostics).
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Runs the statement; returns the rows it changed.
    ///
    /// Errors: [`StoreError`] from the driver.
    pub async fn execute<'c>(self, on: impl Into<Conn<'c>>) -> Result<u64, StoreError> {
        match self.run(on.into(), Want::Affected).await? {
            Answer::Affected(count) => Ok(count),
            _ => Ok(0),
        }
    }

    /// Runs the statement; returns every row.
    ///
    /// Errors: [`StoreError`] from the driver.
    pub async fn fetch_all<'c>(self, on: impl Into<Conn<'c>>) -> Result<Vec<Row>, StoreError> {
        match self.run(on.into(), Want::All).await? {
            Answer::Rows(rows) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }

    /// Runs the statement; returns its first row, if any.
    ///
    /// Errors: [`StoreError`] from the driver.
    pub async fn fetch_optional<'c>(
        self,
        on: impl Into<Conn<'c>>,
    ) -> Result<Option<Row>, StoreError> {
        match self.run(on.into(), Want::Optional).await? {
            Answer::Row(row) => Ok(row),
            _ => Ok(None),
        }
    }

    /// Runs the statement; returns its first row.
    ///
    /// Errors: [`StoreError`] from the driver, or [`StoreError::Corrupt`] when it returned no
    /// row.
    pub async fn fetch_one<'c>(self, on: impl Into<Conn<'c>>) -> Result<Row, StoreError> {
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a statement returned no row".into()))
    }

    async fn run(self, on: Conn<'_>, want: Want) -> Result<Answer, StoreError> {
        let Query {
            sql,
            args,
            persistent,
        } = self;
        match on {
            Conn::SqlitePool(pool) => {
                let args = arguments::<Sqlite>(args)?;
                run(pool, &sql, args, persistent, want, SQLITE).await
            }
            Conn::Sqlite(connection) => {
                let args = arguments::<Sqlite>(args)?;
                run(connection, &sql, args, persistent, want, SQLITE).await
            }
            Conn::PostgresPool(pool) => {
                let args = arguments::<Postgres>(args)?;
                run(pool, &sql, args, persistent, want, POSTGRES).await
            }
            Conn::Postgres(connection) => {
                let args = arguments::<Postgres>(args)?;
                run(connection, &sql, args, persistent, want, POSTGRES).await
            }
            Conn::SqliteDirect(tx) => return run_direct(tx, &sql, &args, want),
        }
        .map_err(StoreError::from_sqlx)
    }
}

/// Runs `sql` on a direct SQLite transaction, on this thread (see `store/sqlite_direct.rs`).
fn run_direct(
    tx: &DirectTx,
    sql: &str,
    args: &[Arg<'_>],
    want: Want,
) -> Result<Answer, StoreError> {
    let (rows, changed) = tx.run(sql, args, matches!(want, Want::Optional))?;
    Ok(match want {
        Want::Affected => Answer::Affected(changed),
        Want::All => Answer::Rows(rows.into_iter().map(Row::Direct).collect()),
        Want::Optional => Answer::Row(rows.into_iter().next().map(Row::Direct)),
    })
}

/// What a statement should return.
#[derive(Clone, Copy)]
enum Want {
    Affected,
    All,
    Optional,
}

/// What a statement returned.
enum Answer {
    Affected(u64),
    Rows(Vec<Row>),
    Row(Option<Row>),
}

/// How to read a driver's results: its rows as [`Row`], and its changed-row count.
struct Driver<DB: sqlx::Database> {
    wrap: fn(DB::Row) -> Row,
    rows_affected: fn(&DB::QueryResult) -> u64,
}

const SQLITE: Driver<Sqlite> = Driver {
    wrap: Row::Sqlite,
    rows_affected: sqlx::sqlite::SqliteQueryResult::rows_affected,
};

const POSTGRES: Driver<Postgres> = Driver {
    wrap: Row::Postgres,
    rows_affected: sqlx::postgres::PgQueryResult::rows_affected,
};

/// Runs `sql` on any executor of driver `DB` (a pool or a connection).
async fn run<'e, 'q, DB, E>(
    executor: E,
    sql: &'q str,
    args: DB::Arguments<'q>,
    persistent: bool,
    want: Want,
    driver: Driver<DB>,
) -> Result<Answer, sqlx::Error>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    E: Executor<'e, Database = DB>,
    DB::Arguments<'q>: IntoArguments<'q, DB>,
    'q: 'e,
{
    let query = sqlx::query_with::<DB, _>(sql, args).persistent(persistent);
    Ok(match want {
        Want::Affected => {
            let done = query.execute(executor).await?;
            Answer::Affected((driver.rows_affected)(&done))
        }
        Want::All => Answer::Rows(
            query
                .fetch_all(executor)
                .await?
                .into_iter()
                .map(driver.wrap)
                .collect(),
        ),
        Want::Optional => Answer::Row(query.fetch_optional(executor).await?.map(driver.wrap)),
    })
}

/// Converts parameters to driver `DB`'s argument buffer.
fn arguments<'q, DB>(args: Vec<Arg<'q>>) -> Result<DB::Arguments<'q>, StoreError>
where
    DB: sqlx::Database,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Cow<'q, str>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut out = DB::Arguments::<'q>::default();
    out.reserve(args.len(), 0);
    for arg in args {
        let added = match arg {
            Arg::Int(value) => out.add(value),
            Arg::Text(value) => out.add(value),
            Arg::Bytes(value) => out.add(value),
            Arg::Bool(value) => out.add(value),
            Arg::Amount(value) => out.add(value),
        };
        added
            .map_err(|error| StoreError::Corrupt(format!("a parameter did not encode: {error}")))?;
    }
    Ok(out)
}

/// Where a [`Query`] runs: a database's pool or an open transaction. Made with `&database` or
/// `&mut tx`.
#[derive(Debug)]
pub enum Conn<'c> {
    /// The SQLite pool.
    SqlitePool(&'c SqlitePool),
    /// A SQLite connection (inside a transaction).
    Sqlite(&'c mut SqliteConnection),
    /// The PostgreSQL pool.
    PostgresPool(&'c PgPool),
    /// A PostgreSQL connection (inside a transaction).
    Postgres(&'c mut PgConnection),
    /// A transaction on a direct SQLite connection (statements run on the calling thread).
    SqliteDirect(&'c DirectTx),
}

impl<'c> From<&'c Database> for Conn<'c> {
    fn from(database: &'c Database) -> Self {
        match database {
            Database::Sqlite(sqlite) => Conn::SqlitePool(sqlite.pool()),
            Database::Postgres(postgres) => Conn::PostgresPool(postgres.pool()),
        }
    }
}

impl<'c> From<&'c mut Tx> for Conn<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => Conn::Sqlite(&mut *tx),
            Tx::Postgres(tx) => Conn::Postgres(&mut *tx),
            Tx::SqliteDirect(tx) => Conn::SqliteDirect(tx),
        }
    }
}

/// An open transaction, from [`Database::begin`]. Dropped without [`Tx::commit`], it rolls
/// back.
#[derive(Debug)]
pub enum Tx {
    /// On SQLite.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, Postgres>),
    /// On a direct SQLite connection ([`super::sqlite_direct::DirectSqlite::begin`]): its
    /// statements and its commit block the calling thread.
    SqliteDirect(DirectTx),
}

impl Tx {
    /// The dialect of the database the transaction runs on.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) | Tx::SqliteDirect(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Commits.
    ///
    /// Errors: [`StoreError`] when the commit fails (nothing was written).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
            Tx::SqliteDirect(tx) => return tx.commit(),
        }
        .map_err(StoreError::from_sqlx)
    }
}

/// A result row of either driver.
pub enum Row {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Postgres(PgRow),
    /// From a direct SQLite connection.
    Direct(DirectRow),
}

/// Typed column access by name. Amounts are read as text (PostgreSQL SELECTs cast them
/// `::text`), times and positions as `i64`.
///
/// Errors: [`StoreError`] when the column is missing or holds another type.
pub trait Columns {
    /// A non-null text column.
    fn text(&self, column: &str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A non-null integer column.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    /// A nullable byte-string column.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Row::Sqlite(_) => "Row::Sqlite",
            Row::Postgres(_) => "Row::Postgres",
            Row::Direct(_) => "Row::Direct",
        })
    }
}

impl Row {
    fn get<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: for<'r> FromDirect<'r>,
    {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
            Row::Direct(row) => {
                return T::from_direct(row.named(column)?)
                    .map_err(|error| StoreError::Corrupt(format!("column {column}: {error}")))
            }
        }
        .map_err(StoreError::from_sqlx)
    }
}

impl Columns for Row {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.get(column)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(column)
    }
}

/// A statement whose text grows with its rows (`INSERT … VALUES (…), (…)`, `IN (…)` lists):
/// [`QueryBuilder::bind`] writes the next placeholder into the text as it binds.
#[derive(Debug)]
pub struct QueryBuilder<'q> {
    dialect: Dialect,
    sql: String,
    args: Vec<Arg<'q>>,
}

impl<'q> QueryBuilder<'q> {
    /// Starts a statement with `head` for `dialect`.
    pub fn new(dialect: Dialect, head: &str) -> Self {
        Self {
            dialect,
            sql: head.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next parameter's placeholder (`$n` on PostgreSQL, cast `::numeric` for an
    /// [`Arg::Amount`]; an anonymous `?` on SQLite: see `store/dialect.rs`) and binds `value`
    /// to it.
    pub fn bind(&mut self, value: impl Into<Arg<'q>>) -> &mut Self {
        let value = value.into();
        let amount = matches!(value, Arg::Amount(_));
        self.args.push(value);
        self.dialect
            .write_placeholder(&mut self.sql, self.args.len(), amount);
        self
    }

    /// Appends `(v1, v2, …)`: one row of a `VALUES` list.
    pub fn row<const N: usize>(&mut self, values: [Arg<'q>; N]) -> &mut Self {
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
        self.sql.push(')');
        self
    }

    /// Appends `items` separated by `separator`, each written by `write`.
    pub fn list<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        separator: &str,
        mut write: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(separator);
            }
            write(self, item);
        }
        self
    }

    /// The finished statement.
    pub fn build(self) -> Query<'q> {
        Query {
            sql: Cow::Owned(self.sql),
            args: self.args,
            persistent: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_numbers_every_row_and_casts_amounts_on_postgres_only() {
        let build = |dialect| {
            let mut insert = QueryBuilder::new(dialect, "INSERT INTO t (a, b) VALUES ");
            insert.list(0..3_i64, ", ", |q, i| {
                q.row([Arg::from(i), Arg::Amount(i.to_string())]);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            insert.build()
        };
        assert_eq!(
            build(Dialect::Postgres).sql(),
            "INSERT INTO t (a, b) VALUES ($1, $2::numeric), ($3, $4::numeric), \
             ($5, $6::numeric) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            build(Dialect::Sqlite).sql(),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
        let mut any = QueryBuilder::new(Dialect::Postgres, "DELETE FROM t WHERE ");
        any.list([("x", 1_i64), ("y", 2)], " OR ", |q, (id, version)| {
            q.push("(id = ")
                .bind(id)
                .push(" AND version = ")
                .bind(version)
                .push(")");
        });
        assert_eq!(
            any.build().sql(),
            "DELETE FROM t WHERE (id = $1 AND version = $2) OR (id = $3 AND version = $4)"
        );
        let mut list = QueryBuilder::new(Dialect::Sqlite, "SELECT 1 WHERE x IN (");
        list.bind(7_i64).push(", ").bind(8_i64).push(")");
        let query = list.build();
        assert_eq!(query.sql(), "SELECT 1 WHERE x IN (?, ?)");
        assert_eq!(query.args, vec![Arg::Int(Some(7)), Arg::Int(Some(8))]);
    }
}
