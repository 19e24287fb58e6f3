//! Why an NTLM message was refused: [`NtlmError`], its stable reason codes, and how it reaches
//! the layer as an [`AuthError`].

use crate::throttle::ThrottleRule;
use crate::verifier::AccountRestriction;
use epa_core::authenticator::AuthError;
use thiserror::Error;

/// Why an NTLM message was refused (reported to the layer as an [`AuthError`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NtlmError {
    /// Structurally invalid.
    #[error("malformed NTLM message: {0}")]
    Malformed(&'static str),
    /// A message of the wrong type for this point of the exchange.
    #[error("unexpected NTLM message: expected type {expected}")]
    UnexpectedMessage {
        /// The type expected.
        expected: u32,
    },
    /// LM-only or anonymous.
    #[error("LM and anonymous authentication are refused")]
    LmOrAnonymous,
    /// NTLMv1.
    #[error("NTLMv1 is refused")]
    Ntlmv1,
    /// Timestamp outside the window.
    #[error("NTLMv2 timestamp is {skew_secs} s away from the server clock (limit {limit_secs} s)")]
    Timestamp {
        /// Distance in seconds.
        skew_secs: u64,
        /// The limit.
        limit_secs: u64,
    },
    /// Unknown user or wrong password (not distinguished, on purpose).
    #[error("unknown user or wrong password for {domain}\\{user}")]
    BadCredentials {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
    },
    /// The MIC does not verify: a message was altered.
    #[error("MIC mismatch: the NTLM messages were altered")]
    MicMismatch,
    /// A failure-throttling key (the client's address, the address and account, or the
    /// account) is cooling down after repeated failed logons; the password was not checked.
    #[error("throttled ({}): too many failed logons from this address or for this account", .rule.label())]
    Throttled {
        /// The rule that refused.
        rule: ThrottleRule,
    },
    /// The domain the client typed is neither the verifier's nor trusted by it.
    #[error("logon refused for {domain}\\{user}: unknown domain")]
    UnknownDomain {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
    },
    /// The verifier (a domain controller) says the account may not log on now.
    #[error("logon refused for {domain}\\{user}: {}", .restriction.code())]
    AccountRestricted {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
        /// Why.
        restriction: AccountRestriction,
    },
    /// The verifier refused the logon for a reason it named.
    #[error("logon refused for {domain}\\{user}: {reason}")]
    Refused {
        /// Domain as sent.
        domain: String,
        /// User as sent.
        user: String,
        /// The verifier's reason.
        reason: String,
    },
    /// The verifier could not be reached or did not answer in time: the credentials were not
    /// judged (503, never 401, never an accept).
    #[error("credential verifier unavailable: {reason}")]
    VerifierUnavailable {
        /// What failed.
        reason: String,
        /// `Retry-After` seconds.
        retry_after_secs: u32,
    },
}

impl From<NtlmError> for AuthError {
    fn from(e: NtlmError) -> Self {
        match e {
            NtlmError::Malformed(_) | NtlmError::UnexpectedMessage { .. } => {
                AuthError::InvalidToken(e.to_string())
            }
            NtlmError::VerifierUnavailable {
                reason,
                retry_after_secs,
            } => AuthError::Unavailable {
                reason,
                retry_after_secs,
            },
            _ => AuthError::Refused {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl NtlmError {
    /// The stable reason code of a refusal (logged as `reason`, the `epa_decisions_total`
    /// label).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::UnexpectedMessage { .. } => "invalid-token",
            Self::LmOrAnonymous => "lm-or-anonymous-refused",
            Self::Ntlmv1 => "ntlmv1-refused",
            Self::Timestamp { .. } => "timestamp-skew",
            Self::BadCredentials { .. } => "bad-credentials",
            Self::MicMismatch => "mic-mismatch",
            Self::Throttled { .. } => "throttled",
            Self::UnknownDomain { .. } => "unknown-domain",
            Self::AccountRestricted { restriction, .. } => restriction.code(),
            Self::Refused { .. } => "logon-refused",
            Self::VerifierUnavailable { .. } => "backend-unavailable",
        }
    }
}
