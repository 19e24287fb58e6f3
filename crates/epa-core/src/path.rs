//! Request paths as a route table must compare them: [`NormalizedPath`].
//!
//! `parse` applies RFC 3986 §6.2.2 syntax-based normalisation and the rules IIS applies before
//! it matches a URL to a configured path, so that every spelling of one route is the same
//! route:
//! * percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are decoded (`/%63ert` is
//!   `/cert`); every other escape is kept with upper-case hex (`%c3` becomes `%C3`); a byte that
//!   may not appear raw in a path is encoded;
//! * dot segments are removed (RFC 3986 §5.2.4), also when spelled `%2e`; a `..` that would
//!   climb above the root is an error, not silently dropped;
//! * repeated slashes collapse (`//cert` is `/cert`), as http.sys does;
//! * path parameters: a raw `;` ends a segment's *name* (RFC 3986 §3.3; Tomcat, Jetty and
//!   Spring strip parameters before they route). Matching uses the name only, so `/cert;a` and
//!   `/cert;a/x` are inside `/cert`, and `..;x` is a dot segment (the classic `/x/..;/cert`
//!   bypass is `/cert`). An encoded `%3B` is a character of the name, not a separator;
//! * matching is case-insensitive (IIS compares URLs case-insensitively) and segment-wise:
//!   `/cert` matches `/cert`, `/Cert/x`, not `/certificate`. Case is folded *both ways*
//!   (lower case of the upper case), so that every spelling an upstream's own case-insensitive
//!   comparison reads as a route is that route: Java's `equalsIgnoreCase` compares upper cases
//!   (`admın` with a dotless ı, U+0131, equals `admin`), Python's `casefold()` maps `ſ`
//!   (U+017F) to `s` and `ß` to `ss`, and the Kelvin sign (U+212A) lower-cases to `k`. Folding
//!   more than one upstream does only makes a spelling fall under a route it would otherwise
//!   miss, never out of one.
//!
//! Paths refused ([`PathError`], a 400 at the route layer): no leading `/` (including the
//! asterisk-form `*`), a `%` not followed by two hex digits, NUL (raw or `%00`), `%2F` (an encoded slash is
//! read as a separator by some servers and not by others), a backslash raw or as `%5C` (IIS
//! reads it as `/`), a segment that is not UTF-8 once decoded, and `..` above the root.
//!
//! Pure and total: no input panics; normalising a normalised path changes nothing.

use std::fmt;
use thiserror::Error;

/// Why a path cannot be normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` (origin-form, RFC 9112 §3.2.1).
    #[error("the path does not start with '/'")]
    NotAbsolute,
    /// A `%` not followed by two hexadecimal digits, at this byte offset.
    #[error("bad percent-escape at byte {offset}")]
    BadEscape {
        /// Byte offset of the `%`.
        offset: usize,
    },
    /// `%00`, or a raw NUL.
    #[error("the path contains a NUL (raw or %00)")]
    Nul,
    /// `%2F` inside a segment.
    #[error("the path contains an encoded slash (%2F)")]
    EncodedSlash,
    /// A backslash, raw or `%5C` (IIS reads it as a separator).
    #[error("the path contains a backslash")]
    Backslash,
    /// A segment is not UTF-8 once percent-decoded.
    #[error("a path segment is not UTF-8 once decoded")]
    NotUtf8,
    /// A `..` segment would climb above the root.
    #[error("a '..' segment climbs above the root")]
    AboveRoot,
}

/// A request path normalised for matching (see the module documentation for the rules).
/// Equality and hashing follow matching: case-insensitive, parameters and a trailing slash
/// ignored.
#[derive(Debug, Clone)]
pub struct NormalizedPath {
    /// The normalised path (parameters and a trailing slash kept).
    text: String,
    /// Each segment's name, fully decoded and lower-cased (empty segments dropped).
    keys: Vec<String>,
}

