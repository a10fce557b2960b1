//! Authentication (design §9, §9.1; issue 7): API keys with scopes and the admin token.
//!
//! This module is being built; [`Principal`] is what the auth layer leaves in the request's
//! extensions for the layers after it (the per-key rate limit, handlers).

/// A permission an API key carries (design §9: `streams:read`, `streams:write`,
/// `webhooks:admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `streams:read`: read streams.
    StreamsRead,
    /// `streams:write`: create, cancel, pause and resume streams.
    StreamsWrite,
    /// `webhooks:admin`: the admin routes of §9.1.
    WebhooksAdmin,
}

/// Who is making a request, as the auth layer established it (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credential presented.
    Anonymous,
    /// `Authorization: Bearer <ADMIN_TOKEN>`.
    Admin,
    /// A valid, unrevoked API key.
    ApiKey {
        /// The key's public id (never the key itself).
        id: String,
        /// Its scopes.
        scopes: Vec<Scope>,
    },
}
