//! `epa lint --keytab`: the keytab the GSSAPI backend accepts with. Two risks: principals that
//! are not HTTP services (a ticket for them logs in here too), and keys Windows is retiring —
//! a principal whose keys are all RC4 or DES gets tickets AD no longer issues by default
//! (AES-only for accounts without `msDS-SupportedEncryptionTypes`, CVE-2026-20833), and every
//! such ticket is the RC4 one Kerberoasting cracks.

use super::{Finding, Severity, finding};
use epa_core::enctype::{Enctype, EnctypeFamily};
use epa_core::keytab::KeytabEntry;
use std::collections::BTreeMap;

/// Lints the keytab the GSSAPI backend accepts with (the file's bytes). MIT's acceptor takes a
/// ticket for *any* principal in its keytab, so each non-`HTTP` service principal (`host/`,
/// `cifs/`) is a service whose tickets the web server also accepts: a ticket a client obtained
/// for file sharing on this host then logs in to the web application. Windows behaves the same
/// (its machine account holds every SPN of the host); the GSSAPI backend's
/// `check_ticket_target` is the opt-in check.
pub fn keytab(bytes: &[u8]) -> Vec<Finding> {
    use Severity::*;
    let entries = match epa_core::keytab::parse(bytes) {
        Ok(entries) => entries,
        Err(e) => {
            return vec![finding(
                Error,
                "keytab-unreadable",
                format!("{e}"),
                "give the server an MIT keytab (format 0x502): kadmin ktadd -k FILE HTTP/host",
            )];
        }
    };
    if entries.is_empty() {
        return vec![finding(
            Error,
            "keytab-empty",
            "the keytab holds no key: every Kerberos login fails".into(),
            "add the server's principal: kadmin ktadd -k FILE HTTP/host",
        )];
    }
    let mut out = Vec::new();
    non_http_findings(&entries, &mut out);
    enctype_findings(&entries, &mut out);
    out
}

/// Principals that are not HTTP services.
fn non_http_findings(entries: &[KeytabEntry], out: &mut Vec<Finding>) {
    let mut others: Vec<String> = entries
        .iter()
        .filter(|e| !e.service().is_some_and(|s| s.eq_ignore_ascii_case("HTTP")))
        .map(|e| e.principal())
        .collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return;
    }
    let shown: Vec<&str> = others.iter().take(5).map(String::as_str).collect();
    out.push(finding(
        Severity::Warning,
        "keytab-non-http-principals",
        format!(
            "the keytab holds {} principal(s) that are not HTTP services ({}{}): the GSSAPI backend accepts a ticket issued for any of them, so a ticket for another service (host/, cifs/) or a user key logs in here",
            others.len(),
            shown.join(", "),
            if others.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ),
        "give the web server a keytab with only its HTTP/ principals (ktutil, or kadmin ktadd -k web.keytab HTTP/host), or turn on GssapiAcceptor::check_ticket_target",
    ));
}