impl NormalizedPath {
    /// Normalises `raw`, the path of a request target (without query or fragment).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
        let mut base = 1; // byte offset of the segment in `raw`, for error offsets
        let mut out: Vec<(String, String)> = Vec::new();
        let count = rest.split('/').count();
        // Whether the path ends in `/`: a final empty segment or a final dot segment.
        let mut trailing_slash = false;
        for (i, segment) in rest.split('/').enumerate() {
            let last = i + 1 == count;
            let text = normalize_segment(segment, base)?;
            base += segment.len() + 1;
            let name = text.split(';').next().unwrap_or_default();
            if last {
                trailing_slash = matches!(name, "" | "." | "..");
            }
            match name {
                // `//` collapses; `/./` and `/.;x/` are nothing.
                "" | "." => {}
                ".." => {
                    out.pop().ok_or(PathError::AboveRoot)?;
                }
                _ => {
                    let key = decode_key(name)?;
                    out.push((text, key));
                }
            }
        }
        let mut text = String::with_capacity(raw.len());
        for (segment, _) in &out {
            text.push('/');
            text.push_str(segment);
        }
        if trailing_slash || out.is_empty() {
            text.push('/');
        }
        Ok(Self {
            text,
            keys: out.into_iter().map(|(_, k)| k).collect(),
        })
    }

    /// The normalised path.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this path is `prefix` or below it, segment by segment and case-insensitively:
    /// `/cert` starts with `/cert` and `/`, `/cert/x` with `/cert`, `/certificate` does not.
    pub fn starts_with_segments(&self, prefix: &NormalizedPath) -> bool {
        prefix.keys.len() <= self.keys.len()
            && prefix.keys.iter().zip(&self.keys).all(|(p, s)| p == s)
    }
}

/// A spelling that Windows or a double-decoding application reads as another path
/// ([`NormalizedPath::alias`]). IIS request filtering refuses the same spellings by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PathAlias {
    /// A segment ending in `.` or a space: Win32 path normalisation trims them, so `/admin.`
    /// and `/admin%20` open `/admin` on a Windows upstream.
    #[error("a path segment ends in a dot or a space (Windows trims them)")]
    TrailingDotOrSpace,
    /// An NTFS stream name (`admin::$DATA`, `admin:stream:$DATA`): the file `admin` itself.
    #[error("a path segment names an NTFS stream (`::` or `:$`)")]
    NtfsStream,
    /// A `%` followed by two hex digits after one decoding (`/%2561dmin` is `/%61dmin`, which a
    /// second decoding reads as `/admin`): IIS `allowDoubleEscaping="false"`.
    #[error("the path is percent-encoded twice")]
    DoubleEscaped,
}

impl PathAlias {
    /// A stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TrailingDotOrSpace => "path-trailing-dot-or-space",
            Self::NtfsStream => "path-ntfs-stream",
            Self::DoubleEscaped => "path-double-escaped",
        }
    }
}

impl NormalizedPath {
    /// The first segment another reader would take for a different path, if any: a route
    /// table that matched this spelling cannot know which route that reader meant, so a
    /// gateway refuses it (400) unless configured otherwise.
    pub fn alias(&self) -> Option<PathAlias> {
        self.keys.iter().find_map(|key| {
            if key.ends_with(['.', ' ']) {
                Some(PathAlias::TrailingDotOrSpace)
            } else if key.contains("::") || key.contains(":$") {
                Some(PathAlias::NtfsStream)
            } else if has_escape(key.as_bytes()) {
                Some(PathAlias::DoubleEscaped)
            } else {
                None
            }
        })
    }
}

/// Whether `bytes` hold a `%` followed by two hex digits.
fn has_escape(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w.first() == Some(&b'%')
            && w.get(1).copied().and_then(hex_value).is_some()
            && w.get(2).copied().and_then(hex_value).is_some()
    })
}

impl PartialEq for NormalizedPath {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl Eq for NormalizedPath {}

impl std::hash::Hash for NormalizedPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.keys.hash(state);
    }
}

impl fmt::Display for NormalizedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for NormalizedPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, PathError> {
        Self::parse(s)
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Bytes that may stay raw in a segment: unreserved, sub-delims, `:` and `@` (RFC 3986 pchar).
fn is_raw_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escape(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// One segment with its escapes normalised; refuses what the module refuses.
fn normalize_segment(segment: &str, base: usize) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let value = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)).map(|(h, l)| h << 4 | l),
                _ => None,
            }
            .ok_or(PathError::BadEscape { offset: base + i })?;
            match value {
                0 => return Err(PathError::Nul),
                b'/' => return Err(PathError::EncodedSlash),
                b'\\' => return Err(PathError::Backslash),
                v if is_unreserved(v) => out.push(char::from(v)),
                v => push_escape(&mut out, v),
            }
            i += 3;
        } else {
            if b == b'\\' {
                return Err(PathError::Backslash);
            }
            if b == 0 {
                return Err(PathError::Nul);
            }
            if is_raw_pchar(b) {
                out.push(char::from(b));
            } else {
                push_escape(&mut out, b);
            }
            i += 1;
        }
    }
    Ok(out)
}

