//! Security identifiers (MS-DTYP §2.4.2): the binary form of the PAC and of winbind, and the
//! `S-1-5-21-…` string form of configuration files (§2.4.2.1).
//!
//! Both readers are strict: revision 1 only, at most 15 sub-authorities, the binary form exactly
//! `8 + 4 × count` bytes, decimal numbers without sign, spaces or leading zeros, and an identifier
//! authority of 2^32 or more only in the `0x` + 12-hex-digit form. A SID with no sub-authority
//! (`S-1-5`) is accepted in both forms so that every value round-trips, as `RtlValidSid` accepts
//! it (the ABNF of §2.4.2.1 asks for one; no SID that matters here lacks one).

use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The most sub-authorities a SID has (`SID_MAX_SUB_AUTHORITIES`).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// The largest identifier authority (48 bits).
const MAX_AUTHORITY: u64 = (1 << 48) - 1;

/// Why bytes or text are not a SID. Never quotes the input (it may be client text).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SidError {
    /// Binary: shorter than the 8-byte header.
    #[error("SID of {len} bytes is shorter than its 8-byte header")]
    TooShort {
        /// The input's length.
        len: usize,
    },
    /// A revision other than 1.
    #[error("SID revision {revision} (only 1 exists)")]
    Revision {
        /// The revision found.
        revision: u64,
    },
    /// More than 15 sub-authorities.
    #[error("SID with {count} sub-authorities (at most 15)")]
    TooManySubAuthorities {
        /// The count found (or needed).
        count: usize,
    },
    /// Binary: the length is not `8 + 4 × count`.
    #[error("SID of {len} bytes, but its count of sub-authorities needs {expected}")]
    Length {
        /// The length the count implies.
        expected: usize,
        /// The input's length.
        len: usize,
    },
    /// String: does not start with `S-`.
    #[error("a SID string starts with \"S-\"")]
    Prefix,
    /// String: a field that is not a number as §2.4.2.1 writes it (empty, non-digit, leading
    /// zero, out of range, or a decimal authority of 2^32 or more).
    #[error("SID string field {field} is not a valid {what}")]
    Field {
        /// The field's index (0 = revision, 1 = identifier authority, 2… = sub-authorities).
        field: usize,
        /// What the field should be.
        what: &'static str,
    },
    /// String: no identifier authority.
    #[error("a SID string has an identifier authority after its revision")]
    MissingAuthority,
}

/// A security identifier: revision 1, a 48-bit identifier authority and up to 15 32-bit
/// sub-authorities. Compares, orders and hashes by value (authority, then sub-authorities).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sid {
    authority: u64,
    subs: Box<[u32]>,
}

impl Sid {
    /// A SID from its identifier authority (at most 48 bits) and sub-authorities.
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Result<Self, SidError> {
        if authority > MAX_AUTHORITY {
            return Err(SidError::Field {
                field: 1,
                what: "48-bit identifier authority",
            });
        }
        if sub_authorities.len() > MAX_SUB_AUTHORITIES {
            return Err(SidError::TooManySubAuthorities {
                count: sub_authorities.len(),
            });
        }
        Ok(Self {
            authority,
            subs: sub_authorities.into(),
        })
    }

