//! What the backend does with a Kerberos ticket's encryption types (`[backend] weak_enctypes`):
//! the rule is epa-core's ([`WeakEnctypes::refuses`]); the counting and logging are here.

use crate::authenticator::AuthError;
use epa_core::ap_req::ApReqEnctypes;
use epa_core::enctype::{Enctype, WeakEnctypes};

/// The ticket's session-key enctype for the completion: counted, and judged with the ticket's
/// own enctype — refused (`weak-enctype`) or reported as a would-be refusal, as `choice` says.
pub(super) fn checked(
    ap_req: Option<ApReqEnctypes>,
    choice: WeakEnctypes,
) -> Result<Option<Enctype>, AuthError> {
    let Some(seen) = ap_req else {
        return Ok(None);
    };
    let weakest = seen.weakest();
    if choice.refuses(weakest) {
        return Err(AuthError::WeakEnctype { enctype: weakest });
    }
    crate::telemetry::session_enctype(seen.session);
    if choice.audits(weakest) {
        crate::telemetry::weak_enctype_audited(weakest);
    }
    Ok(Some(seen.session))
}