/// A normalised segment name, fully decoded (UTF-8) and case-folded both ways (see the
/// module documentation).
fn decode_key(name: &str) -> Result<String, PathError> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)),
            _ => None,
        };
        match escaped {
            Some((h, l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    let s = String::from_utf8(out).map_err(|_| PathError::NotUtf8)?;
    Ok(fold_case(&s))
}

/// Lower case of the upper case: ASCII as `to_ascii_lowercase`; beyond ASCII, every character
/// whose upper case is an ASCII letter (ı, ſ, the Kelvin sign, ﬀ) folds onto that letter.
fn fold_case(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.to_uppercase().to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn n(s: &str) -> NormalizedPath {
        NormalizedPath::parse(s).unwrap()
    }

    /// Equality and hashing follow the decoded, case-folded segments; the text keeps the
    /// normalised spelling; error offsets count from the start of the whole path.
    #[test]
    fn equality_display_and_offsets() {
        use std::collections::HashSet;
        let a = n("/Cert/%41dmin/");
        assert_eq!(a.to_string(), "/Cert/Admin/");
        assert_eq!(a.as_str(), "/Cert/Admin/");
        assert_eq!("/cert/admin".parse::<NormalizedPath>().unwrap(), a);
        assert_ne!(n("/cert/admin2"), a);
        let set: HashSet<NormalizedPath> = [a.clone(), n("/CERT//ADMIN"), n("/other")].into();
        assert_eq!(set.len(), 2);
        assert_eq!(n("/a/b/").as_str(), "/a/b/");
        assert_eq!(n("/a/b").as_str(), "/a/b");
        assert_eq!(n("/a/b/.").as_str(), "/a/b/");
        assert_eq!(n("/a/b/..").as_str(), "/a/");
        assert_eq!(n("/a/./b").as_str(), "/a/b");
        assert_eq!(n("/").as_str(), "/");
        let offset = |raw: &str| match NormalizedPath::parse(raw) {
            Err(PathError::BadEscape { offset }) => offset,
            other => panic!("{raw}: {other:?}"),
        };
        assert_eq!(offset("/abc/def/%zz"), 9);
        assert_eq!(offset("/abc/d%4/x"), 6);
        assert_eq!(offset("/a%41%4"), 5);
        for (alias, code) in [
            (PathAlias::TrailingDotOrSpace, "path-trailing-dot-or-space"),
            (PathAlias::NtfsStream, "path-ntfs-stream"),
            (PathAlias::DoubleEscaped, "path-double-escaped"),
        ] {
            assert_eq!(alias.code(), code);
        }
        assert_eq!(n("/a/b%2541").alias(), Some(PathAlias::DoubleEscaped));
        assert_eq!(n("/a/b:$DATA").alias(), Some(PathAlias::NtfsStream));
        assert_eq!(n("/a/b::x").alias(), Some(PathAlias::NtfsStream));
        assert_eq!(n("/a/b%20").alias(), Some(PathAlias::TrailingDotOrSpace));
        assert_eq!(n("/a/b%25").alias(), None);
    }

    #[test]
    fn every_spelling_of_cert_is_inside_cert() {
        let cert = n("/cert");
        for spelling in [
            "/cert",
            "/cert/",
            "/cert/x",
            "//cert",
            "///cert//x",
            "/%63ert",
            "/%63%65%72%74",
            "/./cert",
            "/x/../cert",
            "/x/%2e%2E/cert",
            "/x/.%2e/cert",
            "/Cert",
            "/CERT/x",
            "/cert;a",
            "/cert;a/x",
            "/x/..;y/cert",
            "/.;a/cert",
            "/cert/.",
            "/cert/x/..",
        ] {
            assert!(n(spelling).starts_with_segments(&cert), "{spelling}");
        }
        for outside in [
            "/certificate",
            "/",
            "/x/cert",
            "/cer",
            "/cert%3Ba",
            "/ce%72t2",
        ] {
            assert!(!n(outside).starts_with_segments(&cert), "{outside}");
        }
        assert!(n("/anything").starts_with_segments(&n("/")));
        assert!(n("/cert/x").starts_with_segments(&n("/CERT/")));
    }

    #[test]
    fn spellings_an_upstream_folds_onto_a_route_are_that_route() {
        // Issue #20 item 12: Java `equalsIgnoreCase` reads `/admın` (U+0131) as `/admin`,
        // Python `casefold()` reads `/ſtatus` (U+017F) as `/status`.
        let admin = n("/admin");
        for spelling in [
            "/adm%C4%B1n",
            "/admın",
            "/ADMIN",
            "/adm%c4%b1n/x",
            "/%E2%84%AAey", // Kelvin sign: `Key`
        ] {
            let want = if spelling.contains("84%AA") {
                n("/key")
            } else {
                admin.clone()
            };
            assert!(n(spelling).starts_with_segments(&want), "{spelling}");
        }
        assert!(n("/%C5%BFtatus").starts_with_segments(&n("/status")));
        assert!(n("/ſtatus").starts_with_segments(&n("/STATUS")));
        assert!(n("/stra%C3%9Fe").starts_with_segments(&n("/strasse")));
        // The text the upstream receives keeps the client's spelling (escaped).
        assert_eq!(n("/adm%c4%b1n").as_str(), "/adm%C4%B1n");
        // Not everything folds onto ASCII.
        assert!(!n("/%C3%A9").starts_with_segments(&n("/e")));
    }

    #[test]
    fn windows_and_double_decoding_aliases() {
        // Issue #20 item 13: each spelling reaches `/admin` on a Windows upstream or in an
        // application that decodes twice.
        use PathAlias::*;
        for (raw, want) in [
            ("/admin.", TrailingDotOrSpace),
            ("/admin..", TrailingDotOrSpace),
            ("/admin%20", TrailingDotOrSpace),
            ("/admin%2E", TrailingDotOrSpace),
            ("/admin. /x", TrailingDotOrSpace),
            ("/admin.;x", TrailingDotOrSpace),
            ("/admin::$DATA", NtfsStream),
            ("/admin:x:$DATA", NtfsStream),
            ("/admin::%24DATA/x", NtfsStream),
            ("/%2561dmin", DoubleEscaped),
            ("/x/%252e%252e/admin", DoubleEscaped),
            ("/a%25%32%66b", DoubleEscaped),
        ] {
            assert_eq!(n(raw).alias(), Some(want), "{raw}");
        }
        for clean in [
            "/admin",
            "/a.b/c",
            "/.well-known/x",
            "/v1/items:batch",
            "/100%25",
            "/%25zz",
            "/a b/c",
            "/",
        ] {
            assert_eq!(n(clean).alias(), None, "{clean}");
        }
    }

    #[test]
    fn the_normalised_text() {
        for (raw, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/cert", "/cert"),
            ("/cert/", "/cert/"),
            ("//cert//x//", "/cert/x/"),
            ("/%63ert", "/cert"),
            ("/a%c3%a9", "/a%C3%A9"),
            ("/x/../cert", "/cert"),
            ("/x/..", "/"),
            ("/x/y/..", "/x/"),
            ("/x/.", "/x/"),
            ("/./cert", "/cert"),
            ("/cert;a=b/x", "/cert;a=b/x"),
            ("/a b", "/a%20b"),
            ("/é", "/%C3%A9"),
            ("/%7e%41", "/~A"),
            ("/%3b", "/%3B"),
        ] {
            assert_eq!(n(raw).as_str(), want, "{raw}");
        }
    }

    #[test]
    fn refused_paths() {
        use PathError::*;
        for (raw, want) in [
            ("", NotAbsolute),
            ("*", NotAbsolute),
            ("cert", NotAbsolute),
            ("/%", BadEscape { offset: 1 }),
            ("/a%2", BadEscape { offset: 2 }),
            ("/a/%zz", BadEscape { offset: 3 }),
            ("/%00", Nul),
            ("/\u{1}\0rt", Nul), // found by the request_path fuzz target
            ("/a%2Fb", EncodedSlash),
            ("/a%2fb", EncodedSlash),
            ("/a\\b", Backslash),
            ("/a%5cb", Backslash),
            ("/%FF", NotUtf8),
            ("/%C3", NotUtf8),
            ("/..", AboveRoot),
            ("/x/../../cert", AboveRoot),
            ("/%2e%2e/cert", AboveRoot),
            ("/..;a/cert", AboveRoot),
        ] {
            assert_eq!(NormalizedPath::parse(raw).unwrap_err(), want, "{raw:?}");
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in [
            "/a/./b/../c//d/",
            "/%63%2e%2E/x",
            "/a;b/..;c/d;e",
            "/A%c3%A9/",
            "/",
        ] {
            let once = n(raw);
            let twice = n(once.as_str());
            assert_eq!(once.as_str(), twice.as_str(), "{raw}");
            assert_eq!(once, twice);
        }
    }
}
