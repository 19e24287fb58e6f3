//! The metric this crate counts (through the [`metrics`] facade; without an installed recorder it
//! costs a branch).

/// `epa_throttle_refusals_total{key}`: a logon refused unchecked because a failure-throttling
/// key (`address`, `address-account`, `account`) is cooling down or locked.
pub(crate) fn throttle_refusal(key: &'static str) {
    metrics::counter!("epa_throttle_refusals_total", "key" => key).increment(1);
}
