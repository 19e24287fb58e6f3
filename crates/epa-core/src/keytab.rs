//! A strict reader of MIT keytab files (format version 0x502), for `epa lint`: which
//! principals a keytab holds. Keys are skipped, never copied out.
//!
//! Format (MIT krb5 `keytab.txt`; Heimdal writes the same): `05 02`, then entries, each a signed
//! 32-bit big-endian size followed by that many bytes; a negative size is a hole (a deleted
//! entry) of that many bytes; a zero size ends the list (only zero bytes may follow). An entry is
//! `u16 count`, realm, `count` components (each `u16 length` + bytes), `u32 name_type`,
//! `u32 timestamp`, `u8 vno`, `u16 enctype`, key (`u16 length` + bytes), then optionally a `u32`
//! vno and a `u32` flags word (Heimdal). Anything else in an entry is an error.

use thiserror::Error;

/// The largest keytab read (a keytab with thousands of entries is a few hundred KiB).
pub const MAX_KEYTAB_LEN: usize = 16 << 20;

/// Why a keytab could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeytabError {
    /// Shorter than the version field.
    #[error("not a keytab: {len} bytes, shorter than the version field")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// Larger than [`MAX_KEYTAB_LEN`].
    #[error("keytab of {len} bytes is over the {MAX_KEYTAB_LEN}-byte limit")]
    TooLong {
        /// The file's length.
        len: usize,
    },
    /// A version other than 0x502 (0x501 is the pre-1996 host-byte-order format).
    #[error("unsupported keytab version 0x{version:04x} (only 0x0502 is read)")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// An entry or field runs past its end.
    #[error("truncated keytab: {what} at offset {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// Bytes left inside an entry after its last field.
    #[error("keytab entry at offset {offset} has {count} unexplained trailing bytes")]
    EntryTrailingData {
        /// The entry's offset.
        offset: usize,
        /// How many bytes.
        count: usize,
    },
    /// Non-zero bytes after the end marker.
    #[error("data after the end of the keytab at offset {offset}")]
    DataAfterEnd {
        /// Where the end marker was.
        offset: usize,
    },
    /// A principal with no component.
    #[error("keytab entry at offset {offset} names a principal without components")]
    NoComponents {
        /// The entry's offset.
        offset: usize,
    },
    /// A realm or component that is not UTF-8.
    #[error("keytab entry at offset {offset} has a name that is not UTF-8")]
    NotUtf8 {
        /// The entry's offset.
        offset: usize,
    },
}

/// One keytab entry, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// The principal's components, e.g. `["HTTP", "web.example"]`.
    pub components: Vec<String>,
    /// The realm.
    pub realm: String,
    /// The key version number (the 32-bit one when present).
    pub kvno: u32,
    /// The encryption type.
    pub enctype: u16,
}

impl KeytabEntry {
    /// The principal as `a/b@REALM` (no escaping: for display).
    pub fn principal(&self) -> String {
        format!("{}@{}", self.components.join("/"), self.realm)
    }

    /// The service part, e.g. `HTTP` of `HTTP/web.example@REALM`; `None` for a one-component
    /// (user) principal.
    pub fn service(&self) -> Option<&str> {
        match self.components.as_slice() {
            [service, _, ..] => Some(service),
            _ => None,
        }
    }
}

/// Reads a version 0x502 keytab.
pub fn parse(bytes: &[u8]) -> Result<Vec<KeytabEntry>, KeytabError> {
    if bytes.len() > MAX_KEYTAB_LEN {
        return Err(KeytabError::TooLong { len: bytes.len() });
    }
    let version = match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return Err(KeytabError::TooShort { len: bytes.len() }),
    };
    if version != 0x0502 {
        return Err(KeytabError::UnsupportedVersion { version });
    }
    let mut r = Cursor { bytes, pos: 2 };
    let mut entries = Vec::new();
    while r.pos < bytes.len() {
        let at = r.pos;
        let size = i32::from_be_bytes(r.array("entry size")?);
        if size == 0 {
            if bytes[r.pos..].iter().any(|&b| b != 0) {
                return Err(KeytabError::DataAfterEnd { offset: at });
            }
            break;
        }
        let len = usize::try_from(size.unsigned_abs()).map_err(|_| KeytabError::Truncated {
            what: "entry",
            offset: at,
        })?;
        let body = r.take(len, "entry")?;
        if size > 0 {
            entries.push(entry(body, at + 4)?);
        }
    }
    Ok(entries)
}

