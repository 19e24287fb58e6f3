//! Service principal names with exactly .NET's `ServiceNameCollection` rules.
//!
//! Reproduces dotnet/runtime `ServiceNameCollection.NormalizeServiceName` and `Contains`
//! (docs/windows-semantics.md §3):
//!
//! * comparison is case-insensitive (`OrdinalIgnoreCase`: per UTF-16 unit simple upper-casing
//!   with .NET's two exceptions, `ı` and `ſ`; docs/windows-semantics.md §3.3);
//! * the only semantic normalisation is that a DNS host's IDN A-label (`xn--`) equals its U-label;
//! * default ports (`:80`, `:443`) and trailing dots are **not** stripped, so `HTTP/host:80` and
//!   `HTTP/host.` both differ from `HTTP/host`;
//! * IP literals are never normalised;
//! * a collection keeps the first spelling of each name and the insertion order, rejects empty
//!   items (whitespace-only items are accepted, as in .NET), and `merge` returns a new collection.
//!
//! Lookup is a hash-set probe of the normalised, case-folded key: O(1) in the collection size.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

pub mod casing;

/// A service name that cannot be added to a collection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ServiceNameError {
    /// An empty item (.NET: `ArgumentException` "A service name must not be null or empty.").
    #[error("service name #{index} is empty: a service name must not be null or empty")]
    Empty {
        /// Zero-based position of the item in its input list.
        index: usize,
    },
}

/// What kind of host a string is, as .NET `Uri.CheckHostName` classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A DNS name (ASCII labels of letters, digits, `-`, `_`, or IRI labels with non-ASCII).
    Dns,
    /// A dotted-quad IPv4 literal.
    Ipv4,
    /// An IPv6 literal, with or without brackets.
    Ipv6,
    /// Anything else.
    Unknown,
}

/// Classifies `name` like .NET `Uri.CheckHostName`.
///
/// Inferred approximation (the .NET helpers are not reproduced byte for byte): IPv4 is the strict
/// dotted quad; a DNS name is 1..=255 characters of labels 1..=63 long made of ASCII letters,
/// digits, `-`, `_` or any non-ASCII character, with at most one trailing dot.
pub fn host_kind(name: &str) -> HostKind {
    if name.is_empty() {
        return HostKind::Unknown;
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'))
        && inner.parse::<Ipv6Addr>().is_ok()
    {
        return HostKind::Ipv6;
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return HostKind::Ipv4;
    }
    if is_dns_name(name) {
        return HostKind::Dns;
    }
    if name.parse::<Ipv6Addr>().is_ok() {
        return HostKind::Ipv6;
    }
    HostKind::Unknown
}

fn is_dns_name(name: &str) -> bool {
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.is_empty() || name.chars().count() > 255 {
        return false;
    }
    body.split('.').all(|label| {
        let n = label.chars().count();
        (1..=63).contains(&n)
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii())
    })
}

/// .NET `ushort.TryParse(s, NumberStyles.Integer, InvariantCulture)`: optional surrounding
/// whitespace, an optional sign, decimal digits, value in 0..=65535 (`-0` is 0).
fn is_dotnet_ushort(s: &str) -> bool {
    let t = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'));
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'+') => (false, &t[1..]),
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let value = digits.bytes().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    });
    match value {
        Some(v) if negative => v == 0,
        Some(v) => v <= u32::from(u16::MAX),
        None => false,
    }
}

/// The structure of a service name: `class/host[:port][/distinguisher]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNameParts<'a> {
    /// The service class with its slash, e.g. `HTTP/`: never canonicalised.
    pub service_class: &'a str,
    /// The host.
    pub host: &'a str,
    /// The port with its colon, verbatim (`:8080`), if any.
    pub port: Option<&'a str>,
    /// The distinguisher with its slash (`/svc`), if any.
    pub distinguisher: Option<&'a str>,
    /// The host's kind.
    pub host_kind: HostKind,
}

