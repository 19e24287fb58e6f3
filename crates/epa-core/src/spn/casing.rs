//! .NET's ordinal upper-casing, the key of `StringComparison.OrdinalIgnoreCase`.
//!
//! dotnet/runtime `System.Globalization.OrdinalCasing` (ICU mode, the default on every platform
//! since .NET 5) compares two strings one UTF-16 code unit at a time after upper-casing each
//! unit with a *simple* (one unit to one unit) mapping:
//!
//! * U+0000–U+00FF: a fixed table equal to Unicode's simple upper case (`µ` → `Μ`, `ÿ` → `Ÿ`,
//!   `ß` unchanged);
//! * pages that .NET marks as having no casing (Hangul, CJK, private use, surrogates, ...): the
//!   unit itself;
//! * every other BMP unit: ICU `u_toupper`, i.e. Unicode's simple upper case, **except** U+0131
//!   (dotless ı) and U+017F (long ſ), which stay themselves ("Disable Turkish I behavior on
//!   Ordinal operations", `pal_casing.c` `InitOrdinalCasingPage`): otherwise they would equal the
//!   ASCII `I` and `S`;
//! * a well-formed surrogate pair: the scalar's simple upper case
//!   (`CharUnicodeInfo.ToUpper`), compared as a pair.
//!
//! Rust's `char::to_uppercase` is the *full* mapping; where it yields one character it equals
//! the simple mapping, and the only characters whose simple mapping differs from a multi-character
//! full mapping are the 27 Greek letters with ypogegrammeni (checked against Perl's
//! `Simple_Uppercase_Mapping`, Unicode 14). The Unicode version is Rust's, where .NET's is the
//! host ICU's: a case pair added in one version and not the other can differ, never in ASCII
//! (pinned by a test).

/// The .NET `s_casingTableInit` bitmap: one bit per 256-unit BMP page, most significant bit
/// first; a set bit means "no casing in this page", so every unit maps to itself.
const NO_CASING_PAGES: [u8; 32] = [
    0b0000_0000, // 0000-07FF
    0b0000_0000, // 0800-0FFF
    0b0100_1100, // 1000-17FF
    0b0000_0000, // 1800-1FFF
    0b0011_0111, // 2000-27FF
    0b1110_0000, // 2800-2FFF
    0b0001_1111, // 3000-37FF
    0b1111_1111, // 3800-3FFF
    0b1111_1111, // 4000-47FF
    0b1111_1111, // 4800-4FFF
    0b1111_1111, // 5000-57FF
    0b1111_1111, // 5800-5FFF
    0b1111_1111, // 6000-67FF
    0b1111_1111, // 6800-6FFF
    0b1111_1111, // 7000-77FF
    0b1111_1111, // 7800-7FFF
    0b1111_1111, // 8000-87FF
    0b1111_1111, // 8800-8FFF
    0b1111_1111, // 9000-97FF
    0b1111_1110, // 9800-9FFF
    0b1111_0100, // A000-A7FF
    0b0000_1111, // A800-AFFF
    0b1111_1111, // B000-B7FF
    0b1111_1111, // B800-BFFF
    0b1111_1111, // C000-C7FF
    0b1111_1111, // C800-CFFF
    0b1111_1110, // D000-D7FF
    0b1111_1111, // D800-DFFF
    0b1111_1111, // E000-E7FF
    0b1111_1111, // E800-EFFF
    0b1111_1111, // F000-F7FF
    0b1100_1000, // F800-FFFF
];

/// Whether .NET treats the BMP page of `unit` as having no casing.
fn in_no_casing_page(unit: u32) -> bool {
    let page = (unit >> 8) as usize;
    NO_CASING_PAGES
        .get(page >> 3)
        .is_some_and(|bits| bits & (0x80 >> (page & 7)) != 0)
}

/// Unicode's simple upper-case mapping (`UnicodeData.txt` field 12) of `c`.
pub(crate) fn simple_upper(c: char) -> char {
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(u), None) => u,
        // Full mapping of more than one character: the simple mapping is the character
        // itself, except for the Greek letters with ypogegrammeni, whose simple upper case is
        // the letter with prosgegrammeni (U+1F80 → U+1F88, U+1FB3 → U+1FBC, ...).
        _ => match u32::from(c) {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(u32::from(c) + 8).unwrap_or(c)
            }
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

