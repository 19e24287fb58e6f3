//! Authorization of an authenticated caller against an [`AllowList`] (`allow_users`,
//! `allow_groups`): shared by the layer ([`crate::ExtendedProtectionLayer::allow`]) and the
//! proxy's route table. A refusal is a 403, logged with its reason and counted in
//! [`AUTHORIZATION_DENIED_TOTAL`].

use crate::connection::Authenticated;
use crate::telemetry::ClientText;
use epa_core::allow::{AllowList, Caller, Denial};

/// Counter of authenticated callers refused by an allow-list, label `reason`
/// (`user-not-allowed`, `group-not-allowed`).
pub const AUTHORIZATION_DENIED_TOTAL: &str = "epa_authorization_denied_total";

/// `DOMAIN\user` (or `user`), the form `allow_users` names.
fn principal(user: &Authenticated) -> String {
    let id = &user.identity;
    if id.domain.is_empty() {
        id.user.clone()
    } else {
        format!("{}\\{}", id.domain, id.user)
    }
}

/// Checks `user` (none: not authenticated, refused unless the list is empty); on a refusal
/// logs it and counts it.
pub fn check(allow: &AllowList, user: Option<&Authenticated>, path: &str) -> Result<(), Denial> {
    if allow.is_empty() {
        return Ok(());
    }
    let who = user.map(principal);
    let result = match (user, who.as_deref()) {
        (Some(u), Some(p)) => allow.check(&Caller {
            principal: p,
            groups: &u.groups,
            group_names: &u.group_names,
        }),
        _ => allow.check(&Caller {
            principal: "",
            groups: &[],
            group_names: &[],
        }),
    };
    if let Err(denial) = result {
        metrics::counter!(AUTHORIZATION_DENIED_TOTAL, "reason" => denial.code()).increment(1);
        tracing::info!(
            target: "epa",
            reason = denial.code(),
            user = %ClientText(who.as_deref().unwrap_or("")),
            groups = user.map_or(0, |u| u.groups.len()),
            path = %ClientText(path),
            "authorization: authenticated caller is on neither allow_users nor allow_groups"
        );
    }
    result
}