/// Splits a service name the way `NormalizeServiceName` does (docs/windows-semantics.md §3.2 steps 2–5).
/// `None` when .NET would return the input unchanged before looking at a host: no slash,
/// whitespace after the slash, or a port that is not a `ushort`.
pub fn parts(s: &str) -> Option<ServiceNameParts<'_>> {
    if s.trim().is_empty() {
        return None;
    }
    let slash = s.find('/')?;
    let (service_class, rest) = s.split_at(slash + 1);
    if rest.trim().is_empty() {
        return None;
    }
    let kind = host_kind(rest);
    if kind != HostKind::Unknown {
        return Some(ServiceNameParts {
            service_class,
            host: rest,
            port: None,
            distinguisher: None,
            host_kind: kind,
        });
    }
    let (host_and_port, distinguisher) = match rest.find('/') {
        Some(j) => (&rest[..j], Some(&rest[j..])),
        None => (rest, None),
    };
    let (host, port) = match host_and_port.rfind(':') {
        Some(k) => {
            let port_text = &host_and_port[k + 1..];
            if !is_dotnet_ushort(port_text) {
                return None;
            }
            (&host_and_port[..k], Some(&host_and_port[k..]))
        }
        None => (host_and_port, None),
    };
    Some(ServiceNameParts {
        service_class,
        host,
        port,
        distinguisher,
        host_kind: host_kind(host),
    })
}

/// `NormalizeServiceName` (docs/windows-semantics.md §3.2): the spelling a collection stores.
///
/// Only a DNS host is rewritten: lower-cased, and IDN A-labels turned into U-labels (UTS #46
/// through the `idna` crate, standing in for the platform IDN .NET uses). If the result differs
/// from the input only in case, the input's spelling is kept.
pub fn normalize(s: &str) -> String {
    let Some(p) = parts(s) else {
        return s.to_owned();
    };
    if p.host_kind != HostKind::Dns {
        return s.to_owned();
    }
    let (host, result) = idna::domain_to_unicode(p.host);
    if result.is_err() {
        // .NET: `new Uri("http://" + host)` throws → the input is returned unchanged.
        return s.to_owned();
    }
    let candidate = format!(
        "{}{}{}{}",
        p.service_class,
        host,
        p.port.unwrap_or(""),
        p.distinguisher.unwrap_or("")
    );
    if fold_case(&candidate) == fold_case(s) {
        s.to_owned()
    } else {
        candidate
    }
}

/// .NET `OrdinalIgnoreCase` key: every UTF-16 code unit (or surrogate pair) upper-cased with
/// .NET's ordinal casing ([`casing::ordinal_upper`]): Unicode's simple mapping, except that the
/// dotless `ı` (U+0131) and the long `ſ` (U+017F) stay themselves. `ß` stays `ß`.
pub fn fold_case(s: &str) -> String {
    s.chars().map(casing::ordinal_upper).collect()
}

/// One service name: its stored spelling and its comparison key.
///
/// Two names are equal when .NET's `ServiceNameCollection.Contains` would say so.
#[derive(Debug, Clone)]
pub struct ServiceName {
    spelling: String,
    key: String,
}

impl ServiceName {
    /// Normalises `s` (§3.2). Empty input is an error.
    pub fn new(s: &str) -> Result<Self, ServiceNameError> {
        if s.is_empty() {
            return Err(ServiceNameError::Empty { index: 0 });
        }
        let spelling = normalize(s);
        let key = fold_case(&spelling);
        Ok(Self { spelling, key })
    }

    /// The stored spelling (after normalisation, keeping the original case where only case
    /// would have changed).
    pub fn as_str(&self) -> &str {
        &self.spelling
    }

    /// The case-folded comparison key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The name's parts, if it has a host.
    pub fn parts(&self) -> Option<ServiceNameParts<'_>> {
        parts(&self.spelling)
    }

    /// Whether the host is a single-label (NetBIOS-style) DNS name such as `HTTP/web01`: what
    /// IIS refuses without `AllowDotlessSpn`. A trailing dot does not count as a dot; IP
    /// literals are not dotless.
    pub fn is_dotless(&self) -> bool {
        self.parts().is_some_and(|p| {
            p.host_kind == HostKind::Dns && !p.host.trim_end_matches('.').contains('.')
        })
    }
}

