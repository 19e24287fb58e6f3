//! Deadlines in the file: every `*_timeout` key is written in **seconds** (an integer or a
//! fraction: `10`, `0.5`), and becomes a [`Duration`] here, once. The upstream's older
//! `*_timeout_ms` keys (milliseconds) are still read, as aliases, and `epa lint` warns about them
//! (`timeout-in-milliseconds`).

use std::time::Duration;
use thiserror::Error;

/// The longest deadline a key may have: one day. Longer is a typo (milliseconds written as
/// seconds), and would keep a stuck connection for ever in practice.
pub const MAX_SECONDS: f64 = 86_400.0;

/// A deadline that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[error("{key} = {value}: a deadline must be more than 0 and at most 86400 seconds")]
pub struct DeadlineError {
    /// The key, as written in the file.
    pub key: &'static str,
    /// The value given, in seconds.
    pub value: f64,
}

/// `value` seconds as a [`Duration`]: finite, more than zero, at most [`MAX_SECONDS`].
pub fn seconds(key: &'static str, value: f64) -> Result<Duration, DeadlineError> {
    if value.is_finite() && value > 0.0 && value <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(DeadlineError { key, value })
    }
}

/// A deadline given either in seconds (`key`) or, the older spelling, in milliseconds
/// (`key_ms`); both at once is an error, neither is `default`.
pub fn seconds_or_ms(
    key: &'static str,
    value: Option<f64>,
    key_ms: &'static str,
    value_ms: Option<u64>,
    default: Duration,
) -> Result<Duration, DeadlineError> {
    match (value, value_ms) {
        (Some(s), None) => seconds(key, s),
        // The u64 → f64 conversion is exact up to 2^53 ms, far past MAX_SECONDS.
        #[allow(clippy::cast_precision_loss)]
        (None, Some(ms)) => seconds(key_ms, ms as f64 / 1000.0),
        (None, None) => Ok(default),
        (Some(s), Some(_)) => Err(DeadlineError {
            key: key_ms,
            value: s,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_checked() {
        assert_eq!(seconds("k", 0.5), Ok(Duration::from_millis(500)));
        assert_eq!(seconds("k", 86_400.0), Ok(Duration::from_secs(86_400)));
        for bad in [0.0, -1.0, 86_400.5, f64::NAN, f64::INFINITY] {
            assert!(seconds("k", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn milliseconds_are_an_alias() {
        let d = Duration::from_secs(7);
        assert_eq!(seconds_or_ms("t", None, "t_ms", None, d), Ok(d));
        assert_eq!(
            seconds_or_ms("t", Some(2.0), "t_ms", None, d),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            seconds_or_ms("t", None, "t_ms", Some(2500), d),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(
            seconds_or_ms("t", None, "t_ms", Some(0), d)
                .unwrap_err()
                .key,
            "t_ms"
        );
        assert!(seconds_or_ms("t", Some(1.0), "t_ms", Some(1000), d).is_err());
    }
}
