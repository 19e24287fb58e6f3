//! Kerberos encryption types (RFC 3961 §8 registry; RFC 3962 AES-SHA1, RFC 8009 AES-SHA2,
//! RFC 4757 RC4-HMAC, RFC 6649 deprecating DES): the numbers keytabs and tickets carry, the names
//! MIT's tools print, and which of them Windows is retiring (RC4 and DES: CVE-2026-20833,
//! KB5073381). docs/moving-to-kerberos.md.

/// A Kerberos encryption type number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Enctype(pub i32);

/// What an encryption type is, for the rules that judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnctypeFamily {
    /// AES with HMAC-SHA1 (RFC 3962) or HMAC-SHA2 (RFC 8009): what AD and MIT issue by default.
    Aes,
    /// RC4-HMAC (RFC 4757; unsalted NT hash as key): being removed from AD's defaults.
    Rc4,
    /// Single DES and triple DES (RFC 6649, RFC 8429): removed from every current implementation.
    Des,
    /// Camellia (RFC 6803) or a number this table does not know.
    Other,
}

/// The registry entries this crate names: number, MIT's name, family.
const TABLE: &[(i32, &str, EnctypeFamily)] = &[
    (1, "des-cbc-crc", EnctypeFamily::Des),
    (2, "des-cbc-md4", EnctypeFamily::Des),
    (3, "des-cbc-md5", EnctypeFamily::Des),
    (16, "des3-cbc-sha1", EnctypeFamily::Des),
    (17, "aes128-cts-hmac-sha1-96", EnctypeFamily::Aes),
    (18, "aes256-cts-hmac-sha1-96", EnctypeFamily::Aes),
    (19, "aes128-cts-hmac-sha256-128", EnctypeFamily::Aes),
    (20, "aes256-cts-hmac-sha384-192", EnctypeFamily::Aes),
    (23, "arcfour-hmac", EnctypeFamily::Rc4),
    (24, "arcfour-hmac-exp", EnctypeFamily::Rc4),
    (25, "camellia128-cts-cmac", EnctypeFamily::Other),
    (26, "camellia256-cts-cmac", EnctypeFamily::Other),
];

impl Enctype {
    /// `aes256-cts-hmac-sha1-96` (RFC 3962), the AD default.
    pub const AES256_SHA1: Self = Self(18);
    /// `arcfour-hmac` (RFC 4757).
    pub const RC4_HMAC: Self = Self(23);

    fn entry(self) -> Option<&'static (i32, &'static str, EnctypeFamily)> {
        TABLE.iter().find(|(n, _, _)| *n == self.0)
    }

    /// MIT's name (`aes256-cts-hmac-sha1-96`, `arcfour-hmac`), or `other` for a number this
    /// table does not know (a bounded set: safe as a metric label).
    pub fn name(self) -> &'static str {
        self.entry().map_or("other", |(_, name, _)| name)
    }

    /// Its family.
    pub fn family(self) -> EnctypeFamily {
        self.entry().map_or(EnctypeFamily::Other, |(_, _, f)| *f)
    }

    /// RC4 or DES: what Windows no longer issues by default and what `rc4 = "refuse"` refuses.
    pub fn is_weak(self) -> bool {
        matches!(self.family(), EnctypeFamily::Rc4 | EnctypeFamily::Des)
    }
}

/// What a Kerberos backend does with a ticket whose session key is RC4 or DES
/// ([`Enctype::is_weak`]): `[backend] weak_enctypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WeakEnctypes {
    /// Accept it silently.
    Allow,
    /// Accept it, and log and count it as a would-be refusal (`weak-enctype`): find the
    /// clients and accounts still on RC4 before refusing (the default).
    #[default]
    Audit,
    /// Refuse it (401, reason `weak-enctype`), as Windows' AES-only defaults will.
    Refuse,
}

impl WeakEnctypes {
    /// Whether a ticket using `enctype` is refused: only RC4/DES, only under `Refuse`.
    pub fn refuses(self, enctype: Enctype) -> bool {
        self == Self::Refuse && enctype.is_weak()
    }

    /// Whether it is accepted and reported as a would-be refusal: RC4/DES under `Audit`.
    pub fn audits(self, enctype: Enctype) -> bool {
        self == Self::Audit && enctype.is_weak()
    }
}

crate::wire::wire_names!(WeakEnctypes, "weak_enctypes", {
    Allow => "allow",
    Audit => "audit",
    Refuse => "refuse",
});

impl std::fmt::Display for Enctype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry() {
            Some((_, name, _)) => f.write_str(name),
            None => write!(f, "enctype {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are the IANA registry's (RFC 3961 §8, RFC 8009 §7, RFC 4757); MIT's
    /// `klist -e` prints these names.
    #[test]
    fn names_and_families_follow_the_registry() {
        let cases = [
            (1, "des-cbc-crc", EnctypeFamily::Des, true),
            (3, "des-cbc-md5", EnctypeFamily::Des, true),
            (16, "des3-cbc-sha1", EnctypeFamily::Des, true),
            (17, "aes128-cts-hmac-sha1-96", EnctypeFamily::Aes, false),
            (18, "aes256-cts-hmac-sha1-96", EnctypeFamily::Aes, false),
            (19, "aes128-cts-hmac-sha256-128", EnctypeFamily::Aes, false),
            (20, "aes256-cts-hmac-sha384-192", EnctypeFamily::Aes, false),
            (23, "arcfour-hmac", EnctypeFamily::Rc4, true),
            (24, "arcfour-hmac-exp", EnctypeFamily::Rc4, true),
            (26, "camellia256-cts-cmac", EnctypeFamily::Other, false),
        ];
        for (n, name, family, weak) in cases {
            let e = Enctype(n);
            assert_eq!(e.name(), name);
            assert_eq!(e.to_string(), name);
            assert_eq!(e.family(), family, "{n}");
            assert_eq!(e.is_weak(), weak, "{n}");
        }
        assert_eq!(Enctype::AES256_SHA1.name(), "aes256-cts-hmac-sha1-96");
        assert_eq!(Enctype::RC4_HMAC.family(), EnctypeFamily::Rc4);
        let unknown = Enctype(-135);
        assert_eq!(unknown.name(), "other");
        assert_eq!(unknown.to_string(), "enctype -135");
        assert_eq!(unknown.family(), EnctypeFamily::Other);
        assert!(!unknown.is_weak());
    }

    #[test]
    fn weak_enctypes_refuse_or_audit_only_weak_ones() {
        use WeakEnctypes::*;
        for (choice, rc4, aes) in [
            (Allow, (false, false), (false, false)),
            (Audit, (false, true), (false, false)),
            (Refuse, (true, false), (false, false)),
        ] {
            let judged = |e| (choice.refuses(e), choice.audits(e));
            assert_eq!(judged(Enctype::RC4_HMAC), rc4, "{choice:?}");
            assert_eq!(judged(Enctype(1)), rc4, "{choice:?} DES");
            assert_eq!(judged(Enctype::AES256_SHA1), aes, "{choice:?}");
        }
        assert_eq!(WeakEnctypes::default(), Audit);
        assert_eq!("refuse".parse::<WeakEnctypes>(), Ok(Refuse));
    }
}
