//! The Fluxora contract's accrual rule, as pure functions over integers.
//!
//! Amounts are `i128` stroops (raw token units; USDC on Stellar has 7 decimals) and times are
//! `u64` unix seconds (ledger close time on chain). Everything here is exact integer arithmetic
//! mirroring the contract's `calculate_accrued_amount_checkpointed` (Fluxora-Contracts
//! `75b15ca`, `contracts/stream/src/accrual.rs`): no division, no rounding, a multiplication
//! overflow saturates to the deposit, and no function panics for any input.
//!
//! For a Linear stream with checkpoint `(checkpoint_amount, checkpoint_at)`, initially
//! `(0, start_time)`:
//!
//! ```text
//! accrued(t) = 0                                        if t < cliff, deposit <= 0 or rate < 0
//!            = clamp(checkpoint_amount, 0, deposit)     if checkpoint_at >= end
//!            = clamp(checkpoint_amount +sat added, 0, deposit)  otherwise, where
//!   added = max(0, min(t, end) - checkpoint_at) * rate  (checked; on overflow added = deposit)
//! ```
//!
//! Pausing does not stop accrual; a cancelled stream is evaluated at its cancel time (the caller
//! passes `cancelled_at` as `t`). The contract's own quirks are kept on purpose, notably that a
//! rate change before the cliff checkpoints 0 and loses the start..t slice (start 0, cliff 500,
//! end 1000, rate 1 raised to 2 at t = 200: accrued(500) is 600, not 800).

/// Inputs of the contract's Linear accrual (the formula in the module documentation). Amounts
/// are i128 stroops, times u64 unix seconds.
///
/// The fields mirror the contract's `Stream` (`deposit_amount`, `rate_per_second`, `start_time`,
/// `cliff_time`, `end_time`, `checkpointed_amount`, `checkpointed_at`). A fresh stream is built
/// with [`AccrualSchedule::linear`]; rate changes go through
/// [`AccrualSchedule::with_rate_change`] or [`AccrualSchedule::with_rate_decrease`]; top-ups and
/// end-time extensions just replace `deposit` / `end_time` (the contract does not checkpoint for
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccrualSchedule {
    /// Total escrowed amount in stroops (the contract's `deposit_amount`); accrual never exceeds
    /// it.
    pub deposit: i128,
    /// Accrual per second in stroops, for the current rate epoch.
    pub rate_per_second: i128,
    /// Accrual start (unix seconds). Only used to build the initial checkpoint: accrual counts from
    /// `checkpoint_at`.
    pub start_time: u64,
    /// Nothing is accrued before this instant (unix seconds); at the cliff the whole slice since
    /// `checkpoint_at` appears at once.
    pub cliff_time: u64,
    /// Accrual stops at this instant (unix seconds).
    pub end_time: u64,
    /// Amount locked in at the last rate change (0 at creation).
    pub checkpoint_amount: i128,
    /// Start of the current rate epoch (= start_time at creation).
    pub checkpoint_at: u64,
}

/// The contract's stream kinds (`StreamKind`, u32 on chain: Linear 0, CliffOnly 1, CliffSlope 2),
/// for [`AccrualSchedule::accrued_at_kind`]; the resource's `kind` (`linear`, `cliffOnly`,
/// `cliffSlope`). Streams created through the API are linear.
///
/// The `created` event does not carry the kind: a rate of 0 means CliffOnly, while Linear and
/// CliffSlope can only be told apart by reading the stream's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum StreamKind {
    /// Linear from the checkpoint (the default; [`AccrualSchedule::accrued_at`]).
    #[default]
    Linear,
    /// The whole deposit at the cliff, nothing before.
    CliffOnly,
    /// Linear from the cliff (not from the start); ignores checkpoints.
    CliffSlope,
}

