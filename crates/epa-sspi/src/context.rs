//! What one `AcceptSecurityContext` leg's answers mean, apart from the FFI that obtains them:
//! the user name (`SECPKG_ATTR_NAMES`), the output token's length, and the errors of a leg.
//! Pure, so they are tested on every platform.

use epa_core::authenticator::{AuthError, Identity};
use thiserror::Error;

/// A security context attribute the backend asks for (`QueryContextAttributesW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `SECPKG_ATTR_NAMES`: the authenticated user.
    Names,
    /// `SECPKG_ATTR_PACKAGE_INFO`: the package that completed.
    PackageInfo,
    /// `SECPKG_ATTR_CLIENT_SPECIFIED_TARGET`: the SPN the client named.
    ClientSpecifiedTarget,
}

impl std::fmt::Display for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Names => "SECPKG_ATTR_NAMES",
            Self::PackageInfo => "SECPKG_ATTR_PACKAGE_INFO",
            Self::ClientSpecifiedTarget => "SECPKG_ATTR_CLIENT_SPECIFIED_TARGET",
        })
    }
}

/// Why a leg that SSPI let through cannot be reported: every case is a refusal (401), never
/// an accept with a made-up identity.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ContextError {
    /// `QueryContextAttributesW` failed (or returned no string) for an attribute the backend
    /// needs.
    #[error("SSPI could not report {attribute}: status 0x{status:08x}")]
    Query {
        /// The attribute asked for.
        attribute: Attribute,
        /// The `SECURITY_STATUS` (as unsigned), or `SEC_E_OK` with a null string.
        status: u32,
    },
    /// `SECPKG_ATTR_NAMES` named no user (empty, or `DOMAIN\` with nothing after it).
    #[error("SSPI reported an authenticated context without a user name")]
    EmptyUserName,
    /// The provider claims to have written more than the output buffer holds.
    #[error("SSPI reported a {written}-byte output token in a {capacity}-byte buffer")]
    TokenOverflow {
        /// What the provider reported in `cbBuffer`.
        written: usize,
        /// The buffer's size (`cbMaxToken`).
        capacity: usize,
    },
}

impl From<ContextError> for AuthError {
    fn from(e: ContextError) -> Self {
        AuthError::LogonDenied(e.to_string())
    }
}

/// The identity in a `SECPKG_ATTR_NAMES` answer (`Err`: the query's status). Windows writes
/// `DOMAIN\user` for NTLM and Kerberos alike; `user@REALM` and a bare `user` are read as a
/// Kerberos principal and a domain-less NTLM name. A failed query or an empty user name is an
/// error, never an empty principal.
pub fn identity_from_names(answer: Result<String, u32>) -> Result<Identity, ContextError> {
    let name = answer.map_err(|status| ContextError::Query {
        attribute: Attribute::Names,
        status,
    })?;
    let name = name.trim_end_matches('\0');
    let identity = match name.split_once('\\') {
        Some((domain, user)) => Identity::ntlm(domain, user),
        None => match name.rsplit_once('@') {
            Some((user, realm)) => Identity::kerberos(user, realm),
            None => Identity::ntlm("", name),
        },
    };
    if identity.user.is_empty() {
        return Err(ContextError::EmptyUserName);
    }
    Ok(identity)
}

/// The output token's length: what the provider wrote into a caller-allocated buffer of
/// `capacity` bytes, refused if it claims more (it would be read past the buffer's end).
pub fn output_token_len(written: u32, capacity: usize) -> Result<usize, ContextError> {
    let written = written as usize;
    if written > capacity {
        return Err(ContextError::TokenOverflow { written, capacity });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #20 item 17: a failed `SECPKG_ATTR_NAMES` query became an empty principal that
    /// the gateway accepted.
    #[test]
    fn a_failed_or_empty_name_is_an_error() {
        // SEC_E_UNSUPPORTED_FUNCTION
        assert_eq!(
            identity_from_names(Err(0x8009_0302)),
            Err(ContextError::Query {
                attribute: Attribute::Names,
                status: 0x8009_0302
            })
        );
        for empty in ["", "\0", "TESTDOM\\", "@REALM"] {
            assert_eq!(
                identity_from_names(Ok(empty.into())),
                Err(ContextError::EmptyUserName),
                "{empty:?}"
            );
        }
        let e = AuthError::from(ContextError::EmptyUserName);
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn names_are_read_as_windows_writes_them() {
        assert_eq!(
            identity_from_names(Ok("TESTDOM\\alice".into())),
            Ok(Identity::ntlm("TESTDOM", "alice"))
        );
        assert_eq!(
            identity_from_names(Ok("alice@EPA.TEST\0".into())),
            Ok(Identity::kerberos("alice", "EPA.TEST"))
        );
        assert_eq!(
            identity_from_names(Ok("alice".into())),
            Ok(Identity::ntlm("", "alice"))
        );
    }

    #[test]
    fn an_output_token_longer_than_its_buffer_is_refused() {
        assert_eq!(output_token_len(0, 0), Ok(0));
        assert_eq!(output_token_len(48_256, 48_256), Ok(48_256));
        assert_eq!(
            output_token_len(48_257, 48_256),
            Err(ContextError::TokenOverflow {
                written: 48_257,
                capacity: 48_256
            })
        );
    }
}