fn entry(body: &[u8], offset: usize) -> Result<KeytabEntry, KeytabError> {
    let mut r = Cursor {
        bytes: body,
        pos: 0,
    };
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| KeytabError::NotUtf8 { offset })
    };
    let count = u16::from_be_bytes(r.array("component count")?);
    if count == 0 {
        return Err(KeytabError::NoComponents { offset });
    }
    let realm = text(r.counted("realm")?)?;
    let components = (0..count)
        .map(|_| text(r.counted("component")?))
        .collect::<Result<Vec<_>, _>>()?;
    let _name_type: [u8; 4] = r.array("name type")?;
    let _timestamp: [u8; 4] = r.array("timestamp")?;
    let [vno8] = r.array("key version")?;
    let enctype = u16::from_be_bytes(r.array("enctype")?);
    let _key = r.counted("key")?;
    let kvno = match body.len() - r.pos {
        0 => u32::from(vno8),
        // The 32-bit vno, then (Heimdal) a flags word.
        4 | 8 => u32::from_be_bytes(r.array("key version (32-bit)")?),
        count => return Err(KeytabError::EntryTrailingData { offset, count }),
    };
    Ok(KeytabEntry {
        components,
        realm,
        kvno,
        enctype,
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], KeytabError> {
        let end = self.pos.checked_add(n);
        let out =
            end.and_then(|end| self.bytes.get(self.pos..end))
                .ok_or(KeytabError::Truncated {
                    what,
                    offset: self.pos,
                })?;
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], KeytabError> {
        let at = self.pos;
        self.take(N, what)?
            .try_into()
            .map_err(|_| KeytabError::Truncated { what, offset: at })
    }

    fn counted(&mut self, what: &'static str) -> Result<&'a [u8], KeytabError> {
        let len = u16::from_be_bytes(self.array(what)?);
        self.take(usize::from(len), what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry as MIT writes it (with the 32-bit vno).
    fn entry_bytes(components: &[&str], realm: &str, kvno: u32) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend((components.len() as u16).to_be_bytes());
        e.extend((realm.len() as u16).to_be_bytes());
        e.extend(realm.as_bytes());
        for c in components {
            e.extend((c.len() as u16).to_be_bytes());
            e.extend(c.as_bytes());
        }
        e.extend(1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
        e.extend(0x6500_0000u32.to_be_bytes());
        e.push(kvno as u8);
        e.extend(18u16.to_be_bytes());
        e.extend(32u16.to_be_bytes());
        e.extend([0x42; 32]);
        e.extend(kvno.to_be_bytes());
        let mut out = (e.len() as i32).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    #[test]
    fn reads_entries_and_skips_holes() {
        let mut kt = vec![5, 2];
        kt.extend(entry_bytes(&["HTTP", "web.example"], "EXAMPLE.TEST", 3));
        kt.extend((-6i32).to_be_bytes());
        kt.extend([0; 6]);
        kt.extend(entry_bytes(&["host", "web.example"], "EXAMPLE.TEST", 300));
        let entries = parse(&kt).unwrap_or_default();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].principal(), "HTTP/web.example@EXAMPLE.TEST");
        assert_eq!(entries[0].service(), Some("HTTP"));
        assert_eq!(entries[1].kvno, 300);
        assert_eq!(entries[1].service(), Some("host"));
        // An end marker followed by zero padding.
        kt.extend([0; 8]);
        assert_eq!(parse(&kt).map(|e| e.len()), Ok(2));
    }

    #[test]
    fn refuses_what_is_not_a_keytab() {
        assert_eq!(parse(&[5]), Err(KeytabError::TooShort { len: 1 }));
        assert_eq!(
            parse(&[5, 1]),
            Err(KeytabError::UnsupportedVersion { version: 0x501 })
        );
        let good = [vec![5, 2], entry_bytes(&["HTTP", "a"], "R", 1)].concat();
        for cut in 3..good.len() {
            assert!(
                matches!(parse(&good[..cut]), Err(KeytabError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut after_end = [good.clone(), vec![0, 0, 0, 0, 1]].concat();
        assert!(matches!(
            parse(&after_end),
            Err(KeytabError::DataAfterEnd { .. })
        ));
        // Two stray bytes inside an entry.
        after_end = good.clone();
        let size = i32::from_be_bytes([good[2], good[3], good[4], good[5]]) + 2;
        after_end[2..6].copy_from_slice(&size.to_be_bytes());
        after_end.extend([0, 0]);
        assert!(matches!(
            parse(&after_end),
            Err(KeytabError::EntryTrailingData { count: 6, .. })
        ));
        // i32::MIN as a hole size.
        let min = [vec![5, 2], i32::MIN.to_be_bytes().to_vec()].concat();
        assert!(matches!(parse(&min), Err(KeytabError::Truncated { .. })));
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        // MAX_KEYTAB_LEN bytes are read (here: the version, then an end marker and zero
        // padding); one byte more is refused before any entry is looked at.
        let mut kt = vec![0; MAX_KEYTAB_LEN];
        kt[..2].copy_from_slice(&[5, 2]);
        assert_eq!(parse(&kt), Ok(vec![]));
        kt.push(0);
        assert_eq!(
            parse(&kt),
            Err(KeytabError::TooLong {
                len: MAX_KEYTAB_LEN + 1
            })
        );
    }

    #[test]
    fn the_32_bit_kvno_and_heimdal_flags_are_optional() {
        // MIT keytab.txt: the 32-bit vno is optional (older writers stop after the key), and
        // Heimdal appends a flags word after it; the 8-bit vno counts only when it is absent.
        let good = entry_bytes(&["HTTP", "a"], "R", 300);
        let body = &good[4..];
        let without = &body[..body.len() - 4];
        let with_flags = [body, &[0, 0, 0, 1]].concat();
        for (body, kvno) in [(without, 300 % 256), (&with_flags[..], 300)] {
            let kt = [
                vec![5, 2],
                (body.len() as i32).to_be_bytes().to_vec(),
                body.to_vec(),
            ]
            .concat();
            assert_eq!(parse(&kt).map(|e| e[0].kvno), Ok(kvno));
        }
    }

    #[test]
    fn entry_errors_name_the_entry_offset() {
        // The offset of an entry's body: after the version (2) and every earlier entry, past
        // the entry's own 4-byte size.
        let first = entry_bytes(&["HTTP", "a"], "R", 1);
        let mut no_components = entry_bytes(&["HTTP", "a"], "R", 1);
        no_components[4..6].copy_from_slice(&[0, 0]);
        let kt = [vec![5, 2], first.clone(), no_components].concat();
        let at = 2 + first.len() + 4;
        assert_eq!(parse(&kt), Err(KeytabError::NoComponents { offset: at }));
        let mut not_utf8 = entry_bytes(&["HTTP", "a"], "R", 1);
        not_utf8[8] = 0xff; // the realm's one byte
        let kt = [vec![5, 2], first, not_utf8].concat();
        assert_eq!(parse(&kt), Err(KeytabError::NotUtf8 { offset: at }));
    }

    #[test]
    fn reads_a_keytab_written_by_mit() {
        // `kadmin.local ktadd` of HTTP/localhost@EXAMPLE.TEST, two enctypes (keys replaced).
        let mut kt = vec![5, 2];
        kt.extend(entry_bytes(&["HTTP", "localhost"], "EXAMPLE.TEST", 2));
        kt.extend(entry_bytes(&["HTTP", "localhost"], "EXAMPLE.TEST", 2));
        let entries = parse(&kt).unwrap_or_default();
        assert!(entries.iter().all(|e| e.service() == Some("HTTP")));
    }
}
