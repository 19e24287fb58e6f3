//! What a domain controller's answer means for the client: NTSTATUS codes (MS-ERREF §2.3.1) and
//! libwbclient errors mapped onto [`LogonError`]. Anything not named here is a refusal — never
//! an accept, and never "unavailable" unless it says the domain controller could not be asked.

use crate::ffi::{Failure, wbc_err};
use epa_ntlm::{AccountRestriction, LogonError};

/// MS-ERREF §2.3.1 NTSTATUS values returned by a network logon (MS-NRPC §3.5.4.5.1).
mod nt {
    pub const NO_SUCH_USER: u32 = 0xC000_0064;
    pub const WRONG_PASSWORD: u32 = 0xC000_006A;
    pub const LOGON_FAILURE: u32 = 0xC000_006D;
    pub const ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
    pub const INVALID_LOGON_HOURS: u32 = 0xC000_006F;
    pub const INVALID_WORKSTATION: u32 = 0xC000_0070;
    pub const PASSWORD_EXPIRED: u32 = 0xC000_0071;
    pub const ACCOUNT_DISABLED: u32 = 0xC000_0072;
    pub const NO_LOGON_SERVERS: u32 = 0xC000_005E;
    pub const NO_SUCH_DOMAIN: u32 = 0xC000_00DF;
    pub const IO_TIMEOUT: u32 = 0xC000_00B5;
    pub const TRUSTED_RELATIONSHIP_FAILURE: u32 = 0xC000_018D;
    pub const NETLOGON_NOT_STARTED: u32 = 0xC000_0192;
    pub const ACCOUNT_EXPIRED: u32 = 0xC000_0193;
    pub const DOMAIN_CONTROLLER_NOT_FOUND: u32 = 0xC000_0233;
    pub const ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
    pub const PASSWORD_MUST_CHANGE: u32 = 0xC000_0224;
    pub const RPC_NT_SERVER_UNAVAILABLE: u32 = 0xC002_0017;
    pub const CONNECTION_REFUSED: u32 = 0xC000_0236;
    pub const NETWORK_UNREACHABLE: u32 = 0xC000_023C;
    pub const HOST_UNREACHABLE: u32 = 0xC000_023D;
}

/// The client-facing meaning of a failed verification.
pub(crate) fn logon_error(f: &Failure) -> LogonError {
    match *f {
        Failure::Status { nt_status, .. } => from_nt_status(nt_status, f),
        Failure::Winbind(e) => match e {
            wbc_err::WINBIND_NOT_AVAILABLE | wbc_err::NO_MEMORY => {
                LogonError::Unavailable(format!("winbind: {}", describe(f)))
            }
            // The client named a domain winbind cannot resolve: the client's doing, counted
            // against its address, never an outage.
            wbc_err::DOMAIN_NOT_FOUND => LogonError::UnknownDomain,
            // winbindd answered that the user does not exist: a refusal like a wrong password.
            wbc_err::UNKNOWN_USER => LogonError::BadCredentials,
            _ => LogonError::Refused(format!("winbind: {}", describe(f))),
        },
        Failure::Nul(_) | Failure::TooLong => LogonError::BadCredentials,
    }
}

fn from_nt_status(status: u32, f: &Failure) -> LogonError {
    use AccountRestriction as R;
    match status {
        nt::NO_SUCH_USER | nt::WRONG_PASSWORD | nt::LOGON_FAILURE => LogonError::BadCredentials,
        nt::ACCOUNT_DISABLED => LogonError::Restricted(R::Disabled),
        nt::ACCOUNT_LOCKED_OUT => LogonError::Restricted(R::LockedOut),
        nt::ACCOUNT_EXPIRED => LogonError::Restricted(R::Expired),
        nt::PASSWORD_EXPIRED | nt::PASSWORD_MUST_CHANGE => {
            LogonError::Restricted(R::PasswordExpired)
        }
        nt::ACCOUNT_RESTRICTION | nt::INVALID_LOGON_HOURS | nt::INVALID_WORKSTATION => {
            LogonError::Restricted(R::Restricted)
        }
        nt::NO_SUCH_DOMAIN => LogonError::UnknownDomain,
        nt::NO_LOGON_SERVERS
        | nt::IO_TIMEOUT
        | nt::TRUSTED_RELATIONSHIP_FAILURE
        | nt::NETLOGON_NOT_STARTED
        | nt::DOMAIN_CONTROLLER_NOT_FOUND
        | nt::RPC_NT_SERVER_UNAVAILABLE
        | nt::CONNECTION_REFUSED
        | nt::NETWORK_UNREACHABLE
        | nt::HOST_UNREACHABLE => {
            LogonError::Unavailable(format!("domain controller: {}", describe(f)))
        }
        _ => LogonError::Refused(describe(f)),
    }
}

