//! Stellar StrKey addresses for stream senders and recipients (SEP-23 StrKeys; the API's rules
//! are in `docs/api.md`, "Field codes").
//!
//! A [`StellarAddress`] is a fully validated, canonical StrKey of one of the two kinds a stream
//! party can be: a `G…` account (ed25519 public key, version byte 6<<3) or a `C…` contract
//! (version byte 2<<3). Both are exactly 56 characters: RFC 4648 base32 (uppercase, no padding)
//! of `version || 32-byte payload || CRC16-XModem` (little-endian). Validation is done by the
//! `stellar-strkey` 1.0 crate, which checks the alphabet, the version byte, the length, the
//! checksum and canonical encoding (no non-zero trailing bits, no padding, no lowercase).
//!
//! Rules (the create body's `sender`/`recipient` and the list filters of the same names):
//! - no surrounding whitespace: the input is not trimmed (`" GA3D…"` is [`AddressError::Invalid`]);
//! - absent, `null`, `""` or whitespace-only → [`AddressError::Empty`]; a non-string JSON value →
//!   [`AddressError::InvalidType`];
//! - an `S…` secret seed → [`AddressError::SecretSeed`], whose message says never to send seeds
//!   and to rotate the exposed key;
//! - a valid StrKey of another kind (muxed `M…`, `T…`, `X…`, `P…`, `L…`, `B…`, muxed contract
//!   `W…`) → [`AddressError::Unsupported`];
//! - everything else → [`AddressError::Invalid`].
//!
//! Errors never carry, display, debug-print or echo the rejected input: a secret seed must never
//! reach a response or a log line through this module.

use std::fmt;
use std::str::FromStr;

use stellar_strkey::{ed25519, Contract, Strkey};

/// Length of a `G…`/`C…` (and `S…`) StrKey: base32 of 35 bytes (version byte, 32-byte key,
/// 2-byte checksum), no padding.
const KEY_STRKEY_LEN: usize = 56;

/// A validated Stellar address: a `G…` account (ed25519 public key) or a `C…` contract, held in
/// its canonical StrKey form (56 uppercase base32 characters; SEP-23).
///
/// Construct with [`StellarAddress::parse`], [`StellarAddress::from_json`] or [`FromStr`].
/// Displays and serializes as the StrKey string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StellarAddress {
    /// The canonical StrKey (re-encoded from the decoded key).
    canonical: String,
    /// Which kind of key it is, from the version byte.
    kind: AddressKind,
    /// The decoded 32-byte payload (public key or contract id).
    payload: [u8; 32],
}

impl fmt::Debug for StellarAddress {
    /// `StellarAddress(Account, "G…")`: the kind and the canonical StrKey (public data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StellarAddress")
            .field(&self.kind)
            .field(&self.canonical)
            .finish()
    }
}

/// The kind of a [`StellarAddress`], from its StrKey version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// A `G…` Stellar account: an ed25519 public key (version byte 6<<3 = 48).
    Account,
    /// A `C…` Soroban contract id (version byte 2<<3 = 16).
    Contract,
}

