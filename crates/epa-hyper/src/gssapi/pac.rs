//! The Kerberos PAC's logon information: the account's SID and the group SIDs the domain
//! controller put in the ticket (nested membership already expanded), read from MIT's
//! `urn:mspac:logon-info` name attribute and parsed by [`epa_core::pac`].
//!
//! Used only when MIT reports it `authenticated` (the PAC's server checksum verified with the
//! service key; MIT hides an unverified PAC altogether). A missing, unverified or unreadable PAC
//! gives no groups, as before this existed: fewer groups never grant more access, and a wrapper
//! such as `epa_winbind::WithWinbindGroups` then still looks the account up.

use super::ffi::Name;
use crate::authenticator::Identity;
use epa_core::pac::{LogonInfo, MAX_PAC_LEN, parse_logon_info};

/// MIT's name attribute for the PAC's `KERB_VALIDATION_INFO` buffer.
const LOGON_INFO: &str = "urn:mspac:logon-info";

/// The verified logon information of `source`, if its ticket carried one this backend can read.
pub(super) fn logon_info(source: &Name, identity: &Identity) -> Option<LogonInfo> {
    let principal = identity.principal.escape_debug();
    let attribute = match source.attribute(LOGON_INFO, MAX_PAC_LEN) {
        Ok(Some(attribute)) => attribute,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(target: "epa", %principal, error = %e, "the ticket's PAC could not be read: no groups from it");
            return None;
        }
    };
    if !attribute.authenticated {
        tracing::warn!(target: "epa", %principal, "the ticket's PAC is not verified: no groups from it");
        return None;
    }
    match parse_logon_info(&attribute.value) {
        Ok(info) => Some(info),
        Err(e) => {
            tracing::warn!(target: "epa", %principal, error = %e, "the ticket's PAC logon information is not readable: no groups from it");
            None
        }
    }
}
