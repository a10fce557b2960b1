//! The contract's read-only views, called through Stellar RPC's `simulateTransaction` (nothing is
//! submitted, nothing is signed, nothing is paid): what neither the events nor the stream's storage
//! entry tell (`docs/indexer.md`, "Reading the contract's views").
//!
//! - `get_lookback_window(stream_id) -> Option<u32>`: a stream's lookback window in ledgers. Set by
//!   `create_stream_with_lookback` and `set_lookback_window`, neither of which emits an event, and
//!   kept outside the `Stream` entry. It caps what the recipient can withdraw ([`crate::streams`]).
//! - `get_config() -> Config { admin, token }`: the token the contract streams, set once at `init`.
//!
//! A view call is an unsigned transaction with one `InvokeHostFunction` operation from the
//! all-zero account (`GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAWHF`, what read-only
//! simulations commonly use): [`invocation`] builds it, [`decode_result`] reads the returned
//! `ScVal`. Both are pure and never panic.

use base64::Engine as _;
use stellar_xdr::{
    ContractId, Hash, HostFunction, InvokeContractArgs, InvokeHostFunctionOp, Limits, Memo,
    MuxedAccount, Operation, OperationBody, Preconditions, ReadXdr, ScAddress, ScSymbol, ScVal,
    SequenceNumber, Transaction, TransactionEnvelope, TransactionExt, TransactionV1Envelope,
    Uint256, WriteXdr,
};

use crate::indexer::decode::{Fields, MAX_XDR_BYTES, MAX_XDR_DEPTH};
use crate::indexer::rpc::{RpcClient, RpcError};

/// Contract view simulations in flight at once (one per stream: simulations do not batch).
pub const VIEW_CONCURRENCY: usize = 8;

/// The view that returns a stream's lookback window.
pub const LOOKBACK_VIEW: &str = "get_lookback_window";
/// The view that returns the contract's configuration (admin, token).
pub const CONFIG_VIEW: &str = "get_config";

/// Why a view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The RPC call failed (transport, HTTP, JSON-RPC error).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The simulation ran and the contract (or the host) failed it, e.g. a stream that no
    /// longer exists; the RPC's message, cut to 300 characters.
    #[error("the contract failed {function}: {message}")]
    Failed {
        /// The view called.
        function: &'static str,
        /// The simulation's `error`.
        message: String,
    },
    /// The simulation returned something that is not the view's result type.
    #[error("{function} returned an unexpected value: {message}")]
    Decode {
        /// The view called.
        function: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl ViewError {
    /// Whether the contract itself refused the call (not a transport or decoding problem): the
    /// answer for that stream is "unknown" and reading it again later may still fail the same
    /// way.
    pub fn is_contract_failure(&self) -> bool {
        matches!(self, ViewError::Failed { .. })
    }
}

/// The contract's configuration as `get_config` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractConfig {
    /// The SEP-41 token the contract streams (C… StrKey).
    pub token: String,
    /// The contract's admin (G… or C… StrKey).
    pub admin: String,
}

/// A stream's lookback window as read, with the ledger the simulation ran at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookbackRead {
    /// The contract (C… StrKey).
    pub contract_id: String,
    /// The contract's u64 stream id.
    pub stream_id: u64,
    /// The window in ledgers (5 s each); `None`: no window.
    pub ledgers: Option<u32>,
    /// The ledger the view was read at (the simulation's `latestLedger`).
    pub read_ledger: u32,
}

/// The base64 `TransactionEnvelope` that calls `function(args)` on `contract_id` (a C… StrKey)
/// from the all-zero account, for `simulateTransaction`. `None` when `contract_id` is not a
/// contract StrKey or `function` is not a valid symbol (at most 32 characters of `[A-Za-z0-9_]`).
pub fn invocation(contract_id: &str, function: &str, args: Vec<ScVal>) -> Option<String> {
    let contract = stellar_strkey::Contract::from_string(contract_id).ok()?;
    if !function
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let function_name = ScSymbol(function.as_bytes().to_vec().try_into().ok()?);
    let operation = Operation {
        source_account: None,
        body: OperationBody::InvokeHostFunction(InvokeHostFunctionOp {
            host_function: HostFunction::InvokeContract(InvokeContractArgs {
                contract_address: ScAddress::Contract(ContractId(Hash(contract.0))),
                function_name,
                args: args.try_into().ok()?,
            }),
            auth: Default::default(),
        }),
    };
    let transaction = Transaction {
        source_account: MuxedAccount::Ed25519(Uint256([0; 32])),
        fee: 100,
        seq_num: SequenceNumber(0),
        cond: Preconditions::None,
        memo: Memo::None,
        operations: vec![operation].try_into().ok()?,
        ext: TransactionExt::V0,
    };
    TransactionEnvelope::Tx(TransactionV1Envelope {
        tx: transaction,
        signatures: Default::default(),
    })
    .to_xdr_base64(Limits::none())
    .ok()
}

