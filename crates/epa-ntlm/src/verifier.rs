//! Who verifies an NTLMv2 response: the local user file (the default), or a service that holds
//! the accounts — a domain controller reached through winbind (`epa-winbind`), as IIS asks its
//! domain controller through Netlogon (MS-NRPC `NetrLogonSamLogonEx`, network logon).
//!
//! Whoever verifies it, the acceptor keeps the rest: it issued the challenge, it reads the AV
//! pairs (binding, target name, MIC flag), it verifies the MIC with the session key the verifier
//! returns, and `epa_core::decide` judges the binding and the SPN. A domain controller verifies
//! `NTProofStr` (which covers the AV pairs) but never compares the binding or the SPN.

use epa_core::sid::Sid;
use thiserror::Error;
use zeroize::Zeroizing;

/// One network logon to verify (MS-NRPC `NETLOGON_NETWORK_INFO`): the names as the client sent
/// them, the server challenge this acceptor issued, and the client's responses.
#[derive(Debug, Clone, Copy)]
pub struct NetworkLogon<'a> {
    /// Domain as sent (may be empty).
    pub domain: &'a str,
    /// User as sent.
    pub user: &'a str,
    /// Workstation as sent (may be empty).
    pub workstation: &'a str,
    /// The 8-byte server challenge of this exchange.
    pub server_challenge: &'a [u8; 8],
    /// The whole NTLMv2 response (`NTProofStr` followed by the client blob with the AV pairs).
    pub nt_response: &'a [u8],
    /// The LMv2 response (usually 24 zero bytes when the client sends `MsvAvTimestamp`).
    pub lm_response: &'a [u8],
}

/// A verified logon.
#[derive(Debug, Clone)]
pub struct VerifiedLogon {
    /// `SessionBaseKey` (MS-NLMP §3.3.2; Netlogon's `UserSessionKey`): the MIC key derives from
    /// it.
    pub session_base_key: Zeroizing<[u8; 16]>,
    /// The account's domain as the verifier knows it (canonical, not as typed).
    pub domain: String,
    /// The account name as the verifier knows it.
    pub user: String,
    /// The account's SID, when the verifier knows it.
    pub user_sid: Option<Sid>,
    /// The account's group SIDs, nested membership already expanded (the primary group first
    /// when known).
    pub groups: Vec<Sid>,
}

/// Why an account may not log on although the password may be right (MS-ERREF NTSTATUS names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountRestriction {
    /// `STATUS_ACCOUNT_DISABLED`.
    Disabled,
    /// `STATUS_ACCOUNT_LOCKED_OUT`.
    LockedOut,
    /// `STATUS_ACCOUNT_EXPIRED`.
    Expired,
    /// `STATUS_PASSWORD_EXPIRED` or `STATUS_PASSWORD_MUST_CHANGE`.
    PasswordExpired,
    /// `STATUS_ACCOUNT_RESTRICTION`, `STATUS_INVALID_LOGON_HOURS`, `STATUS_INVALID_WORKSTATION`
    /// and other policy refusals.
    Restricted,
}

impl AccountRestriction {
    /// A stable name for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::Disabled => "account-disabled",
            Self::LockedOut => "account-locked-out",
            Self::Expired => "account-expired",
            Self::PasswordExpired => "password-expired",
            Self::Restricted => "account-restricted",
        }
    }
}

/// Why a verifier did not verify a logon.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LogonError {
    /// Unknown user or wrong password (not distinguished, on purpose).
    #[error("unknown user or wrong password")]
    BadCredentials,
    /// The account may not log on now.
    #[error("logon refused: {}", .0.code())]
    Restricted(AccountRestriction),
    /// The verifier could not reach whoever holds the accounts, or got no answer in time.
    /// Never a refusal of the credentials: 503 with `Retry-After`.
    #[error("verifier unavailable: {0}")]
    Unavailable(String),
    /// Refused for a reason the verifier reported but that has no better name here.
    #[error("logon refused: {0}")]
    Refused(String),
    /// The domain the client named is neither the verifier's nor one it trusts
    /// (`STATUS_NO_SUCH_DOMAIN`, `WBC_ERR_DOMAIN_NOT_FOUND`): a refusal counted against the
    /// client's address (401), not an outage.
    #[error("unknown domain")]
    UnknownDomain,
}

/// What a verifier knows about a domain name a client typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainLookup {
    /// One of the verifier's domains (its own or a trusted one), with its canonical (NetBIOS)
    /// name: spellings of one domain (NetBIOS, DNS, any case) share one throttling key.
    Known(String),
    /// Neither its own nor trusted: refused before the verifier is asked.
    Untrusted,
    /// The verifier does not know (no domain list): it is asked.
    Unknown,
}

/// Verifies NTLMv2 network logons for the embedded acceptor.
pub trait CredentialVerifier: Send + Sync + 'static {
    /// Verifies `logon`. Must never succeed without having checked `NTProofStr`.
    fn verify(&self, logon: &NetworkLogon<'_>) -> Result<VerifiedLogon, LogonError>;

    /// Whether [`verify`](Self::verify) blocks the thread (network or IPC); the adapter then runs
    /// the leg on a blocking-task thread.
    fn blocking(&self) -> bool {
        false
    }

    /// Seconds a client is told to wait when the verifier is unavailable.
    fn retry_after_secs(&self) -> u32 {
        5
    }

    /// What the verifier knows about `domain` (never empty) before it is asked; the default
    /// knows nothing.
    fn domain(&self, domain: &str) -> DomainLookup {
        let _ = domain;
        DomainLookup::Unknown
    }
}