/// Per principal, the enctypes of its newest key version (older versions stay in a keytab
/// after a rotation, for tickets issued before it): all RC4/DES is a warning
/// (`keytab-weak-keys-only`), no AES key otherwise a warning too (`keytab-no-aes-key`).
fn enctype_findings(entries: &[KeytabEntry], out: &mut Vec<Finding>) {
    let mut newest: BTreeMap<String, (u32, Vec<Enctype>)> = BTreeMap::new();
    for e in entries {
        let slot = newest.entry(e.principal()).or_insert((e.kvno, Vec::new()));
        if e.kvno > slot.0 {
            *slot = (e.kvno, Vec::new());
        }
        if e.kvno == slot.0 {
            slot.1.push(Enctype(i32::from(e.enctype)));
        }
    }
    for (principal, (kvno, enctypes)) in newest {
        let names: Vec<&str> = enctypes.iter().map(|e| e.name()).collect();
        if enctypes.iter().all(|e| e.is_weak()) {
            out.push(finding(
                Severity::Warning,
                "keytab-weak-keys-only",
                format!("{principal} (kvno {kvno}) has only RC4/DES keys ({}): Active Directory issues AES-only tickets by default since 2026 (CVE-2026-20833), and an RC4 ticket is what Kerberoasting cracks", names.join(", ")),
                "set msDS-SupportedEncryptionTypes to AES (0x18) on the account, reset its password, and export the keytab again with AES keys (ktpass -crypto AES256-SHA1, or kadmin ktadd -e aes256-cts-hmac-sha1-96:normal)",
            ));
        } else if !enctypes.iter().any(|e| e.family() == EnctypeFamily::Aes) {
            out.push(finding(
                Severity::Warning,
                "keytab-no-aes-key",
                format!("{principal} (kvno {kvno}) has no AES key ({}): clients and KDCs that offer only AES (the default of Windows and MIT) get no ticket it can decrypt", names.join(", ")),
                "export the keytab again with aes256-cts-hmac-sha1-96 and aes128-cts-hmac-sha1-96 keys",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(components: &[&str]) -> Vec<u8> {
        keyed(components, 1, 18)
    }

    /// One entry of `components` in realm `R` with key version `kvno` and `enctype`.
    fn keyed(components: &[&str], kvno: u8, enctype: u8) -> Vec<u8> {
        let mut e = (components.len() as u16).to_be_bytes().to_vec();
        e.extend([0, 1, b'R']);
        for c in components {
            e.extend((c.len() as u16).to_be_bytes());
            e.extend(c.as_bytes());
        }
        e.extend([0, 0, 0, 1, 0, 0, 0, 0, kvno, 0, enctype, 0, 1, 0x42]);
        let mut out = (e.len() as i32).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    fn codes(bytes: &[u8]) -> Vec<&'static str> {
        keytab(bytes).iter().map(|f| f.code).collect()
    }

    #[test]
    fn keytab_findings() {
        let http = [
            vec![5, 2],
            entry(&["HTTP", "web"]),
            entry(&["http", "web2"]),
        ]
        .concat();
        assert!(codes(&http).is_empty());
        let mixed = [http.clone(), entry(&["host", "web"]), entry(&["alice"])].concat();
        let findings = keytab(&mixed);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "keytab-non-http-principals");
        assert!(
            findings[0].why.contains("host/web@R"),
            "{}",
            findings[0].why
        );
        assert!(findings[0].why.contains("alice@R"), "{}", findings[0].why);
        assert_eq!(codes(&[5, 2]), ["keytab-empty"]);
        assert_eq!(codes(&[5, 1]), ["keytab-unreadable"]);
    }

    /// The newest key version decides: RC4/DES only is `keytab-weak-keys-only`; no AES among
    /// other keys (camellia) is `keytab-no-aes-key`; an older RC4 version beside a newer AES one
    /// (a rotation from RC4 to AES) is fine, and so is an AES key beside an RC4 one.
    #[test]
    fn keys_windows_is_retiring() {
        let http = ["HTTP", "web"];
        let v = |entries: &[Vec<u8>]| [vec![5, 2], entries.concat()].concat();
        assert_eq!(codes(&v(&[keyed(&http, 3, 23)])), ["keytab-weak-keys-only"]);
        assert_eq!(
            codes(&v(&[keyed(&http, 3, 23), keyed(&http, 3, 3)])),
            ["keytab-weak-keys-only"]
        );
        assert_eq!(codes(&v(&[keyed(&http, 3, 26)])), ["keytab-no-aes-key"]);
        assert!(codes(&v(&[keyed(&http, 3, 23), keyed(&http, 3, 18)])).is_empty());
        assert!(codes(&v(&[keyed(&http, 2, 23), keyed(&http, 3, 17)])).is_empty());
        assert_eq!(
            codes(&v(&[keyed(&http, 3, 18), keyed(&http, 4, 23)])),
            ["keytab-weak-keys-only"]
        );
        let f = keytab(&v(&[keyed(&http, 4, 23)]));
        assert!(f[0].why.contains("HTTP/web@R (kvno 4)"), "{}", f[0].why);
        assert!(f[0].why.contains("arcfour-hmac"), "{}", f[0].why);
    }
}
