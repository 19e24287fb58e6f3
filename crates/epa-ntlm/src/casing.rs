//! Windows upper-casing of NTLM user and domain names.
//!
//! MSV1_0 upper-cases the user name for `NTOWFv2` (MS-NLMP §3.3.2) and compares account names
//! with `RtlUpcaseUnicodeString`, which maps each UTF-16 code unit through a one-to-one table
//! (`RtlUpcaseUnicodeChar`): the *simple* upper-case mapping of UnicodeData.txt. Nothing expands
//! (`ß` stays `ß`, `ﬁ` stays `ﬁ`, where Rust's and Python's full mapping give `SS` and `FI`),
//! and surrogate halves are left alone (supplementary characters are never upper-cased).

/// BMP characters whose full upper-case mapping has several characters but whose simple
/// mapping is one character (the Greek letters with a iota subscript, UnicodeData.txt field 12).
/// Every other multi-character mapping has no simple mapping: the character stays as it is.
fn greek_iota_subscript(c: u32) -> Option<u32> {
    match c {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => Some(c + 8),
        0x1FB3 => Some(0x1FBC),
        0x1FC3 => Some(0x1FCC),
        0x1FF3 => Some(0x1FFC),
        _ => None,
    }
}

/// The simple upper-case of one UTF-16 code unit's character (identity outside the BMP).
pub fn upcase_char(c: char) -> char {
    let code = u32::from(c);
    if code > 0xFFFF {
        return c;
    }
    if let Some(up) = greek_iota_subscript(code).and_then(char::from_u32) {
        return up;
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if u32::from(u) <= 0xFFFF => u,
        _ => c,
    }
}

/// `s` upper-cased as Windows does for account names and `NTOWFv2`: one unit for one unit.
pub fn upcase(s: &str) -> String {
    s.chars().map(upcase_char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_expansion_and_no_supplementary_mapping() {
        assert_eq!(upcase("straße"), "STRAßE");
        assert_eq!(upcase("ﬁle"), "ﬁLE");
        assert_eq!(upcase("ŉ"), "ŉ");
        // Deseret small long I (U+10428) has an upper case, but it is two UTF-16 units.
        assert_eq!(upcase("\u{10428}"), "\u{10428}");
        assert_eq!(upcase("ᾳ"), "ᾼ");
        assert_eq!(upcase("émile"), "ÉMILE");
        assert_eq!(upcase("ÿ"), "Ÿ");
        // Length in UTF-16 units never changes.
        for s in ["straße", "ﬁ", "ᾳΐΰ", "Ǉǈǉ", "ıſ"] {
            assert_eq!(
                upcase(s).encode_utf16().count(),
                s.encode_utf16().count(),
                "{s}"
            );
        }
    }
}
