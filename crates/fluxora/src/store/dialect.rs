//! Every difference between the SQL the two databases take, in one place.
//!
//! The statements are written once, in the form PostgreSQL takes: numbered parameters `$1, $2, …`
//! (SQLite accepts them too), `ON CONFLICT … DO UPDATE SET x = excluded.x` upserts (the same in
//! both), `TRUE`/`FALSE`. What differs:
//!
//! | what | PostgreSQL | SQLite |
//! |---|---|---|
//! | amount columns (exact i128 stroops) | `NUMERIC(39, 0)`: written `$n::numeric`, read `col::text` | `TEXT`: no cast ([`Dialect::sql`] removes them) |
//! | claiming rows other replicas must not claim | `FOR UPDATE SKIP LOCKED` ([`Dialect::skip_locked`]) | nothing (one writer at a time) |
//! | parameters of statements built row by row ([`super::QueryBuilder`]) | `$1, $2, …` | `?` (anonymous, bound in order: the driver looks every *named* parameter up by a walk through the statement's names, quadratic with thousands of them) |

use std::borrow::Cow;

/// Which database a statement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (amounts are TEXT; one writer at a time).
    Sqlite,
    /// PostgreSQL (amounts are NUMERIC(39, 0)).
    Postgres,
}

/// The casts an amount needs on PostgreSQL, which SQLite does not take.
const AMOUNT_CASTS: [&str; 2] = ["::numeric", "::text"];

impl Dialect {
    /// `sql`, written for PostgreSQL, as this dialect takes it: on SQLite without the amount
    /// casts `::numeric` and `::text` (its amount columns are TEXT already).
    pub fn sql(self, sql: &str) -> Cow<'_, str> {
        match self {
            Dialect::Postgres => Cow::Borrowed(sql),
            Dialect::Sqlite => {
                let mut text = Cow::Borrowed(sql);
                for cast in AMOUNT_CASTS {
                    if text.contains(cast) {
                        text = Cow::Owned(text.replace(cast, ""));
                    }
                }
                text
            }
        }
    }

    /// The clause that makes concurrent claimers skip each other's rows: `FOR UPDATE SKIP
    /// LOCKED` on PostgreSQL; nothing on SQLite, where writers take turns.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    /// Appends the placeholder of parameter `number`: `$number` on PostgreSQL (with the amount
    /// cast when `amount`), an anonymous `?` on SQLite, whose parameters are then bound in the
    /// order they appear. SQLite takes `$number` too, but as a *named* parameter, and finding a
    /// parameter's name is a walk through every name of the statement: the driver asks for each
    /// one on every execution, so a 500-row `INSERT` with thousands of named parameters spent
    /// most of its time there (quadratic in the parameter count). Anonymous ones have no name.
    pub(crate) fn write_placeholder(self, sql: &mut String, number: usize, amount: bool) {
        match self {
            Dialect::Postgres => {
                sql.push('$');
                sql.push_str(itoa::Buffer::new().format(number));
                if amount {
                    sql.push_str("::numeric");
                }
            }
            Dialect::Sqlite => sql.push('?'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_drops_the_amount_casts_postgres_keeps_them() {
        let sql = "UPDATE t SET a = $1::numeric, b = $2 RETURNING a::text AS a";
        assert_eq!(Dialect::Postgres.sql(sql), sql);
        assert_eq!(
            Dialect::Sqlite.sql(sql),
            "UPDATE t SET a = $1, b = $2 RETURNING a AS a"
        );
        assert!(matches!(Dialect::Sqlite.sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn placeholders_cast_amounts_on_postgres_only() {
        let mut pg = String::new();
        Dialect::Postgres.write_placeholder(&mut pg, 3, true);
        Dialect::Postgres.write_placeholder(&mut pg, 4, false);
        assert_eq!(pg, "$3::numeric$4");
        let mut lite = String::new();
        Dialect::Sqlite.write_placeholder(&mut lite, 3, true);
        assert_eq!(lite, "?");
    }
}