impl AddressKind {
    /// Lowercase name for logs and docs: `"account"` or `"contract"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Account => "account",
            AddressKind::Contract => "contract",
        }
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StellarAddress {
    /// Parses and fully validates a `G…` account or `C…` contract StrKey: base32 alphabet,
    /// version byte, length, CRC16-XModem and canonical encoding. The input is not trimmed.
    ///
    /// # Errors
    /// - [`AddressError::Empty`]: `""` or whitespace only;
    /// - [`AddressError::SecretSeed`]: an ed25519 secret seed (`S…`), also when it is surrounded
    ///   by whitespace or lowercased, so that a leaked seed is always reported as such;
    /// - [`AddressError::Unsupported`]: a valid StrKey of another kind (muxed `M…`, `T…`, `X…`,
    ///   `P…`, `L…`, `B…`, `W…`);
    /// - [`AddressError::Invalid`]: anything else (bad checksum, wrong length, lowercase,
    ///   padding, characters outside the base32 alphabet, surrounding whitespace, …).
    pub fn parse(s: &str) -> Result<StellarAddress, AddressError> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        if is_secret_seed(trimmed) {
            return Err(AddressError::SecretSeed);
        }
        // The decoder accepts only the canonical encoding (module doc), so a string it accepts
        // is already the canonical StrKey: kept as given rather than encoded again.
        match s.as_bytes().first() {
            Some(b'G') => {
                if let Ok(key) = ed25519::PublicKey::from_string(s) {
                    return Ok(StellarAddress {
                        canonical: s.to_owned(),
                        kind: AddressKind::Account,
                        payload: key.0,
                    });
                }
            }
            Some(b'C') => {
                if let Ok(contract) = Contract::from_string(s) {
                    return Ok(StellarAddress {
                        canonical: s.to_owned(),
                        kind: AddressKind::Contract,
                        payload: contract.0,
                    });
                }
            }
            _ => {}
        }
        match Strkey::from_string(s) {
            // Only reachable if the first-byte dispatch above missed; kept for totality.
            Ok(Strkey::PublicKeyEd25519(key)) => Ok(StellarAddress::from_account_key(key)),
            Ok(Strkey::Contract(contract)) => Ok(StellarAddress::from_contract(contract)),
            Ok(
                Strkey::PreAuthTx(_)
                | Strkey::HashX(_)
                | Strkey::MuxedAccountEd25519(_)
                | Strkey::SignedPayloadEd25519(_)
                | Strkey::LiquidityPool(_)
                | Strkey::ClaimableBalance(_)
                | Strkey::MuxedContract(_),
            ) => Err(AddressError::Unsupported),
            Err(_) => Err(AddressError::Invalid),
        }
    }

    /// Decodes a StrKey read back from the database, which holds only addresses
    /// [`StellarAddress::parse`] accepted: the same checks (56 characters of the base32
    /// alphabet, the `G…`/`C…` version byte, the CRC16-XModem checksum; 56 characters are
    /// exactly 35 bytes, so there are no trailing bits to be non-canonical) in one pass over
    /// the bytes with a lookup table, without the general decoder's allocations. A value that
    /// fails any check is `None` (the caller reports the row as corrupt), so a damaged row is
    /// never served as an address.
    #[must_use]
    pub fn from_stored(s: &str) -> Option<StellarAddress> {
        let bytes: &[u8; KEY_STRKEY_LEN] = s.as_bytes().try_into().ok()?;
        let (kind, payload) = STORED_ADDRESSES.with(|memo| memo.borrow_mut().decode(bytes))?;
        Some(StellarAddress {
            canonical: s.to_owned(),
            kind,
            payload,
        })
    }

    /// Parses a JSON request-body field or filter value; `None` means absent.
    ///
    /// # Errors
    /// - [`AddressError::Empty`]: absent, `null`, `""` or a whitespace-only string;
    /// - [`AddressError::InvalidType`]: a number, boolean, array or object;
    /// - otherwise whatever [`StellarAddress::parse`] returns for the string.
    pub fn from_json(value: Option<&serde_json::Value>) -> Result<StellarAddress, AddressError> {
        match value {
            None | Some(serde_json::Value::Null) => Err(AddressError::Empty),
            Some(serde_json::Value::String(s)) => StellarAddress::parse(s),
            Some(
                serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Array(_)
                | serde_json::Value::Object(_),
            ) => Err(AddressError::InvalidType),
        }
    }

    /// The canonical StrKey string (56 uppercase base32 characters, `G…` or `C…`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// Whether this is a `G…` account or a `C…` contract.
    #[must_use]
    pub fn kind(&self) -> AddressKind {
        self.kind
    }

    /// The raw 32-byte payload: the ed25519 public key of an account or the contract id hash.
    #[must_use]
    pub fn payload(&self) -> [u8; 32] {
        self.payload
    }

    /// Builds the address of an ed25519 public key (`G…`).
    #[must_use]
    pub fn from_account_key(key: ed25519::PublicKey) -> StellarAddress {
        StellarAddress {
            canonical: key.to_string().as_str().to_owned(),
            kind: AddressKind::Account,
            payload: key.0,
        }
    }

    /// Builds the address of a contract id (`C…`).
    #[must_use]
    pub fn from_contract(contract: Contract) -> StellarAddress {
        StellarAddress {
            canonical: contract.to_string().as_str().to_owned(),
            kind: AddressKind::Contract,
            payload: contract.0,
        }
    }
}

/// StrKey version byte of a `G…` account (6 << 3).
const ACCOUNT_VERSION: u8 = 6 << 3;
/// StrKey version byte of a `C…` contract (2 << 3).
const CONTRACT_VERSION: u8 = 2 << 3;
/// Marks a byte outside the base32 alphabet in [`BASE32_VALUES`].
const INVALID_BASE32: u8 = 0xff;