    /// The binary form (MS-DTYP §2.4.2.2): revision, count, 6-byte big-endian authority, then
    /// `count` little-endian sub-authorities, and nothing after them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SidError> {
        let [revision, count, a0, a1, a2, a3, a4, a5, rest @ ..] = bytes else {
            return Err(SidError::TooShort { len: bytes.len() });
        };
        if *revision != 1 {
            return Err(SidError::Revision {
                revision: u64::from(*revision),
            });
        }
        let count = usize::from(*count);
        if count > MAX_SUB_AUTHORITIES {
            return Err(SidError::TooManySubAuthorities { count });
        }
        let expected = 8 + 4 * count;
        if bytes.len() != expected {
            return Err(SidError::Length {
                expected,
                len: bytes.len(),
            });
        }
        let authority = u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]);
        let subs = rest
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self { authority, subs })
    }

    /// The binary form (MS-DTYP §2.4.2.2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.subs.len());
        out.push(1);
        // At most 15: every constructor checks.
        out.push(self.subs.len() as u8);
        out.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for sub in self.sub_authorities() {
            out.extend_from_slice(&sub.to_le_bytes());
        }
        out
    }

    /// The 48-bit identifier authority (5 for `NT AUTHORITY`).
    pub fn authority(&self) -> u64 {
        self.authority
    }

    /// The sub-authorities, in order.
    pub fn sub_authorities(&self) -> &[u32] {
        &self.subs
    }

    /// The last sub-authority (the relative identifier of an account SID), if any.
    pub fn rid(&self) -> Option<u32> {
        self.subs.last().copied()
    }

    /// This (domain) SID with `rid` appended: the SID of the domain's account `rid`.
    pub fn with_rid(&self, rid: u32) -> Result<Self, SidError> {
        if self.subs.len() >= MAX_SUB_AUTHORITIES {
            return Err(SidError::TooManySubAuthorities {
                count: self.subs.len() + 1,
            });
        }
        let mut subs = Vec::with_capacity(self.subs.len() + 1);
        subs.extend_from_slice(&self.subs);
        subs.push(rid);
        Ok(Self {
            authority: self.authority,
            subs: subs.into(),
        })
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl fmt::Display for Sid {
    /// `S-1-5-21-…`; an authority of 2^32 or more in the `0x` + 12-hex-digit form (§2.4.2.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority > u64::from(u32::MAX) {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        } else {
            write!(f, "S-1-{}", self.authority)?;
        }
        for sub in self.sub_authorities() {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

/// A decimal number of at most `u32::MAX`: ASCII digits, no sign, no leading zero.
fn decimal(field: &str) -> Option<u32> {
    let bytes = field.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    field.parse().ok()
}

impl FromStr for Sid {
    type Err = SidError;

    fn from_str(s: &str) -> Result<Self, SidError> {
        let rest = s.strip_prefix("S-").ok_or(SidError::Prefix)?;
        let mut fields = rest.split('-');
        let revision = fields.next().unwrap_or("");
        match decimal(revision) {
            Some(1) => {}
            Some(revision) => {
                return Err(SidError::Revision {
                    revision: u64::from(revision),
                });
            }
            None => {
                return Err(SidError::Field {
                    field: 0,
                    what: "revision",
                });
            }
        }
        let authority_text = fields.next().ok_or(SidError::MissingAuthority)?;
        let authority = match authority_text.strip_prefix("0x") {
            Some(hex) => (hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(hex, 16).ok())
                .flatten()
                .filter(|a| *a > u64::from(u32::MAX))
                .ok_or(SidError::Field {
                    field: 1,
                    what: "hexadecimal identifier authority (0x and 12 digits, at least 2^32)",
                })?,
            None => decimal(authority_text)
                .map(u64::from)
                .ok_or(SidError::Field {
                    field: 1,
                    what: "decimal identifier authority (below 2^32)",
                })?,
        };
        let mut subs = Vec::new();
        for (i, field) in fields.enumerate() {
            if subs.len() == MAX_SUB_AUTHORITIES {
                return Err(SidError::TooManySubAuthorities {
                    count: rest.split('-').count() - 2,
                });
            }
            subs.push(decimal(field).ok_or(SidError::Field {
                field: i + 2,
                what: "decimal sub-authority",
            })?);
        }
        Ok(Self {
            authority,
            subs: subs.into(),
        })
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = "S-1-5-21-3623811015-3361044348-30300820";

    #[test]
    fn binary_round_trip() {
        // S-1-5-21-3623811015-3361044348-30300820-1013 (MS-DTYP §2.4.2.2's shape).
        let sid: Sid = format!("{DOMAIN}-1013").parse().unwrap();
        let bytes = sid.to_bytes();
        assert_eq!(bytes.len(), 8 + 4 * 5);
        assert_eq!(&bytes[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&bytes[8..12], &21u32.to_le_bytes());
        assert_eq!(Sid::from_bytes(&bytes).unwrap(), sid);
        assert_eq!(sid.rid(), Some(1013));
        assert_eq!(sid.authority(), 5);
    }

    #[test]
    fn binary_is_strict() {
        let sid: Sid = DOMAIN.parse().unwrap();
        let bytes = sid.to_bytes();
        assert_eq!(
            Sid::from_bytes(&bytes[..7]),
            Err(SidError::TooShort { len: 7 })
        );
        assert_eq!(
            Sid::from_bytes(&bytes[..bytes.len() - 1]),
            Err(SidError::Length {
                expected: 24,
                len: 23
            })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Sid::from_bytes(&long),
            Err(SidError::Length {
                expected: 24,
                len: 25
            })
        );
        let mut rev = bytes.clone();
        rev[0] = 2;
        assert_eq!(
            Sid::from_bytes(&rev),
            Err(SidError::Revision { revision: 2 })
        );
        let mut many = vec![1, 16, 0, 0, 0, 0, 0, 5];
        many.extend(std::iter::repeat_n(0, 64));
        assert_eq!(
            Sid::from_bytes(&many),
            Err(SidError::TooManySubAuthorities { count: 16 })
        );
        assert_eq!(
            Sid::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 0])
                .unwrap()
                .to_string(),
            "S-1-0"
        );
    }

    #[test]
    fn string_forms() {
        for good in [
            "S-1-5-32-544",
            "S-1-1-0",
            "S-1-0",
            "S-1-4294967295-1",
            "S-1-0x123456789ABC-7",
            "S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12-13-4294967295",
        ] {
            let sid: Sid = good.parse().unwrap();
            assert_eq!(sid.to_string(), good);
        }
        assert_eq!(
            "S-1-0x123456789abc-7".parse::<Sid>().unwrap().to_string(),
            "S-1-0x123456789ABC-7"
        );
        use SidError::*;
        for (bad, err) in [
            ("", Prefix),
            ("s-1-5-32", Prefix),
            (" S-1-5", Prefix),
            ("S-1", MissingAuthority),
            ("S-2-5-1", Revision { revision: 2 }),
            (
                "S--5-1",
                Field {
                    field: 0,
                    what: "revision",
                },
            ),
            (
                "S-01-5-1",
                Field {
                    field: 0,
                    what: "revision",
                },
            ),
            (
                "S-1-4294967296-1",
                Field {
                    field: 1,
                    what: "decimal identifier authority (below 2^32)",
                },
            ),
            (
                "S-1-05-1",
                Field {
                    field: 1,
                    what: "decimal identifier authority (below 2^32)",
                },
            ),
            (
                "S-1-0x00000000FFFF-1",
                Field {
                    field: 1,
                    what: "hexadecimal identifier authority (0x and 12 digits, at least 2^32)",
                },
            ),
            (
                "S-1-0x1234-1",
                Field {
                    field: 1,
                    what: "hexadecimal identifier authority (0x and 12 digits, at least 2^32)",
                },
            ),
            (
                "S-1-5-",
                Field {
                    field: 2,
                    what: "decimal sub-authority",
                },
            ),
            (
                "S-1-5-+1",
                Field {
                    field: 2,
                    what: "decimal sub-authority",
                },
            ),
            (
                "S-1-5-32-0544",
                Field {
                    field: 3,
                    what: "decimal sub-authority",
                },
            ),
            (
                "S-1-5-4294967296",
                Field {
                    field: 2,
                    what: "decimal sub-authority",
                },
            ),
            (
                "S-1-5-32-544 ",
                Field {
                    field: 3,
                    what: "decimal sub-authority",
                },
            ),
            (
                "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17",
                TooManySubAuthorities { count: 17 },
            ),
        ] {
            assert_eq!(bad.parse::<Sid>(), Err(err), "{bad:?}");
        }
    }

    #[test]
    fn with_rid_and_ordering() {
        let domain: Sid = DOMAIN.parse().unwrap();
        let user = domain.with_rid(1105).unwrap();
        assert_eq!(user.to_string(), format!("{DOMAIN}-1105"));
        assert!(domain < user);
        let full: Sid = "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15".parse().unwrap();
        assert_eq!(
            full.with_rid(1),
            Err(SidError::TooManySubAuthorities { count: 16 })
        );
        let a: Sid = "S-1-5-32-544".parse().unwrap();
        let b = Sid::new(5, &[32, 544]).unwrap();
        assert_eq!(a, b);
        let mut set = std::collections::HashSet::new();
        set.insert(a);
        assert!(set.contains(&b));
        assert!(Sid::new(1 << 48, &[]).is_err());
        assert!(Sid::new(5, &[0; 16]).is_err());
    }

    #[test]
    fn serde_as_string() {
        let sid: Sid = "S-1-5-32-544".parse().unwrap();
        assert_eq!(serde_json::to_string(&sid).unwrap(), "\"S-1-5-32-544\"");
        let back: Sid = serde_json::from_str("\"S-1-5-32-544\"").unwrap();
        assert_eq!(back, sid);
        assert!(serde_json::from_str::<Sid>("\"S-1-5-32-0544\"").is_err());
    }
}