impl StreamKind {
    /// The kind for the contract's u32 code (0 Linear, 1 CliffOnly, 2 CliffSlope); `None` for any
    /// other value.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(StreamKind::Linear),
            1 => Some(StreamKind::CliffOnly),
            2 => Some(StreamKind::CliffSlope),
            _ => None,
        }
    }

    /// Every kind, by contract code.
    pub const ALL: [StreamKind; 3] = [
        StreamKind::Linear,
        StreamKind::CliffOnly,
        StreamKind::CliffSlope,
    ];

    /// The wire and storage name: `linear`, `cliffOnly`, `cliffSlope`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Linear => "linear",
            StreamKind::CliffOnly => "cliffOnly",
            StreamKind::CliffSlope => "cliffSlope",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// The contract's u32 code of this kind.
    pub fn code(self) -> u32 {
        match self {
            StreamKind::Linear => 0,
            StreamKind::CliffOnly => 1,
            StreamKind::CliffSlope => 2,
        }
    }
}

impl AccrualSchedule {
    /// A fresh linear schedule with checkpoint (0, start), as the contract's `create_stream`
    /// stores it. Amounts in stroops, times in unix seconds; nothing is validated here (see
    /// [`AccrualSchedule::deposit_covers_duration`], and `docs/api.md`, "Create rules", for the
    /// creation rules).
    pub const fn linear(
        deposit: i128,
        rate_per_second: i128,
        start_time: u64,
        cliff_time: u64,
        end_time: u64,
    ) -> Self {
        Self {
            deposit,
            rate_per_second,
            start_time,
            cliff_time,
            end_time,
            checkpoint_amount: 0,
            checkpoint_at: start_time,
        }
    }

    /// accrued(t) exactly as the contract's Linear accrual: t < cliff -> 0; deposit <= 0 -> 0;
    /// rate < 0 -> 0; checkpoint_at >= end -> clamp(ck, 0, deposit);
    /// e = max(0, min(t, end) - ck_at); added = e * rate checked, overflow -> deposit;
    /// clamp(saturating ck + added, 0, deposit). Never panics, for any input.
    ///
    /// `t` is unix seconds (for a cancelled stream, its `cancelled_at`); the result is stroops in
    /// `[0, max(deposit, 0)]`. It is non-decreasing in `t` whenever `checkpoint_amount >= 0`,
    /// which every contract state satisfies.
    pub fn accrued_at(&self, t: u64) -> i128 {
        if t < self.cliff_time || self.deposit <= 0 || self.rate_per_second < 0 {
            return 0;
        }
        if self.checkpoint_at >= self.end_time {
            return self.checkpoint_amount.clamp(0, self.deposit);
        }
        // Both operands fit i128 exactly, so the difference cannot overflow.
        let elapsed = (i128::from(t.min(self.end_time)) - i128::from(self.checkpoint_at)).max(0);
        let added = elapsed
            .checked_mul(self.rate_per_second)
            .unwrap_or(self.deposit);
        self.checkpoint_amount
            .saturating_add(added)
            .clamp(0, self.deposit)
    }

    /// Accrued stroops at unix time `t` for a stream of the given kind, as the contract computes
    /// it: Linear is [`AccrualSchedule::accrued_at`]; CliffOnly is the whole deposit from the cliff
    /// on; CliffSlope is `clamp(saturating (min(t, end) - cliff) * rate, 0, deposit)` from the
    /// cliff on, ignoring checkpoints. 0 before the cliff or when `deposit <= 0`. Never panics.
    pub fn accrued_at_kind(&self, kind: StreamKind, t: u64) -> i128 {
        if t < self.cliff_time || self.deposit <= 0 {
            return 0;
        }
        match kind {
            StreamKind::Linear => self.accrued_at(t),
            StreamKind::CliffOnly => self.deposit,
            StreamKind::CliffSlope => {
                let elapsed = i128::from(t.min(self.end_time).saturating_sub(self.cliff_time));
                elapsed
                    .saturating_mul(self.rate_per_second)
                    .clamp(0, self.deposit)
            }
        }
    }

    /// What has not accrued at unix time `t`, in stroops: `deposit - accrued_at(t)` (the API's
    /// `remainingAmount`; the contract's cancel refund when `t` is the cancel time). Never panics.
    pub fn remaining_at(&self, t: u64) -> i128 {
        self.deposit.saturating_sub(self.accrued_at(t))
    }