/// The 5-bit value of each byte of the RFC 4648 base32 alphabet (`A–Z` = 0–25, `2–7` = 26–31);
/// [`INVALID_BASE32`] for every other byte (lowercase and `=` included).
const BASE32_VALUES: [u8; 256] = {
    let mut table = [INVALID_BASE32; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 6 {
        table[b'2' as usize + d] = 26 + d as u8;
        d += 1;
    }
    table
};

/// CRC16-XModem of every byte value (polynomial 0x1021), for [`crc16_xmodem`].
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// Decodes the 56 StrKey characters `bytes` with every check of
/// [`StellarAddress::from_stored`]: the kind and payload, or `None`.
fn decode_strkey(bytes: &[u8; KEY_STRKEY_LEN]) -> Option<(AddressKind, [u8; 32])> {
    let mut raw = [0u8; 35];
    // 8 characters of 5 bits are 5 bytes.
    for (chunk, out) in bytes.chunks_exact(8).zip(raw.chunks_exact_mut(5)) {
        let mut bits: u64 = 0;
        for &c in chunk {
            let value = BASE32_VALUES[usize::from(c)];
            if value == INVALID_BASE32 {
                return None;
            }
            bits = (bits << 5) | u64::from(value);
        }
        out.copy_from_slice(&bits.to_be_bytes()[3..]);
    }
    let kind = match raw[0] {
        ACCOUNT_VERSION => AddressKind::Account,
        CONTRACT_VERSION => AddressKind::Contract,
        _ => return None,
    };
    let checksum = u16::from_le_bytes([raw[33], raw[34]]);
    if crc16_xmodem(&raw[..33]) != checksum {
        return None;
    }
    let mut payload = [0u8; 32];
    payload.copy_from_slice(&raw[1..33]);
    Some((kind, payload))
}

/// Most stored addresses a thread remembers as checked ([`StoredAddresses`]).
const STORED_ADDRESSES_REMEMBERED: usize = 4096;

thread_local! {
    /// This thread's memo of stored addresses already checked.
    static STORED_ADDRESSES: std::cell::RefCell<StoredAddresses> =
        std::cell::RefCell::new(StoredAddresses::default());
}

/// The stored addresses a thread has decoded and checked, with their kind and payload: a list
/// of streams names the same few senders and recipients over and over, and looking a StrKey up
/// here costs a fraction of decoding it and checking its checksum again (`docs/benchmarks.md`).
/// A memo of a pure function, so it changes no answer: only strings that passed every check
/// are remembered, by their exact bytes. Bounded: when full it is emptied and starts over.
#[derive(Default)]
struct StoredAddresses {
    checked: std::collections::HashMap<
        [u8; KEY_STRKEY_LEN],
        (AddressKind, [u8; 32]),
        foldhash::fast::RandomState,
    >,
}

impl StoredAddresses {
    fn decode(&mut self, bytes: &[u8; KEY_STRKEY_LEN]) -> Option<(AddressKind, [u8; 32])> {
        if let Some(known) = self.checked.get(bytes) {
            return Some(*known);
        }
        let decoded = decode_strkey(bytes)?;
        if self.checked.len() >= STORED_ADDRESSES_REMEMBERED {
            self.checked.clear();
        }
        self.checked.insert(*bytes, decoded);
        Some(decoded)
    }
}

/// CRC16-XModem (polynomial 0x1021, initial value 0), the StrKey checksum; a table lookup
/// per byte.
fn crc16_xmodem(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// `true` if `s` (already trimmed) decodes as an ed25519 secret seed (`S…`, version byte 18<<3),
/// in upper or lower case. Works on a stack copy, which is cleared afterwards (best effort).
fn is_secret_seed(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != KEY_STRKEY_LEN || !matches!(bytes.first(), Some(b'S' | b's')) {
        return false;
    }
    let mut upper = [0u8; KEY_STRKEY_LEN];
    for (dst, src) in upper.iter_mut().zip(bytes) {
        *dst = src.to_ascii_uppercase();
    }
    let is_seed = ed25519::PrivateKey::from_slice(&upper).is_ok();
    upper.fill(0);
    std::hint::black_box(&upper);
    is_seed
}

impl fmt::Display for StellarAddress {
    /// Writes the canonical StrKey.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl FromStr for StellarAddress {
    type Err = AddressError;

    /// Same as [`StellarAddress::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StellarAddress::parse(s)
    }
}

impl AsRef<str> for StellarAddress {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl serde::Serialize for StellarAddress {
    /// Serializes as the canonical StrKey string.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

/// `^[GC][A-Z2-7]{55}$`: the shape of an account (`G…`) or contract (`C…`) StrKey. The service
/// also checks the version byte and the CRC16-XModem checksum, which no pattern expresses.
pub const STRKEY_PATTERN: &str = "^[GC][A-Z2-7]{55}$";

impl utoipa::PartialSchema for StellarAddress {
    /// A string matching [`STRKEY_PATTERN`] (the OpenAPI `StellarAddress` schema).
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(STRKEY_PATTERN))
            .description(Some(
                "A Stellar account (G…) or contract (C…) StrKey: 56 base32 characters with a \
                 valid version byte and CRC16-XModem checksum. Never send an S… secret seed.",
            ))
            .examples([serde_json::json!(
                "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5"
            )])
            .into()
    }
}

impl utoipa::ToSchema for StellarAddress {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("StellarAddress")
    }
}