/// .NET `OrdinalCasing.ToUpper` for one character (a BMP unit, or a surrogate pair's scalar).
pub fn ordinal_upper(c: char) -> char {
    let unit = u32::from(c);
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    if unit <= 0xFFFF {
        // The two exceptions .NET makes to keep ordinal comparisons free of Turkish-I rules.
        if unit == 0x0131 || unit == 0x017F || in_no_casing_page(unit) {
            return c;
        }
    }
    simple_upper(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every BMP character (surrogate code points cannot be a `char`).
    fn bmp() -> impl Iterator<Item = char> {
        (0u32..=0xFFFF).filter_map(char::from_u32)
    }

    /// The one-character upper case of `c` by `char::to_uppercase`, if it is one character.
    fn rust_single_upper(c: char) -> Option<char> {
        let mut up = c.to_uppercase();
        match (up.next(), up.next()) {
            (Some(u), None) => Some(u),
            _ => None,
        }
    }

    // #11 item 2: every non-ASCII UTF-16 unit whose Unicode (simple) upper case is ASCII, with
    // the result .NET's ordinal casing gives it. The enumeration is computed, so a Unicode
    // update that adds one fails here until it is pinned.
    #[test]
    fn every_non_ascii_unit_whose_unicode_upper_case_is_ascii_is_pinned() {
        let found: Vec<(u32, char)> = bmp()
            .filter(|c| !c.is_ascii())
            .filter_map(|c| rust_single_upper(c).map(|u| (c, u)))
            .filter(|(_, u)| u.is_ascii())
            .map(|(c, u)| (u32::from(c), u))
            .collect();
        assert_eq!(found, [(0x0131, 'I'), (0x017F, 'S')]);
        // .NET: both stay themselves (pal_casing.c InitOrdinalCasingPage).
        let dotnet = [(0x0131u32, '\u{0131}'), (0x017F, '\u{017F}')];
        for (unit, want) in dotnet {
            let c = char::from_u32(unit).unwrap_or('\0');
            assert_eq!(ordinal_upper(c), want, "U+{unit:04X}");
        }
    }

    #[test]
    fn no_non_ascii_character_upper_cases_to_ascii() {
        for c in bmp().filter(|c| !c.is_ascii()) {
            assert!(!ordinal_upper(c).is_ascii(), "U+{:04X}", u32::from(c));
        }
        for c in (0x1_0000u32..=0x10_FFFF).filter_map(char::from_u32) {
            assert!(!ordinal_upper(c).is_ascii(), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn upper_casing_keeps_the_utf16_length_of_every_character() {
        // .NET compares unit by unit (a pair with a pair): a mapping that changed a character's
        // UTF-16 length could not be reproduced by comparing folded strings.
        for c in (0u32..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(
                ordinal_upper(c).len_utf16(),
                c.len_utf16(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn upper_case_letters_that_look_ascii_stay_themselves() {
        // KELVIN SIGN, ANGSTROM SIGN, LATIN CAPITAL I WITH DOT ABOVE: upper case already, so
        // upper-casing keeps them (a lower-casing comparison would map the first to `k`).
        for c in ['\u{212A}', '\u{212B}', '\u{0130}'] {
            assert_eq!(ordinal_upper(c), c);
        }
    }

    #[test]
    fn latin_1_matches_dotnet_basic_latin_table() {
        for unit in 0x80u32..=0xFF {
            let c = char::from_u32(unit).unwrap_or('\0');
            let want = match unit {
                0xB5 => 0x039C,
                0xE0..=0xF6 | 0xF8..=0xFE => unit - 0x20,
                0xFF => 0x0178,
                _ => unit,
            };
            assert_eq!(u32::from(ordinal_upper(c)), want, "U+{unit:04X}");
        }
        for c in 'a'..='z' {
            assert_eq!(ordinal_upper(c), c.to_ascii_uppercase());
        }
    }

    #[test]
    fn simple_not_full_mapping() {
        assert_eq!(ordinal_upper('ß'), 'ß');
        assert_eq!(ordinal_upper('\u{FB00}'), '\u{FB00}'); // ﬀ
        assert_eq!(ordinal_upper('\u{0149}'), '\u{0149}'); // ŉ
        assert_eq!(ordinal_upper('\u{1F80}'), '\u{1F88}');
        assert_eq!(ordinal_upper('\u{1FB3}'), '\u{1FBC}');
        assert_eq!(ordinal_upper('\u{1FBC}'), '\u{1FBC}');
        assert_eq!(ordinal_upper('\u{1FF3}'), '\u{1FFC}');
        // Supplementary planes: the scalar's simple mapping (Deseret).
        assert_eq!(ordinal_upper('\u{10428}'), '\u{10400}');
    }

    #[test]
    fn the_ypogegrammeni_exceptions_are_exactly_the_multi_character_full_mappings_with_a_titlecase_form()
     {
        // Each exception maps to a character whose lower case is the original: a case pair.
        for c in bmp().filter(|c| rust_single_upper(*c).is_none()) {
            let s = simple_upper(c);
            if s != c {
                let mut lower = s.to_lowercase();
                assert_eq!(
                    (lower.next(), lower.next()),
                    (Some(c), None),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
        let changed = bmp()
            .filter(|c| rust_single_upper(*c).is_none() && simple_upper(*c) != *c)
            .count();
        assert_eq!(changed, 27);
    }

    #[test]
    fn no_casing_pages_hold_no_case_pairs() {
        // The bitmap only short-cuts pages without casing; in this Unicode version it changes
        // nothing (a test, so that a new Unicode version with casing there is noticed).
        for c in bmp().filter(|c| in_no_casing_page(u32::from(*c))) {
            assert_eq!(simple_upper(c), c, "U+{:04X}", u32::from(c));
        }
        assert!(in_no_casing_page(0xAC00)); // Hangul syllables
        assert!(!in_no_casing_page(0x0100));
        assert!(!in_no_casing_page(0xFF41)); // fullwidth a: page FF has casing
    }
}
