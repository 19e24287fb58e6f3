//! Names as GSSAPI displays them, read by mechanism (issue #11 item 12): a Kerberos principal is
//! `user@REALM` whatever characters it holds (a `\` in it is not a domain separator), an NTLM
//! name from gss-ntlmssp is `DOMAIN\user`.

use crate::authenticator::Identity;
use epa_core::decide::Mechanism;
use epa_core::spn::ServiceNameCollection;

/// The identity in a display name, read by the mechanism that produced it.
pub(super) fn identity_of(display: &str, mechanism: Mechanism) -> Identity {
    let name = display.trim_end_matches('\0');
    match mechanism {
        Mechanism::Kerberos => {
            let (user, realm) = split_realm(name);
            Identity::kerberos(user, realm)
        }
        // gss-ntlmssp: `DOMAIN\user`, or `user` when the client named no domain.
        Mechanism::Ntlm => match name.split_once('\\') {
            Some((domain, user)) => Identity::ntlm(domain, user),
            None => Identity::ntlm("", name),
        },
        // Neither shape is known: the whole name, no domain.
        Mechanism::Other => Identity::kerberos(name, ""),
    }
}

/// The account's one name: the PAC's NetBIOS domain and account name (`LogonDomainName`,
/// `EffectiveName`, MS-PAC §2.5), as Windows names a Kerberos logon and as NTLM names the same
/// account (`EPA\erin`, not `EPA.TEST\erin`). The principal as the ticket wrote it stays in
/// [`Identity::principal`]. A PAC with an empty name or domain changes nothing.
pub(super) fn canonical(identity: Identity, domain: &str, user: &str) -> Identity {
    if user.is_empty() || domain.is_empty() {
        return identity;
    }
    Identity {
        user: user.to_owned(),
        domain: domain.to_owned(),
        principal: identity.principal,
    }
}

/// Splits `name@REALM` at the last `@` that is not escaped (`\@`, RFC 1964 §2.1.1 display
/// syntax); no unescaped `@` → no realm.
fn split_realm(name: &str) -> (&str, &str) {
    let bytes = name.as_bytes();
    let mut escaped = false;
    let mut at = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'@' => at = Some(i),
            _ => {}
        }
    }
    match at {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (name, ""),
    }
}

/// Whether a Kerberos ticket's service principal (`HTTP/web.example@REALM`, as displayed) is
/// one of the acceptable service names (`HTTP/web.example`, compared with .NET's rules). The
/// realm is not compared: the keytab's keys already tie the ticket to this realm.
pub(super) fn ticket_target_acceptable(target: &str, names: &ServiceNameCollection) -> bool {
    let target = target.trim_end_matches('\0');
    let (service, _realm) = split_realm(target);
    !service.contains('\\') && names.contains(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pac_names_a_kerberos_logon_as_ntlm_does() {
        // Issue #20 item 14: `EPA.TEST\erin` by Kerberos and `EPA\erin` by NTLM were two
        // names for one account; `allow_users = ["EPA\\erin"]` refused her Kerberos login.
        let kerberos = identity_of("erin@EPA.TEST", Mechanism::Kerberos);
        let id = canonical(kerberos.clone(), "EPA", "erin");
        assert_eq!((id.domain.as_str(), id.user.as_str()), ("EPA", "erin"));
        assert_eq!(id.principal, "erin@EPA.TEST");
        let ntlm = identity_of("EPA\\erin", Mechanism::Ntlm);
        assert_eq!((id.domain, id.user), (ntlm.domain, ntlm.user));
        assert_eq!(canonical(kerberos.clone(), "", "erin"), kerberos);
        assert_eq!(canonical(kerberos.clone(), "EPA", ""), kerberos);
    }

    #[test]
    fn names_split_by_mechanism() {
        assert_eq!(
            identity_of("alice@EXAMPLE.TEST", Mechanism::Kerberos),
            Identity::kerberos("alice", "EXAMPLE.TEST")
        );
        assert_eq!(
            identity_of("alice@EXAMPLE.TEST", Mechanism::Kerberos).to_string(),
            "alice@EXAMPLE.TEST"
        );
        assert_eq!(
            identity_of("TESTDOM\\alice\0", Mechanism::Ntlm),
            Identity::ntlm("TESTDOM", "alice")
        );
        assert_eq!(
            identity_of("alice\0", Mechanism::Ntlm),
            Identity::ntlm("", "alice")
        );
        assert_eq!(identity_of("bob", Mechanism::Kerberos).to_string(), "bob");
    }

    #[test]
    fn a_kerberos_principal_with_a_backslash_is_not_domain_user() {
        // Before: split at `\` into domain "ADMINS" and user "bob@EXAMPLE.TEST" (an NTLM-shaped
        // identity a server might map to a Windows group).
        let id = identity_of("ADMINS\\bob@EXAMPLE.TEST", Mechanism::Kerberos);
        assert_eq!(id, Identity::kerberos("ADMINS\\bob", "EXAMPLE.TEST"));
        assert_eq!(id.domain, "EXAMPLE.TEST");
        assert_eq!(id.principal, "ADMINS\\bob@EXAMPLE.TEST");
        // An escaped `@` stays in the user part.
        assert_eq!(
            identity_of("a\\@b@EXAMPLE.TEST", Mechanism::Kerberos),
            Identity::kerberos("a\\@b", "EXAMPLE.TEST")
        );
        // Another mechanism's name is taken whole.
        assert_eq!(
            identity_of("X\\y@z", Mechanism::Other),
            Identity::kerberos("X\\y@z", "")
        );
    }

    #[test]
    fn ticket_targets_compare_without_realm() {
        let names =
            ServiceNameCollection::new(["HTTP/localhost", "HTTP/web.example"]).unwrap_or_default();
        assert!(ticket_target_acceptable(
            "HTTP/localhost@EXAMPLE.TEST\0",
            &names
        ));
        assert!(ticket_target_acceptable(
            "http/WEB.example@EXAMPLE.TEST",
            &names
        ));
        assert!(!ticket_target_acceptable(
            "host/localhost@EXAMPLE.TEST",
            &names
        ));
        assert!(!ticket_target_acceptable(
            "cifs/localhost@EXAMPLE.TEST",
            &names
        ));
        assert!(!ticket_target_acceptable(
            "HTTP/localhost\\@x@EXAMPLE.TEST",
            &names
        ));
    }
}