/// Decodes a simulation's base64 `ScVal` result.
///
/// # Errors
/// [`ViewError::Decode`] when it is not base64 or not one XDR `ScVal`.
pub fn decode_result(function: &'static str, xdr: &str) -> Result<ScVal, ViewError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(xdr)
        .map_err(|e| ViewError::Decode {
            function,
            message: format!("not base64: {e}"),
        })?;
    let limits = Limits {
        depth: MAX_XDR_DEPTH,
        len: MAX_XDR_BYTES,
    };
    ScVal::from_xdr(&bytes, limits).map_err(|e| ViewError::Decode {
        function,
        message: format!("not one XDR ScVal: {e}"),
    })
}

/// `get_lookback_window`'s result: `Void` (none) or a `U32` of ledgers.
///
/// # Errors
/// [`ViewError::Decode`] for any other value.
pub fn lookback_from(value: &ScVal) -> Result<Option<u32>, ViewError> {
    match value {
        ScVal::Void => Ok(None),
        ScVal::U32(ledgers) => Ok(Some(*ledgers)),
        other => Err(ViewError::Decode {
            function: LOOKBACK_VIEW,
            message: format!("expected U32 or Void, got {}", other.name()),
        }),
    }
}

/// `get_config`'s result: the `Config` struct (`admin`, `token` addresses).
///
/// # Errors
/// [`ViewError::Decode`] when it is not such a struct or the token is not a contract.
pub fn config_from(value: &ScVal) -> Result<ContractConfig, ViewError> {
    let decode = |message: String| ViewError::Decode {
        function: CONFIG_VIEW,
        message,
    };
    let fields = Fields::parse(CONFIG_VIEW, value).map_err(|e| decode(e.to_string()))?;
    let token = fields.address("token").map_err(|e| decode(e.to_string()))?;
    let admin = fields.address("admin").map_err(|e| decode(e.to_string()))?;
    if !token.starts_with('C') {
        return Err(decode(format!(
            "the token must be a contract (C…), got {token}"
        )));
    }
    Ok(ContractConfig { token, admin })
}

/// Calls `function(args)` on `contract_id` through `simulateTransaction` and returns its result
/// with the ledger it ran at.
///
/// # Errors
/// [`ViewError`]: the RPC failed, the simulation failed, or it returned no result.
pub async fn call(
    rpc: &RpcClient,
    contract_id: &str,
    function: &'static str,
    args: Vec<ScVal>,
) -> Result<(ScVal, u32), ViewError> {
    let envelope = invocation(contract_id, function, args).ok_or_else(|| ViewError::Decode {
        function,
        message: format!("cannot call {function} on '{contract_id}'"),
    })?;
    let simulation = rpc.simulate_transaction(&envelope).await?;
    if let Some(message) = simulation.error {
        return Err(ViewError::Failed {
            function,
            message: message.chars().take(300).collect(),
        });
    }
    let result = simulation
        .results
        .first()
        .ok_or_else(|| ViewError::Decode {
            function,
            message: "the simulation returned no result".into(),
        })?;
    Ok((
        decode_result(function, &result.xdr)?,
        simulation.latest_ledger,
    ))
}

/// Reads stream `stream_id`'s lookback window.
///
/// # Errors
/// [`ViewError`] (a stream the contract no longer holds fails the simulation).
pub async fn lookback_window(
    rpc: &RpcClient,
    contract_id: &str,
    stream_id: u64,
) -> Result<LookbackRead, ViewError> {
    let (value, read_ledger) =
        call(rpc, contract_id, LOOKBACK_VIEW, vec![ScVal::U64(stream_id)]).await?;
    Ok(LookbackRead {
        contract_id: contract_id.to_owned(),
        stream_id,
        ledgers: lookback_from(&value)?,
        read_ledger,
    })
}