    /// The contract's update_rate_per_second / decrease_rate checkpoint: returns the schedule with
    /// checkpoint_amount = accrued_at(t), checkpoint_at = t, rate = new_rate (deposit untouched).
    ///
    /// `t` is the change's effective time (unix seconds; the `rate_upd` event's `effective_time`),
    /// `new_rate` is stroops per second. The contract's preconditions (Linear, `t < end`, rate
    /// bounds, deposit coverage) are the caller's business. Before the cliff this checkpoints 0 at
    /// `t`, so the slice `start..t` is lost, exactly as on chain. Note the
    /// contract's `update_rate` entry point emits the same `rate_upd` event WITHOUT checkpointing;
    /// this function models the checkpointing one.
    #[must_use]
    pub fn with_rate_change(&self, t: u64, new_rate: i128) -> Self {
        Self {
            rate_per_second: new_rate,
            checkpoint_amount: self.accrued_at(t),
            checkpoint_at: t,
            ..*self
        }
    }

    /// The contract's `decrease_rate_per_second` at unix time `t`: checkpoints like
    /// [`AccrualSchedule::with_rate_change`] and shrinks the deposit to
    /// `accrued_at(t) + new_rate * (end - t)`. Returns the new schedule and the sender's refund
    /// (old deposit - new deposit, stroops), as the `rate_dec` event reports them (deposit 1000,
    /// rate 10 over 0..100, decreased to 5 at t = 10: checkpoint (100, 10), deposit 550, refund
    /// 450).
    ///
    /// `None` where the contract fails: `t >= end` (InvalidState), `new_rate <= 0` or
    /// `new_rate >= rate` (InvalidParams), arithmetic overflow or a new deposit above the old one
    /// (ArithmeticOverflow).
    pub fn with_rate_decrease(&self, t: u64, new_rate: i128) -> Option<(Self, i128)> {
        if t >= self.end_time || new_rate <= 0 || new_rate >= self.rate_per_second {
            return None;
        }
        let checkpointed = self.with_rate_change(t, new_rate);
        let remaining_seconds = i128::from(self.end_time - t);
        let new_deposit = new_rate
            .checked_mul(remaining_seconds)?
            .checked_add(checkpointed.checkpoint_amount)?;
        if new_deposit > self.deposit {
            return None;
        }
        let refund = self.deposit.checked_sub(new_deposit)?;
        Some((
            Self {
                deposit: new_deposit,
                ..checkpointed
            },
            refund,
        ))
    }

    /// Default end time when none is given: start + floor(deposit / rate), as the contract
    /// computes it; None if rate <= 0, deposit <= 0 or on u64 overflow.
    ///
    /// Unix seconds from `start_time` (unix seconds), `deposit` and `rate_per_second` (stroops).
    /// The result equals `start_time` when `deposit < rate`; `create_stream`'s `start < end` rule
    /// then rejects it.
    pub fn default_end_time(start_time: u64, deposit: i128, rate_per_second: i128) -> Option<u64> {
        if deposit <= 0 || rate_per_second <= 0 {
            return None;
        }
        let seconds = u64::try_from(deposit / rate_per_second).ok()?;
        start_time.checked_add(seconds)
    }

    /// The contract's `create_stream` deposit rule: deposit >= rate * (end - start); false on
    /// overflow of the product (the contract then fails with InvalidParams).
    ///
    /// `deposit` and `rate_per_second` in stroops, times in unix seconds. This is only the
    /// deposit rule (InsufficientDeposit otherwise); `start < end`, `deposit > 0`, `rate > 0` and
    /// the cliff bounds are separate checks (`docs/api.md`, "Create rules"). The duration is the
    /// exact signed difference `end - start`, so the function never panics.
    pub fn deposit_covers_duration(
        deposit: i128,
        rate_per_second: i128,
        start_time: u64,
        end_time: u64,
    ) -> bool {
        let duration = i128::from(end_time) - i128::from(start_time);
        rate_per_second
            .checked_mul(duration)
            .is_some_and(|needed| deposit >= needed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