impl<'de> serde::Deserialize<'de> for StellarAddress {
    /// Accepts only a string, validated with [`StellarAddress::parse`]. The error never contains
    /// the input. For HTTP bodies prefer [`StellarAddress::from_json`], which keeps the per-field
    /// error code; this impl is for trusted sources (stored rows, configuration, tests).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AddressVisitor;

        impl serde::de::Visitor<'_> for AddressVisitor {
            type Value = StellarAddress;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 56-character G… account or C… contract StrKey")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StellarAddress, E> {
                StellarAddress::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(AddressVisitor)
    }
}

/// Replaces anything that looks like a Stellar secret seed in `text` with `S…[redacted]`, for
/// text the service echoes or logs (paths, unknown field names): a secret seed is never echoed
/// or logged. A run of 56 or more ASCII letters and digits in which some 56-character window
/// starts with `S`/`s` and is otherwise base32 (`A–Z`, `2–7`, any case) is redacted whole.
pub fn redact_secret_seeds(text: &str) -> std::borrow::Cow<'_, str> {
    const SEED_LEN: usize = 56;
    let bytes = text.as_bytes();
    let is_base32 = |b: u8| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b);
    let mut runs = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_alphanumeric() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
            end += 1;
        }
        let run = &bytes[start..end];
        let seed_like = run.len() >= SEED_LEN
            && run.windows(SEED_LEN).any(|window| {
                matches!(window[0], b'S' | b's') && window[1..].iter().all(|b| is_base32(*b))
            });
        if seed_like {
            runs.push((start, end));
        }
        start = end;
    }
    if runs.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in runs {
        out.push_str(&text[last..start]);
        out.push_str("S…[redacted]");
        last = end;
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

/// Why a value is not an acceptable stream address.
///
/// Carries no copy of the input, so neither `Display`, `Debug` nor [`AddressError::message`] can
/// leak it (a secret seed in particular). [`AddressError::code`] gives the stable per-field code
/// for the error envelope's `details` (`docs/api.md`, "Field codes").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Missing where required, `null`, `""` or whitespace only (`STRKEY_EMPTY_VALUE`).
    #[error("value is empty; expected a G… account or C… contract StrKey")]
    Empty,
    /// A JSON number, boolean, array or object instead of a string (`STRKEY_INVALID_TYPE`).
    #[error("value must be a string holding a G… account or C… contract StrKey")]
    InvalidType,
    /// Not a valid `G…`/`C…` StrKey: bad alphabet, case, length, version, checksum, padding or
    /// surrounding whitespace (`STRKEY_INVALID`).
    #[error(
        "value is not a valid address: expected a 56-character G… account or C… contract StrKey"
    )]
    Invalid,
    /// An ed25519 secret seed (`S…`) was sent (`STRKEY_SECRET_SEED`). The seed is not retained.
    #[error(
        "value is a secret seed: secret seeds must never be sent to this service; consider it \
         compromised and rotate it; only public G… account or C… contract addresses are accepted"
    )]
    SecretSeed,
    /// A valid StrKey of a kind a stream party cannot be: muxed account `M…`, pre-auth tx `T…`,
    /// hash-x `X…`, signed payload `P…`, liquidity pool `L…`, claimable balance `B…` or muxed
    /// contract `W…` (`STRKEY_UNSUPPORTED`).
    #[error(
        "value is a StrKey of an unsupported kind: only G… accounts and C… contracts are \
         accepted (for a muxed M… address, use its underlying G… account)"
    )]
    Unsupported,
}