/// A log-safe description (the NTSTATUS in hex and libwbclient's name for it).
pub(crate) fn describe(f: &Failure) -> String {
    match f {
        Failure::Status {
            nt_status,
            nt_string,
        } => match nt_string {
            Some(s) => format!("{} (0x{nt_status:08x})", s.escape_debug()),
            None => format!("NTSTATUS 0x{nt_status:08x}"),
        },
        Failure::Winbind(e) => match *e {
            wbc_err::WINBIND_NOT_AVAILABLE => "winbindd not available".into(),
            wbc_err::DOMAIN_NOT_FOUND => "domain not found".into(),
            wbc_err::INVALID_RESPONSE => "invalid response from winbindd".into(),
            other => format!("wbcErr {other}"),
        },
        Failure::Nul(what) => format!("{what} contains a NUL character"),
        Failure::TooLong => "response too long".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u32) -> LogonError {
        logon_error(&Failure::Status {
            nt_status: s,
            nt_string: None,
        })
    }

    #[test]
    fn wrong_password_and_unknown_user_are_the_same_refusal() {
        assert_eq!(status(nt::WRONG_PASSWORD), LogonError::BadCredentials);
        assert_eq!(status(nt::NO_SUCH_USER), LogonError::BadCredentials);
        assert_eq!(status(nt::LOGON_FAILURE), LogonError::BadCredentials);
    }

    #[test]
    fn restrictions_keep_their_reason() {
        assert_eq!(
            status(nt::ACCOUNT_DISABLED),
            LogonError::Restricted(AccountRestriction::Disabled)
        );
        assert_eq!(
            status(nt::ACCOUNT_LOCKED_OUT),
            LogonError::Restricted(AccountRestriction::LockedOut)
        );
        assert_eq!(
            status(nt::PASSWORD_MUST_CHANGE),
            LogonError::Restricted(AccountRestriction::PasswordExpired)
        );
    }

    #[test]
    fn an_unreachable_domain_controller_is_unavailable_never_a_refusal() {
        for s in [
            nt::NO_LOGON_SERVERS,
            nt::IO_TIMEOUT,
            nt::NETLOGON_NOT_STARTED,
        ] {
            assert!(matches!(status(s), LogonError::Unavailable(_)), "{s:x}");
        }
        assert!(matches!(
            logon_error(&Failure::Winbind(wbc_err::WINBIND_NOT_AVAILABLE)),
            LogonError::Unavailable(_)
        ));
    }

    #[test]
    fn a_domain_nobody_knows_is_the_clients_refusal_not_an_outage() {
        assert_eq!(status(nt::NO_SUCH_DOMAIN), LogonError::UnknownDomain);
        assert_eq!(
            logon_error(&Failure::Winbind(wbc_err::DOMAIN_NOT_FOUND)),
            LogonError::UnknownDomain
        );
        // A known domain whose controllers cannot be reached is an outage.
        for s in [
            nt::DOMAIN_CONTROLLER_NOT_FOUND,
            nt::TRUSTED_RELATIONSHIP_FAILURE,
            nt::RPC_NT_SERVER_UNAVAILABLE,
        ] {
            assert!(matches!(status(s), LogonError::Unavailable(_)), "{s:x}");
        }
    }

    #[test]
    fn every_outcome_has_its_stable_code_in_the_acceptor() {
        use epa_ntlm::NtlmError;
        let code = |e: LogonError| -> &'static str {
            let (domain, user) = (String::new(), String::new());
            match e {
                LogonError::BadCredentials => NtlmError::BadCredentials { domain, user }.code(),
                LogonError::Restricted(restriction) => NtlmError::AccountRestricted {
                    domain,
                    user,
                    restriction,
                }
                .code(),
                LogonError::UnknownDomain => NtlmError::UnknownDomain { domain, user }.code(),
                LogonError::Refused(reason) => NtlmError::Refused {
                    domain,
                    user,
                    reason,
                }
                .code(),
                LogonError::Unavailable(reason) => NtlmError::VerifierUnavailable {
                    reason,
                    retry_after_secs: 1,
                }
                .code(),
                _ => "other",
            }
        };
        assert_eq!(code(status(nt::WRONG_PASSWORD)), "bad-credentials");
        assert_eq!(code(status(nt::ACCOUNT_LOCKED_OUT)), "account-locked-out");
        assert_eq!(code(status(nt::ACCOUNT_DISABLED)), "account-disabled");
        assert_eq!(code(status(nt::ACCOUNT_EXPIRED)), "account-expired");
        assert_eq!(code(status(nt::PASSWORD_EXPIRED)), "password-expired");
        assert_eq!(code(status(nt::INVALID_LOGON_HOURS)), "account-restricted");
        assert_eq!(code(status(nt::NO_SUCH_DOMAIN)), "unknown-domain");
        assert_eq!(code(status(nt::NO_LOGON_SERVERS)), "backend-unavailable");
        assert_eq!(
            code(logon_error(&Failure::Winbind(
                wbc_err::WINBIND_NOT_AVAILABLE
            ))),
            "backend-unavailable"
        );
        assert_eq!(code(status(0xC000_0001)), "logon-refused");
    }

    #[test]
    fn anything_unknown_is_refused() {
        assert!(matches!(status(0xC000_0001), LogonError::Refused(_)));
        assert!(matches!(
            logon_error(&Failure::Winbind(wbc_err::INVALID_RESPONSE)),
            LogonError::Refused(_)
        ));
        // Success codes never come here, but if one did it would not be an accept.
        assert!(matches!(status(0), LogonError::Refused(_)));
    }
}
