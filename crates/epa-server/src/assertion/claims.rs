//! What an assertion says of a login: the JWT claims (RFC 7519 §4.1: `iss`, `sub`, `aud`,
//! `exp`, `nbf`, `iat`, `jti`), the mechanism as `amr` (RFC 8176 §1: the method names, here
//! `kerberos` or `ntlm`) and epa's own claims (principal, domain, SIDs, groups, binding
//! verdict, service name).

use epa_core::decide::{ClientServiceName, Reason};
use epa_hyper::Authenticated;
use serde::Serialize;

/// A short class of the binding verdict: `verified` (the channel binding matched),
/// `absent-allowed` (a client without binding under `WhenSupported`), `service-name` (no
/// binding to check, the service name was: plain HTTP or Kerberos), or `not-checked`
/// (enforcement off, or the check skipped as the policy allows).
pub fn binding_class(reason: &Reason) -> &'static str {
    match reason {
        Reason::BindingVerified => "verified",
        Reason::BindingAbsentAllowed => "absent-allowed",
        Reason::KerberosValidatesServiceName
        | Reason::ServiceNameMatched { .. }
        | Reason::LocalClient => "service-name",
        _ => "not-checked",
    }
}

/// The claims set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Claims<'a> {
    /// `iss`.
    pub iss: &'a str,
    /// `aud`.
    pub aud: &'a str,
    /// `sub`: `DOMAIN\user`, as `X-Remote-User`.
    pub sub: String,
    /// The principal as the mechanism wrote it (`user@REALM`, `DOMAIN\user`).
    pub upn: &'a str,
    /// The domain or realm.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub domain: &'a str,
    /// The account's SID, when the backend knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Group SIDs, when the backend knows them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Group names (`DOMAIN\Group`), when the backend resolved them.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub group_names: &'a [String],
    /// `["kerberos"]` or `["ntlm"]`.
    pub amr: [&'a str; 1],
    /// The decision's reason code (`binding-verified`, ...).
    pub binding: &'a str,
    /// [`binding_class`].
    pub binding_class: &'a str,
    /// The service name the decision reported (SPN), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<&'a str>,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Not before (= `iat`).
    pub nbf: u64,
    /// Expires.
    pub exp: u64,
    /// A random 128-bit id, base64url.
    pub jti: String,
}

impl<'a> Claims<'a> {
    /// The claims for `user`, issued at `now` for `lifetime` seconds.
    pub fn of(
        user: &'a Authenticated,
        iss: &'a str,
        aud: &'a str,
        now: u64,
        lifetime: u64,
        jti: String,
    ) -> Self {
        let id = &user.identity;
        let sub = if id.domain.is_empty() {
            id.user.clone()
        } else {
            format!("{}\\{}", id.domain, id.user)
        };
        let service_name = match &user.service_name {
            ClientServiceName::Value(spn) if !spn.is_empty() => Some(spn.as_str()),
            _ => None,
        };
        Self {
            iss,
            aud,
            sub,
            upn: &id.principal,
            domain: &id.domain,
            sid: user.user_sid.as_ref().map(ToString::to_string),
            groups: user.groups.iter().map(ToString::to_string).collect(),
            group_names: &user.group_names,
            amr: [user.mechanism.name()],
            binding: user.reason.code(),
            binding_class: binding_class(&user.reason),
            service_name,
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime),
            jti,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use epa_core::authenticator::Identity;
    use epa_core::decide::Mechanism;

    #[test]
    fn claims_of_a_login() {
        let user = Authenticated {
            identity: Identity::ntlm("EPA", "alice"),
            mechanism: Mechanism::Ntlm,
            service_name: ClientServiceName::Value("HTTP/web.epa.test".into()),
            reason: Reason::BindingVerified,
            user_sid: Some("S-1-5-21-1-2-3-1105".parse().unwrap()),
            groups: vec!["S-1-5-21-1-2-3-513".parse().unwrap()],
            group_names: vec!["EPA\\Domain Users".into()],
        };
        let c = Claims::of(&user, "https://epa", "app", 1000, 60, "j".into());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["sub"], "EPA\\alice");
        assert_eq!(v["upn"], "EPA\\alice");
        assert_eq!(v["domain"], "EPA");
        assert_eq!(v["sid"], "S-1-5-21-1-2-3-1105");
        assert_eq!(v["groups"][0], "S-1-5-21-1-2-3-513");
        assert_eq!(v["group_names"][0], "EPA\\Domain Users");
        assert_eq!(v["amr"][0], "ntlm");
        assert_eq!(v["binding"], "binding-verified");
        assert_eq!(v["binding_class"], "verified");
        assert_eq!(v["service_name"], "HTTP/web.epa.test");
        assert_eq!(
            (v["iat"].as_u64(), v["nbf"].as_u64(), v["exp"].as_u64()),
            (Some(1000), Some(1000), Some(1060))
        );
        // Unknown facts are absent, not empty.
        let bare = Authenticated {
            user_sid: None,
            groups: vec![],
            group_names: vec![],
            service_name: ClientServiceName::Missing,
            reason: Reason::BindingAbsentAllowed,
            ..user
        };
        let v = serde_json::to_value(Claims::of(&bare, "i", "a", 0, 5, "j".into())).unwrap();
        for absent in ["sid", "groups", "group_names", "service_name"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        assert_eq!(v["binding_class"], "absent-allowed");
        assert_eq!(
            binding_class(&Reason::KerberosValidatesServiceName),
            "service-name"
        );
        assert_eq!(
            binding_class(&Reason::ExtendedProtectionDisabled),
            "not-checked"
        );
    }
}