impl AddressError {
    /// Stable error code for the field-error `details` of a 400 `VALIDATION_ERROR`:
    /// `"STRKEY_EMPTY_VALUE"`, `"STRKEY_INVALID_TYPE"`, `"STRKEY_INVALID"`, `"STRKEY_SECRET_SEED"`
    /// or `"STRKEY_UNSUPPORTED"`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AddressError::Empty => "STRKEY_EMPTY_VALUE",
            AddressError::InvalidType => "STRKEY_INVALID_TYPE",
            AddressError::Invalid => "STRKEY_INVALID",
            AddressError::SecretSeed => "STRKEY_SECRET_SEED",
            AddressError::Unsupported => "STRKEY_UNSUPPORTED",
        }
    }

    /// Human-readable message naming `field` (e.g. `"sender"`), saying what is expected. Never
    /// contains the rejected value.
    #[must_use]
    pub fn message(&self, field: &str) -> String {
        match self {
            AddressError::Empty => {
                format!("{field} is required and must be a G… account or C… contract StrKey")
            }
            AddressError::InvalidType => {
                format!("{field} must be a string holding a G… account or C… contract StrKey")
            }
            AddressError::Invalid => format!(
                "{field} must be a 56-character G… account or C… contract StrKey (uppercase \
                 base32 with a valid checksum, no surrounding whitespace)"
            ),
            AddressError::SecretSeed => format!(
                "{field} looks like a Stellar secret seed (S…). Secret seeds must never be sent \
                 to this service: consider this seed compromised and rotate it now (move funds \
                 or change the account's signers). Only public G… account or C… contract \
                 addresses are accepted"
            ),
            AddressError::Unsupported => format!(
                "{field} is a StrKey of an unsupported kind; only G… accounts and C… contracts \
                 are accepted. For a muxed M… address, use its underlying G… account"
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    // Valid StrKeys: two accounts, the contracts holding the same 32 bytes, and the zero keys.
    const G1: &str = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
    const G2: &str = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
    const C1: &str = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE";
    const C2: &str = "CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUWDA";
    const G_ZERO: &str = "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF";
    const C_ZERO: &str = "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABSC4";

    /// The stored-value decoder accepts exactly what `parse` accepts, with the same result:
    /// checked on valid keys of both kinds (fixed and pseudo-random payloads), every
    /// single-character change of them (alphabet, lowercase, padding, other bytes), other
    /// StrKey kinds, and wrong lengths.
    #[test]
    fn from_stored_agrees_with_parse() {
        let mut keys: Vec<String> = [G1, G2, C1, C2, G_ZERO, C_ZERO]
            .iter()
            .map(|k| (*k).to_string())
            .collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..64 {
            let mut payload = [0u8; 32];
            for byte in &mut payload {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *byte = (state >> 56) as u8;
            }
            keys.push(ed25519::PublicKey(payload).to_string().as_str().to_owned());
            keys.push(Contract(payload).to_string().as_str().to_owned());
        }
        let mut candidates = keys.clone();
        for key in keys.iter().take(6) {
            for position in 0..key.len() {
                for replacement in "ABCGSZ27=a1 ".chars() {
                    let mut changed = key.clone();
                    changed.replace_range(position..=position, &replacement.to_string());
                    candidates.push(changed);
                }
            }
            candidates.push(key[..55].to_string());
            candidates.push(format!("{key}A"));
            candidates.push(key.to_lowercase());
        }
        candidates.push(SEED.to_string());
        candidates.push(
            Strkey::PreAuthTx(stellar_strkey::PreAuthTx([3; 32]))
                .to_string()
                .as_str()
                .to_owned(),
        );
        candidates.push(
            Strkey::HashX(stellar_strkey::HashX([3; 32]))
                .to_string()
                .as_str()
                .to_owned(),
        );
        candidates.push(String::new());
        let mut accepted = 0;
        // Twice over: the second pass answers from this thread's memo of checked addresses
        // (the valid ones), and must answer exactly as the first.
        for pass in 0..2 {
            for candidate in &candidates {
                let stored = StellarAddress::from_stored(candidate);
                assert_eq!(
                    stored,
                    StellarAddress::parse(candidate).ok(),
                    "pass {pass}: {candidate:?}"
                );
                accepted += usize::from(pass == 0 && stored.is_some());
            }
        }
        let remembered = STORED_ADDRESSES.with(|memo| memo.borrow().checked.len());
        assert!(remembered >= keys.len() && remembered <= STORED_ADDRESSES_REMEMBERED);
        assert!(accepted >= keys.len(), "every valid key is accepted");
        assert!(
            candidates.len() - accepted > 1000,
            "and many changed ones refused"
        );
    }

    /// The memo of checked stored addresses stays bounded, and answers as a fresh check after
    /// it starts over.
    #[test]
    fn the_memo_of_stored_addresses_is_bounded() {
        let addresses: Vec<String> = (0..STORED_ADDRESSES_REMEMBERED as u32 + 10)
            .map(|i| {
                let mut payload = [0u8; 32];
                payload[..4].copy_from_slice(&i.to_be_bytes());
                StellarAddress::from_account_key(stellar_strkey::ed25519::PublicKey(payload))
                    .to_string()
            })
            .collect();
        for address in addresses.iter().chain(addresses.iter()) {
            let stored = StellarAddress::from_stored(address).unwrap();
            assert_eq!(&stored.to_string(), address);
            let remembered = STORED_ADDRESSES.with(|memo| memo.borrow().checked.len());
            assert!(remembered <= STORED_ADDRESSES_REMEMBERED);
        }
    }

    // Two ed25519 secret seeds (the second is rs-stellar-strkey's test seed).
    const SEED: &str = "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU";
    const SEED2: &str = "SBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWHOKR";

    fn err(s: &str) -> AddressError {
        StellarAddress::parse(s).unwrap_err()
    }

    #[test]
    fn valid_vectors() {
        for (s, kind) in [
            (G1, AddressKind::Account),
            (G2, AddressKind::Account),
            (G_ZERO, AddressKind::Account),
            (C1, AddressKind::Contract),
            (C2, AddressKind::Contract),
            (C_ZERO, AddressKind::Contract),
        ] {
            let a = StellarAddress::parse(s).unwrap();
            assert_eq!(a.as_str(), s);
            assert_eq!(a.to_string(), s);
            assert_eq!(a.kind(), kind);
            assert_eq!(s.parse::<StellarAddress>().unwrap(), a);
        }
    }

    #[test]
    fn payloads() {
        let g1 = StellarAddress::parse(G1).unwrap();
        let c1 = StellarAddress::parse(C1).unwrap();
        assert_eq!(g1.payload(), c1.payload());
        assert_eq!(&g1.payload()[..4], &[0x36, 0x3e, 0xaa, 0x38]);
        assert_eq!(&g1.payload()[28..], &[0x05, 0xc7, 0xb1, 0x03]);
        let g2 = StellarAddress::parse(G2).unwrap();
        assert_eq!(&g2.payload()[..4], &[0x3f, 0x0c, 0x34, 0xbf]);
        assert_eq!(&g2.payload()[28..], &[0xfc, 0x7f, 0xe8, 0x9a]);
        assert_eq!(StellarAddress::parse(G_ZERO).unwrap().payload(), [0; 32]);
        assert_ne!(g1, c1);
    }

    #[test]
    fn invalid_vectors() {
        for s in [
            // 58 chars, too long
            "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV75ERQ",
            // 5-byte payload
            "GAAAAAAAACGC6",
            // 57 chars, length = 1 mod 8
            "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZA",
            // decodes to 36 bytes
            "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUACUSI",
            // algorithm bits = 7
            "G47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVP2I",
            // padding character
            "G=3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            // contract too long
            "CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV72WFI",
            // digit 0 is not in the base32 alphabet
            "GBPXX0A5N4JYPESHAADMQKBPWZWQDQ64ZV6ZL2S3LAGW4SY7NTCMWIVL",
            // last character changed: checksum / trailing bits
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES4",
            // 55 chars (last character dropped)
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES",
            // trailing '=' padding
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5====",
            "G",
            "C",
            "hello",
            "0x1234",
            "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5\u{0}",
            "ＧA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5",
            // not a seed: S-prefixed junk
            "SBAD",
            "SA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJV764SE",
        ] {
            assert_eq!(err(s), AddressError::Invalid, "{s:?}");
        }
        // Wrong kind for its prefix: a G… key re-labelled as C… fails the checksum.
        let relabelled = format!("C{}", &G1[1..]);
        assert_eq!(err(&relabelled), AddressError::Invalid);
        // Arbitrarily long inputs never panic.
        assert_eq!(err(&"A".repeat(100_000)), AddressError::Invalid);
        assert_eq!(
            err(&format!("G{}", "A".repeat(1000))),
            AddressError::Invalid
        );
    }

    /// `parse` keeps an accepted string as its canonical form: it must equal what encoding
    /// the decoded key gives, for every payload.
    #[test]
    fn accepted_strings_are_the_canonical_encoding() {
        for seed in 0u8..=255 {
            let payload: [u8; 32] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7));
            let account = StellarAddress::from_account_key(ed25519::PublicKey(payload));
            assert_eq!(StellarAddress::parse(account.as_str()), Ok(account.clone()));
            let contract = StellarAddress::from_contract(Contract(payload));
            assert_eq!(
                StellarAddress::parse(contract.as_str()),
                Ok(contract.clone())
            );
        }
    }

    #[test]
    fn lowercase_is_invalid() {
        assert_eq!(err(&G1.to_ascii_lowercase()), AddressError::Invalid);
        assert_eq!(err(&C1.to_ascii_lowercase()), AddressError::Invalid);
        let mixed = format!("{}{}", &G1[..10], G1[10..].to_ascii_lowercase());
        assert_eq!(err(&mixed), AddressError::Invalid);
    }

    #[test]
    fn surrounding_whitespace_is_invalid_not_trimmed() {
        for s in [
            format!(" {G1}"),
            format!("{G1} "),
            format!("\t{G1}\n"),
            format!("{C1}\r\n"),
            format!("{G1}\u{00a0}"),
        ] {
            assert_eq!(err(&s), AddressError::Invalid, "{s:?}");
        }
    }

    #[test]
    fn empty_and_whitespace() {
        for s in ["", " ", "\t\n", "\u{3000}"] {
            assert_eq!(err(s), AddressError::Empty, "{s:?}");
        }
    }

    #[test]
    fn secret_seeds_are_refused() {
        // Sanity: these really are seeds according to stellar-strkey.
        assert!(ed25519::PrivateKey::from_string(SEED).is_ok());
        assert!(ed25519::PrivateKey::from_string(SEED2).is_ok());
        for s in [
            SEED.to_owned(),
            SEED2.to_owned(),
            SEED.to_ascii_lowercase(),
            format!(" {SEED}"),
            format!("{SEED}\n"),
        ] {
            assert_eq!(
                err(&s),
                AddressError::SecretSeed,
                "seed variant #{}",
                s.len()
            );
        }
    }

    #[test]
    fn secret_seed_is_never_echoed() {
        for seed in [SEED, SEED2] {
            let e = err(seed);
            assert_eq!(e, AddressError::SecretSeed);
            let texts = [
                format!("{e:?}"),
                format!("{e:#?}"),
                e.to_string(),
                e.message("sender"),
                format!("{:?}", StellarAddress::parse(seed)),
                format!("{:?}", seed.parse::<StellarAddress>()),
                format!(
                    "{:?}",
                    serde_json::from_value::<StellarAddress>(json!(seed)).map(|_| ())
                ),
            ];
            for text in texts {
                assert!(!text.contains(seed), "leaked seed in {text:?}");
                assert!(
                    !text.contains(&seed[1..20]),
                    "leaked part of seed in {text:?}"
                );
            }
        }
        let m = AddressError::SecretSeed.message("recipient");
        assert!(m.starts_with("recipient "));
        assert!(m.contains("never"));
        assert!(m.contains("compromised"));
        assert!(m.contains("rotate"));
        assert!(m.contains("G…") && m.contains("C…"));
    }

    #[test]
    fn muxed_and_other_kinds_are_unsupported() {
        let muxed = ed25519::MuxedAccount {
            ed25519: StellarAddress::parse(G1).unwrap().payload(),
            id: 1234,
        }
        .to_string();
        assert_eq!(muxed.len(), 69);
        assert!(muxed.starts_with('M'));
        assert_eq!(err(muxed.as_str()), AddressError::Unsupported);
        // Vectors from rs-stellar-strkey tests: muxed, pre-auth tx, hash-x, signed payload.
        for s in [
            "MA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAAAAAAAAAPCICBKU",
            "TBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWHXL7",
            "XBU2RRGLXH3E5CQHTD3ODLDF2BWDCYUSSBLLZ5GNW7JXHDIYKXZWGTOG",
            "PA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAQACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6IBZGM",
        ] {
            assert_eq!(err(s), AddressError::Unsupported, "{s}");
        }
        let pool = stellar_strkey::Strkey::LiquidityPool(stellar_strkey::LiquidityPool([7; 32]))
            .to_string();
        assert_eq!(err(pool.as_str()), AddressError::Unsupported);
        let muxed_contract = stellar_strkey::Strkey::MuxedContract(stellar_strkey::MuxedContract {
            contract_id: [9; 32],
            id: 5,
        })
        .to_string();
        assert_eq!(err(muxed_contract.as_str()), AddressError::Unsupported);
        let m = AddressError::Unsupported.message("recipient");
        assert!(m.contains("muxed") && m.contains("underlying G…"));
        assert!(!m.contains(muxed.as_str()));
    }

    #[test]
    fn fixture_actors_are_valid() {
        for (s, kind) in [
            (
                "GDK2NBGZND2ROOLEJGNYMOBWU632YJGN4IGGMEXIYYZITBLALGF53TVX",
                AddressKind::Account,
            ),
            (
                "GDZRFKVP6KLHXBBGN2V2CTIXMXHDO4CXSNACORM74XZZ426OVU4YFLBV",
                AddressKind::Account,
            ),
            (
                "GBLXWU5HZZ3JZKPYES2C3EWY2ZRIGII6XJP3FCWXDWF5AP55JWVFTKWA",
                AddressKind::Account,
            ),
            (
                "GDBWJWNG5BAUOESFVWEUHEWHOTF7F5JPST5I7O2PZDG2IRUSGTDBQ4RC",
                AddressKind::Account,
            ),
            (
                "GCBIVIWJ7ZUSIPX7ITHJIQEWSAKZDCLPQA5DC4SGRHPUO6ZOSHFCHZH3",
                AddressKind::Account,
            ),
            (
                "CBWLJK3P6ECN2KZZPKGUIIJ6BCJPXNQTMHMJJGJPZ2ITUJFHPXHUQGBS",
                AddressKind::Contract,
            ),
            (
                "GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEGWF",
                AddressKind::Account,
            ),
        ] {
            let a = StellarAddress::parse(s).unwrap();
            assert_eq!(a.as_str(), s);
            assert_eq!(a.kind(), kind);
        }
    }

    #[test]
    fn from_json_types() {
        assert_eq!(StellarAddress::from_json(None), Err(AddressError::Empty));
        assert_eq!(
            StellarAddress::from_json(Some(&json!(null))),
            Err(AddressError::Empty)
        );
        assert_eq!(
            StellarAddress::from_json(Some(&json!(""))),
            Err(AddressError::Empty)
        );
        assert_eq!(
            StellarAddress::from_json(Some(&json!("  "))),
            Err(AddressError::Empty)
        );
        for v in [
            json!(1),
            json!(1.5),
            json!(true),
            json!([G1]),
            json!({"address": G1}),
        ] {
            assert_eq!(
                StellarAddress::from_json(Some(&v)),
                Err(AddressError::InvalidType),
                "{v}"
            );
        }
        assert_eq!(
            StellarAddress::from_json(Some(&json!(G1)))
                .unwrap()
                .as_str(),
            G1
        );
        assert_eq!(
            StellarAddress::from_json(Some(&json!(SEED))),
            Err(AddressError::SecretSeed)
        );
        assert_eq!(
            StellarAddress::from_json(Some(&json!(format!(" {G1}")))),
            Err(AddressError::Invalid)
        );
    }

    #[test]
    fn codes_and_messages() {
        let all = [
            (AddressError::Empty, "STRKEY_EMPTY_VALUE"),
            (AddressError::InvalidType, "STRKEY_INVALID_TYPE"),
            (AddressError::Invalid, "STRKEY_INVALID"),
            (AddressError::SecretSeed, "STRKEY_SECRET_SEED"),
            (AddressError::Unsupported, "STRKEY_UNSUPPORTED"),
        ];
        for (e, code) in all {
            assert_eq!(e.code(), code);
            assert!(e.message("sender").starts_with("sender "));
            assert!(!e.to_string().is_empty());
        }
        let m = AddressError::Invalid.message("sender");
        assert!(m.contains("56-character G… account or C… contract StrKey"));
        let bad = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES4";
        let e = err(bad);
        assert!(!e.message("sender").contains(bad));
        assert!(!format!("{e:?}").contains(bad));
    }

    #[test]
    fn serde() {
        let a = StellarAddress::parse(C1).unwrap();
        assert_eq!(serde_json::to_value(&a).unwrap(), json!(C1));
        let back: StellarAddress = serde_json::from_value(json!(C1)).unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_value::<StellarAddress>(json!(1)).is_err());
        assert!(serde_json::from_value::<StellarAddress>(json!(format!("{C1} "))).is_err());
        assert_eq!(AddressKind::Account.to_string(), "account");
        assert_eq!(AddressKind::Contract.as_str(), "contract");
    }

    #[test]
    fn seeds_are_redacted_from_echoed_text() {
        let seed = "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU";
        for text in [
            format!("/api/streams/{seed}"),
            format!("Route 'GET /x/{}' not found", seed.to_lowercase()),
            format!("{seed}extra"),
            seed.to_string(),
        ] {
            let redacted = redact_secret_seeds(&text);
            assert!(!redacted.to_uppercase().contains(&seed[..20]), "{redacted}");
            assert!(redacted.contains("S…[redacted]"));
        }
        let account = "GA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQHES5";
        assert_eq!(redact_secret_seeds(account), account);
        assert_eq!(
            redact_secret_seeds("/api/streams/0192-abc"),
            "/api/streams/0192-abc"
        );
    }
}
