//! The embedded NTLMv2 acceptor (MS-NLMP), the default backend: no system service needed.
//!
//! What it checks, in order, on the AUTHENTICATE message:
//! * NTLMv2 only: an empty NtChallengeResponse (LM-only or anonymous) and a 24-byte one (NTLMv1)
//!   are refused (MS-NLMP §3.3.1 is never used);
//! * the client's timestamp lies within [`NtlmAcceptor::max_clock_skew`] of ours;
//! * no failure-throttling key refuses the attempt: the client's address, the address and
//!   account, or the account for unfamiliar (or familiar) addresses — smart lockout as AD FS
//!   and Entra do it ([`ThrottleSettings`]; refused without looking at the password and without
//!   asking a domain controller);
//! * `NTProofStr` against the user file's NT hash (constant-time; an unknown user is checked
//!   against a dummy hash, so it costs the same work as a wrong password);
//! * the MIC over the three messages when the client says it sent one (`MsvAvFlags` 0x2);
//! * then it reports, without judging, `MsvAvChannelBindings` (match / mismatch / absent /
//!   all-zero) and `MsvAvTargetName` (treated as absent when `MsvAvFlags` 0x4 says the SPN came
//!   from an untrusted source, as MS-NLMP §3.2.5.1.2 requires).
//!
//! The `sspi` crate's acceptor was not used: it cannot report an absent binding and verifies the
//! password only in `complete_auth_token` (see the reference file).
//!
//! Tokens are raw NTLMSSP, under the `NTLM` scheme or inside `Negotiate` (as Windows accepts).
//! SPNEGO-wrapped NTLM is refused as unsupported by this backend.
//!
//! The crate implements `epa_core`'s [`Authenticator`](epa_core::authenticator::Authenticator)
//! and needs neither HTTP nor an async runtime: `epa-hyper` re-exports it as `epa_hyper::ntlm`,
//! and a [`CredentialVerifier`] (`epa-winbind`'s domain-controller pass-through) depends on it
//! alone. Feature `initiator`: the test initiator (`client`), for tests and load generation.

mod acceptor;
mod casing;
#[cfg(any(test, feature = "initiator"))]
pub mod client;
mod context;
mod crypto;
mod error;
mod familiar;
mod observe;
mod remote;
mod telemetry;
mod throttle;
pub mod users;
pub mod verifier;
pub mod wire;

pub use acceptor::NtlmAcceptor;
pub use context::NtlmContext;
pub use error::NtlmError;
pub use observe::inspect_authenticate;
pub use throttle::{ThrottleRule, ThrottleSettings};
pub use users::{UserDb, UserFileError, UserFileOptions};
pub use verifier::{
    AccountRestriction, CredentialVerifier, DomainLookup, LogonError, NetworkLogon, VerifiedLogon,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod verifier_tests;