impl PartialEq for ServiceName {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for ServiceName {}

impl std::hash::Hash for ServiceName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl std::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spelling)
    }
}

/// An ordered set of service names with .NET `ServiceNameCollection` semantics and O(1) lookup.
#[derive(Debug, Clone, Default)]
pub struct ServiceNameCollection {
    names: Vec<ServiceName>,
    keys: HashSet<String>,
}

impl ServiceNameCollection {
    /// Builds a collection: each item normalised, duplicates (case-insensitive, after
    /// normalisation) dropped keeping the first spelling, order preserved. An empty item is an
    /// error naming its position.
    pub fn new<I, S>(items: I) -> Result<Self, ServiceNameError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::default().merge(items)
    }

    /// A new collection with `items` appended to a copy of this one (same rules as
    /// [`ServiceNameCollection::new`]); `self` is unchanged.
    pub fn merge<I, S>(&self, items: I) -> Result<Self, ServiceNameError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = self.clone();
        for (index, item) in items.into_iter().enumerate() {
            let name =
                ServiceName::new(item.as_ref()).map_err(|_| ServiceNameError::Empty { index })?;
            if out.keys.insert(name.key.clone()) {
                out.names.push(name);
            }
        }
        Ok(out)
    }

    /// Whether `candidate` is in the collection (.NET `Contains`: normalise, then
    /// case-insensitive equality; `""` is never contained). One hash lookup.
    pub fn contains(&self, candidate: &str) -> bool {
        !candidate.is_empty() && self.keys.contains(&fold_case(&normalize(candidate)))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the collection has no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &ServiceName> {
        self.names.iter()
    }

    /// The first dotless name, if any (see [`ServiceName::is_dotless`]).
    pub fn first_dotless(&self) -> Option<&ServiceName> {
        self.names.iter().find(|n| n.is_dotless())
    }
}

impl PartialEq for ServiceNameCollection {
    /// Same names in the same order (compared case-insensitively).
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for ServiceNameCollection {}

impl Serialize for ServiceNameCollection {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_seq(self.names.iter().map(ServiceName::as_str))
    }
}