/// Reads the lookback windows of `stream_ids`, at most `concurrency` simulations at a time, in
/// the order of `stream_ids`. A stream whose simulation the contract fails (closed, archived) or
/// whose answer does not decode is left out (logged): its window stays as last read, and the
/// next read tries again. Only an RPC failure fails the whole read.
///
/// # Errors
/// [`RpcError`].
pub async fn lookback_windows(
    rpc: &RpcClient,
    contract_id: &str,
    stream_ids: &[u64],
    concurrency: usize,
) -> Result<Vec<LookbackRead>, RpcError> {
    use futures::stream::{self, StreamExt as _, TryStreamExt as _};
    let reads: Vec<Option<LookbackRead>> = stream::iter(stream_ids.iter().copied())
        .map(|stream_id| async move {
            match lookback_window(rpc, contract_id, stream_id).await {
                Ok(read) => Ok(Some(read)),
                Err(ViewError::Rpc(error)) => Err(error),
                Err(error) if error.is_contract_failure() => {
                    tracing::debug!(stream_id, error = %error, "lookback window not readable");
                    Ok(None)
                }
                Err(error) => {
                    tracing::warn!(stream_id, error = %error, "lookback window answer not understood; left as last read");
                    Ok(None)
                }
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(reads.into_iter().flatten().collect())
}

/// Reads the contract's configuration.
///
/// # Errors
/// [`ViewError`].
pub async fn config(rpc: &RpcClient, contract_id: &str) -> Result<ContractConfig, ViewError> {
    let (value, _) = call(rpc, contract_id, CONFIG_VIEW, Vec::new()).await?;
    config_from(&value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CONTRACT: &str = "CBX72YCL7Q4B7IFWPNIW24SZXRICTIBI456D7J24BAMYRPTFF5VLOYPM";

    /// The contract call an envelope makes: (contract id, function, args); `None` for anything
    /// but one `InvokeContract` operation.
    fn invoked(envelope: &str) -> Option<(String, String, Vec<ScVal>)> {
        let limits = Limits {
            depth: MAX_XDR_DEPTH,
            len: MAX_XDR_BYTES,
        };
        let TransactionEnvelope::Tx(envelope) =
            TransactionEnvelope::from_xdr_base64(envelope, limits).ok()?
        else {
            return None;
        };
        let [operation] = envelope.tx.operations.as_slice() else {
            return None;
        };
        let OperationBody::InvokeHostFunction(op) = &operation.body else {
            return None;
        };
        let HostFunction::InvokeContract(call) = &op.host_function else {
            return None;
        };
        let ScAddress::Contract(ContractId(Hash(contract))) = &call.contract_address else {
            return None;
        };
        Some((
            stellar_strkey::Contract(*contract).to_string().to_string(),
            String::from_utf8(call.function_name.to_vec()).ok()?,
            call.args.to_vec(),
        ))
    }

    #[test]
    fn an_invocation_names_its_contract_function_and_arguments() {
        let envelope = invocation(CONTRACT, LOOKBACK_VIEW, vec![ScVal::U64(101)]).unwrap();
        let (contract, function, args) = invoked(&envelope).unwrap();
        assert_eq!(contract, CONTRACT);
        assert_eq!(function, LOOKBACK_VIEW);
        assert_eq!(args, vec![ScVal::U64(101)]);
        assert!(invocation("GABC", LOOKBACK_VIEW, Vec::new()).is_none());
        assert!(invocation(CONTRACT, "not a symbol!", Vec::new()).is_none());
        assert!(invoked("AAAA").is_none());
    }

    #[test]
    fn lookback_results_are_void_or_u32() {
        assert_eq!(lookback_from(&ScVal::Void).unwrap(), None);
        assert_eq!(lookback_from(&ScVal::U32(720)).unwrap(), Some(720));
        assert!(lookback_from(&ScVal::U64(720)).is_err());
        let encoded = ScVal::U32(60).to_xdr_base64(Limits::none()).unwrap();
        assert_eq!(
            lookback_from(&decode_result(LOOKBACK_VIEW, &encoded).unwrap()).unwrap(),
            Some(60)
        );
        assert!(decode_result(LOOKBACK_VIEW, "%%").is_err());
        assert!(decode_result(LOOKBACK_VIEW, "AAAA////").is_err());
    }
}