impl<'de> Deserialize<'de> for ServiceNameCollection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(deserializer)?;
        Self::new(items).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ServiceName` equality, hashing and display; the collection's equality, serde form,
    /// size and dotless lookup (§3.1; IIS `AllowDotlessSpn`, §6.2).
    #[test]
    fn names_and_collections_compare_and_serialise() {
        use std::collections::HashSet;
        let a = ServiceName::new("HTTP/www.Contoso.com").unwrap();
        let b = ServiceName::new("http/WWW.contoso.COM").unwrap();
        let c = ServiceName::new("HTTP/other.example").unwrap();
        assert!(a == b && a != c);
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert!(
            a.key().eq_ignore_ascii_case("HTTP/www.contoso.com"),
            "{}",
            a.key()
        );
        assert_eq!(a.to_string(), "HTTP/www.Contoso.com");
        let set: HashSet<ServiceName> = [a.clone(), b, c.clone()].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&ServiceName::new("HTTP/WWW.CONTOSO.COM").unwrap()));

        let x = ServiceNameCollection::new(["HTTP/a.example", "HTTP/b.example"]).unwrap();
        let y = ServiceNameCollection::new(["http/A.example", "http/B.EXAMPLE"]).unwrap();
        let reversed = ServiceNameCollection::new(["HTTP/b.example", "HTTP/a.example"]).unwrap();
        assert!(x == y && x != reversed && x != ServiceNameCollection::default());
        assert_eq!((x.len(), x.is_empty()), (2, false));
        assert!(ServiceNameCollection::default().is_empty());
        assert!(!x.contains("") && x.contains("HTTP/A.EXAMPLE") && !x.contains("HTTP/c.example"));
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(json, r#"["HTTP/a.example","HTTP/b.example"]"#);
        assert_eq!(
            serde_json::from_str::<ServiceNameCollection>(&json).unwrap(),
            x
        );
        assert!(serde_json::from_str::<ServiceNameCollection>(r#"["HTTP/a", ""]"#).is_err());

        assert_eq!(x.first_dotless(), None);
        let d = ServiceNameCollection::new(["HTTP/a.example", "HTTP/web01", "HTTP/web02"]).unwrap();
        assert_eq!(
            d.first_dotless().map(ServiceName::as_str),
            Some("HTTP/web01")
        );
        for dotless in ["HTTP/web01", "HTTP/web01.", "HTTP/web01:80"] {
            assert!(ServiceName::new(dotless).unwrap().is_dotless(), "{dotless}");
        }
        for dotted in ["HTTP/a.example", "HTTP/10.0.0.1", "HTTP/[::1]", "nohost"] {
            assert!(!ServiceName::new(dotted).unwrap().is_dotless(), "{dotted}");
        }
    }

    /// `Uri.CheckHostName`'s DNS rule as approximated (§3.2): 1–63 characters a label, at most
    /// 255 in all (the trailing dot counted), letters/digits/`-`/`_`/non-ASCII.
    #[test]
    fn dns_name_bounds() {
        let label = "a".repeat(63);
        let name = [label.as_str(); 4].join(".");
        assert_eq!(name.len(), 255);
        assert!(is_dns_name(&name));
        let long = format!("{}.{}", [label.as_str(); 4].join("."), "b");
        assert!(
            long.len() > 255 && !is_dns_name(&long),
            "every label fits, the name does not"
        );
        assert!(is_dns_name(&label) && !is_dns_name(&"a".repeat(64)));
        assert!(is_dns_name("www.contoso.com.") && !is_dns_name("") && !is_dns_name("."));
        assert!(is_dns_name("a-b_c.bücher") && !is_dns_name("a b") && !is_dns_name("a..b"));
        assert!(!is_dns_name("a:b") && !is_dns_name("a/b") && !is_dns_name("a%b"));
    }

    /// .NET `ushort.TryParse(s, NumberStyles.Integer, InvariantCulture)` (§3.2 step 4).
    #[test]
    fn dotnet_ushort() {
        for ok in [
            "0",
            "80",
            "+80",
            " 80 ",
            "\t443\r\n",
            "65535",
            "-0",
            "-00",
            "0065535",
        ] {
            assert!(is_dotnet_ushort(ok), "{ok:?}");
        }
        for bad in [
            "",
            " ",
            "+",
            "-",
            "-1",
            "65536",
            "99999999999",
            "0x50",
            "8 0",
            "+-1",
            "1e3",
        ] {
            assert!(!is_dotnet_ushort(bad), "{bad:?}");
        }
    }

    fn names(c: &ServiceNameCollection) -> Vec<&str> {
        c.iter().map(ServiceName::as_str).collect()
    }

    // Every row of the docs/windows-semantics.md §3.2 table.
    #[test]
    fn normalize_table_case_only_difference_keeps_spelling() {
        assert_eq!(normalize("HTTP/www.Contoso.com"), "HTTP/www.Contoso.com");
        let c = ServiceNameCollection::new(["HTTP/www.Contoso.com"]).unwrap();
        assert!(c.contains("http/WWW.contoso.COM"));
    }

    #[test]
    fn normalize_table_idn_a_label_becomes_u_label() {
        assert_eq!(
            normalize("HTTP/xn--bcher-kva.example"),
            "HTTP/bücher.example"
        );
        let c = ServiceNameCollection::new(["HTTP/xn--bcher-kva.example"]).unwrap();
        assert!(c.contains("HTTP/BÜCHER.example"));
        assert!(c.contains("HTTP/bücher.example"));
        assert!(c.contains("http/XN--BCHER-KVA.EXAMPLE"));
    }

    #[test]
    fn normalize_table_idn_with_port_and_distinguisher() {
        assert_eq!(
            normalize("HTTP/xn--bcher-kva.example:8080/svc"),
            "HTTP/bücher.example:8080/svc"
        );
    }

    #[test]
    fn normalize_table_default_port_not_stripped() {
        assert_eq!(normalize("HTTP/host:80"), "HTTP/host:80");
        let c = ServiceNameCollection::new(["HTTP/host:80"]).unwrap();
        assert!(!c.contains("HTTP/host"));
        let c = ServiceNameCollection::new(["HTTP/host"]).unwrap();
        assert!(!c.contains("HTTP/host:80"));
        assert!(!c.contains("HTTP/host:443"));
    }

    #[test]
    fn normalize_table_trailing_dot_not_stripped() {
        assert_eq!(normalize("HTTP/host."), "HTTP/host.");
        let c = ServiceNameCollection::new(["HTTP/host."]).unwrap();
        assert!(!c.contains("HTTP/host"));
    }

    #[test]
    fn normalize_table_ip_literals_untouched() {
        for s in [
            "HTTP/[::1]:8080",
            "HTTP/::1",
            "HTTP/10.0.0.1",
            "HTTP/10.0.0.1:80",
            "HTTP/[FE80::1]",
        ] {
            assert_eq!(normalize(s), s);
        }
        let c = ServiceNameCollection::new(["HTTP/[FE80::1]"]).unwrap();
        assert!(c.contains("http/[fe80::1]"));
        // Not mapped to each other: only case-insensitive equal strings match.
        assert!(!c.contains("HTTP/[fe80:0::1]"));
        assert!(!c.contains("HTTP/fe80::1"));
    }

    #[test]
    fn normalize_table_unparsable_ports_returned_unchanged() {
        assert_eq!(normalize("HTTP/HOST:99999"), "HTTP/HOST:99999");
        assert_eq!(normalize("HTTP/HOST:0x50"), "HTTP/HOST:0x50");
        assert!(parts("HTTP/host:99999").is_none());
        // NumberStyles.Integer: sign and surrounding whitespace are accepted, kept verbatim.
        assert_eq!(
            normalize("HTTP/XN--BCHER-KVA.example:+80"),
            "HTTP/bücher.example:+80"
        );
    }

    #[test]
    fn normalize_table_no_slash_or_no_host() {
        assert_eq!(normalize("host"), "host");
        assert_eq!(normalize("first"), "first");
        assert_eq!(normalize("localhost:3000/test"), "localhost:3000/test");
        assert_eq!(normalize("HTTP/  "), "HTTP/  ");
        assert_eq!(normalize("   "), "   ");
    }

    #[test]
    fn no_wildcard_or_prefix_matching() {
        let c = ServiceNameCollection::new(["localhost:3000/test"]).unwrap();
        assert!(!c.contains("localhost:3000//test"));
        assert!(c.contains("LOCALHOST:3000/TEST"));
    }

    #[test]
    fn dedup_keeps_first_spelling_and_order() {
        let c = ServiceNameCollection::new(["first", "second", "first", "SECOND"]).unwrap();
        assert_eq!(names(&c), ["first", "second"]);
        let c = ServiceNameCollection::new(["HTTP/xn--bcher-kva.example", "HTTP/Bücher.example"])
            .unwrap();
        assert_eq!(names(&c), ["HTTP/bücher.example"]);
    }

    #[test]
    fn merge_returns_a_new_collection() {
        let a = ServiceNameCollection::new(["first", "second"]).unwrap();
        let b = a.merge(["SECOND", "third"]).unwrap();
        assert_eq!(names(&a), ["first", "second"]);
        assert_eq!(names(&b), ["first", "second", "third"]);
    }

    #[test]
    fn empty_items_rejected_whitespace_accepted() {
        assert_eq!(
            ServiceNameCollection::new(["HTTP/a", ""]),
            Err(ServiceNameError::Empty { index: 1 })
        );
        assert_eq!(
            ServiceNameCollection::new(["a"]).unwrap().merge([""]),
            Err(ServiceNameError::Empty { index: 0 })
        );
        let c = ServiceNameCollection::new([" "]).unwrap();
        assert_eq!(c.len(), 1);
        assert!(!c.contains(""));
        assert!(
            ServiceNameCollection::new(Vec::<String>::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ordinal_ignore_case_is_simple_per_unit_upper_casing() {
        assert_eq!(fold_case("straße"), "STRAßE");
        let c = ServiceNameCollection::new(["HTTP/straße.example"]).unwrap();
        // UTS #46 maps ß to itself (nontransitional); SS is a different name, as in .NET.
        assert!(!c.contains("HTTP/STRASSE.example"));
    }

    // #11 item 2: .NET's ordinal casing keeps U+0131 and U+017F, so these are other names.
    #[test]
    fn ordinal_ignore_case_keeps_dotless_i_and_long_s() {
        assert_eq!(fold_case("wıki"), "WıKI");
        assert_eq!(fold_case("ſvc"), "ſVC");
        let c = ServiceNameCollection::new(["HTTP/wiki.corp.example", "HTTP/host.example/svc"])
            .unwrap();
        assert!(!c.contains("HTTP/wıki.corp.example"));
        assert!(!c.contains("HTTP/xn--wki-jua.corp.example"));
        assert!(!c.contains("HTTP/host.example/ſvc"));
        assert!(c.contains("HTTP/HOST.example/SVC"));
        // In a DNS host, the IDN mapping (UTS #46) runs before any comparison: it maps `ſ` to
        // `s` (the same DNS name), and keeps `ı` (a different DNS name, xn--wki-jua).
        assert_eq!(
            normalize("HTTP/ſerver.corp.example"),
            "HTTP/server.corp.example"
        );
        assert_eq!(
            normalize("HTTP/wıki.corp.example"),
            "HTTP/wıki.corp.example"
        );
        // Greek with ypogegrammeni: simple upper case is the prosgegrammeni form, so both
        // spellings are one name in .NET.
        let c = ServiceNameCollection::new(["HTTP/host.example/\u{1FB3}"]).unwrap();
        assert!(c.contains("HTTP/host.example/\u{1FBC}"));
    }

    #[test]
    fn dotless_detection() {
        let dotless = |s: &str| ServiceName::new(s).unwrap().is_dotless();
        assert!(dotless("HTTP/web01"));
        assert!(dotless("HTTP/localhost:8080"));
        assert!(dotless("HTTP/web01."));
        assert!(!dotless("HTTP/web01.corp.example"));
        assert!(!dotless("HTTP/10.0.0.1"));
        assert!(!dotless("HTTP/[::1]"));
        assert!(!dotless("web01"));
    }

    #[test]
    fn serde_round_trip_validates() {
        let c: ServiceNameCollection =
            serde_json::from_str(r#"["HTTP/a.example","http/A.EXAMPLE"]"#).unwrap();
        assert_eq!(names(&c), ["HTTP/a.example"]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"["HTTP/a.example"]"#);
        assert!(serde_json::from_str::<ServiceNameCollection>(r#"["HTTP/a", ""]"#).is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn spn_like() -> impl Strategy<Value = String> {
            prop_oneof![
                "[A-Za-z]{1,6}/[A-Za-z0-9._-]{0,20}(:[0-9+ -]{0,6})?(/[a-z]{0,4})?",
                "[A-Za-z]{1,6}/xn--[a-z0-9-]{1,12}\\.[a-z]{2,4}",
                "[A-Za-z]{1,6}/\\[[0-9a-fA-F:]{0,12}\\](:[0-9]{1,5})?",
                "\\PC{0,24}",
            ]
        }

        proptest! {
            #[test]
            fn normalization_is_idempotent(s in spn_like()) {
                let once = normalize(&s);
                prop_assert_eq!(normalize(&once), once.clone());
            }

            #[test]
            fn a_name_is_contained_in_its_own_collection(s in spn_like()) {
                prop_assume!(!s.is_empty());
                let c = ServiceNameCollection::new([&s]).unwrap();
                prop_assert!(c.contains(&s));
                prop_assert!(c.contains(&normalize(&s)));
            }

            #[test]
            fn lookup_is_case_insensitive_for_ascii(s in "[A-Za-z]{1,6}/[A-Za-z0-9.-]{1,20}") {
                let c = ServiceNameCollection::new([&s]).unwrap();
                prop_assert!(c.contains(&s.to_ascii_uppercase()));
                prop_assert!(c.contains(&s.to_ascii_lowercase()));
            }
        }
    }
}
