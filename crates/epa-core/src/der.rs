//! Strict DER reading (X.690 §8.1, §10.1) on top of the RustCrypto [`der`] crate.
//!
//! `der` decodes each TLV header ([`der::Header`]: tag and length) and bounds its value
//! ([`der::Reader::read_slice`]); this module walks only the TLVs a caller asks for, never decodes
//! more, and turns every way the input can be malformed into its own [`DerError`] with the name of
//! the field and its absolute offset. Where `der` lumps cases together (a non-minimal length and a
//! length in five or more octets are both its `Overlength`) or is laxer than a certificate
//! presented in TLS allows (high tag numbers, lengths up to 2^32-1), the raw bytes are checked
//! explicitly. No allocation, no recursion.

use ::der::{Decode as _, Reader as _, SliceReader};
use thiserror::Error;

/// The largest DER value we accept. A TLS certificate travels in a 24-bit length field
/// (RFC 8446 §4.4.2 `opaque cert_data<1..2^24-1>`, the same in RFC 5246 §7.4.2), so a declared
/// length beyond this cannot be a certificate a server presented.
pub const MAX_DER_LEN: usize = (1 << 24) - 1;

/// A DER encoding that violates X.690 distinguished encoding rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DerError {
    /// The input was empty.
    #[error("empty input: expected a DER certificate")]
    Empty,
    /// The input ended before the end of a TLV.
    #[error(
        "truncated DER: {what} needs {needed} bytes at offset {offset} but only {available} remain"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the TLV.
        offset: usize,
        /// Bytes the TLV needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A length beyond [`MAX_DER_LEN`] (or beyond what the platform can address).
    #[error(
        "DER length overflow: {what} at offset {offset} declares {declared} bytes, more than a TLS certificate can carry (2^24-1)"
    )]
    LengthOverflow {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the TLV.
        offset: usize,
        /// The declared length (saturated at `u64::MAX`).
        declared: u64,
    },
    /// The indefinite length form `0x80`, which BER allows and DER forbids (X.690 §10.1).
    #[error("indefinite length in {what} at offset {offset}: BER, not DER")]
    IndefiniteLength {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the TLV.
        offset: usize,
    },
    /// A length not in its shortest form (X.690 §10.1), e.g. `0x83 00 03 60` for 864.
    #[error("non-minimal length encoding in {what} at offset {offset}: BER, not DER")]
    NonMinimalLength {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the TLV.
        offset: usize,
    },
    /// A tag other than the one the structure requires.
    #[error(
        "wrong tag for {what} at offset {offset}: expected 0x{expected:02x}, found 0x{found:02x}"
    )]
    WrongTag {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the TLV.
        offset: usize,
        /// The tag required.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// Bytes after the end of a structure that must end there.
    #[error("{count} trailing bytes after {what}")]
    TrailingData {
        /// The structure that should have ended.
        what: &'static str,
        /// How many bytes follow it.
        count: usize,
    },
    /// A value that is syntactically DER but not what the structure allows.
    #[error("invalid {what}: {detail}")]
    InvalidValue {
        /// What was being read.
        what: &'static str,
        /// Why it is invalid.
        detail: &'static str,
    },
}

/// One TLV: its tag, its contents, and its whole encoding (header included).
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Identifier, length and contents octets: what two DER values are compared by.
    pub raw: &'a [u8],
    /// Absolute offset of the identifier octet.
    pub offset: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over the contents, with offsets that continue the outer reader's.
    #[inline]
    pub fn contents(&self) -> Reader<'a> {
        Reader::nested(
            self.value,
            self.offset + (self.raw.len() - self.value.len()),
        )
    }
}

/// A cursor over DER bytes that remembers the absolute offset for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    input: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, whose first byte is offset 0.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, offset: 0 }
    }

    #[inline]
    fn nested(input: &'a [u8], offset: usize) -> Self {
        Self { input, offset }
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.input
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Reads one TLV whose tag must be `expected`.
    #[inline(always)]
    pub fn take(&mut self, expected: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let offset = self.offset;
        // The tag is checked before the length, so a wrong structure is named as such even when
        // the rest of its header is also broken.
        match self.input.first() {
            Some(&found) if found != expected && found & 0x1f != 0x1f => {
                return Err(DerError::WrongTag {
                    what,
                    offset,
                    expected,
                    found,
                });
            }
            _ => {}
        }
        self.read(what)
    }

    /// Reads a constructed TLV with tag `expected` and returns a reader over its contents.
    #[inline(always)]
    pub fn enter(&mut self, expected: u8, what: &'static str) -> Result<Reader<'a>, DerError> {
        Ok(self.take(expected, what)?.contents())
    }

    /// Reads an OPTIONAL element: `Some` when the next tag is `tag`.
    #[inline(always)]
    pub fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>, DerError> {
        match self.input.first() {
            Some(&t) if t == tag => self.read(what).map(Some),
            _ => Ok(None),
        }
    }

    /// Fails unless every byte has been consumed.
    #[inline]
    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData {
                what,
                count: self.input.len(),
            })
        }
    }

    /// Reads one TLV of any single-byte tag that DER allows, enforcing the DER length rules.
    #[inline(always)]
    pub fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, DerError> {
        match canonical_header(self.input) {
            Some((header_len, len)) => self.split(header_len, len, what),
            None => self.read_with_der(what),
        }
    }

    /// Splits off a TLV whose header (`header_len` bytes) declares `len` content bytes.
    #[inline(always)]
    fn split(
        &mut self,
        header_len: usize,
        len: usize,
        what: &'static str,
    ) -> Result<Tlv<'a>, DerError> {
        let offset = self.offset;
        let input = self.input;
        let total = header_len + len;
        let (Some(&tag), Some(value)) = (input.first(), input.get(header_len..total)) else {
            return Err(DerError::Truncated {
                what,
                offset,
                needed: total,
                available: input.len(),
            });
        };
        let (raw, rest) = input.split_at(total);
        self.input = rest;
        self.offset = offset + total;
        Ok(Tlv {
            tag,
            value,
            raw,
            offset,
        })
    }

    /// [`Reader::read`] through `der`'s header decoder: every header [`canonical_header`] does not
    /// vouch for, and so every malformed one, is decided (and its error named) here.
    fn read_with_der(&mut self, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let offset = self.offset;
        let input = self.input;
        let &tag = input.first().ok_or(DerError::Truncated {
            what,
            offset,
            needed: 2,
            available: 0,
        })?;
        if tag & 0x1f == 0x1f {
            // `der` reads high tag numbers; no structure we read has one.
            return Err(DerError::InvalidValue {
                what,
                detail: "multi-byte tag number",
            });
        }
        // `der` reads a header of at most 6 bytes (one tag octet, up to 1 + 4 length octets); it
        // is handed no more, so its reader cannot refuse the input for its size.
        let head = input.get(..6).unwrap_or(input);
        let mut reader = SliceReader::new(head).map_err(|_| DerError::InvalidValue {
            what,
            detail: "malformed TLV header",
        })?;
        let header = ::der::Header::decode(&mut reader)
            .map_err(|e| header_error(input, offset, what, e.kind()))?;
        let len = u32::from(header.length());
        if u64::from(len) > MAX_DER_LEN as u64 {
            return Err(DerError::LengthOverflow {
                what,
                offset,
                declared: u64::from(len),
            });
        }
        // Both fit: `der` reads headers of at most 6 bytes, and the length is below 2^24.
        self.split(u32::from(reader.position()) as usize, len as usize, what)
    }
}

/// The header length and declared content length of a TLV header that is DER beyond doubt: the
/// tag of a structure a certificate walk reads (SEQUENCE, INTEGER, BIT STRING, NULL, OBJECT
/// IDENTIFIER, `[0]`..`[3]` constructed: single-octet tags `der` always accepts) and a minimal length in the short form or in one to three octets (so below
/// 2^24). `None` for anything else, which [`Reader::read_with_der`] then decides.
///
/// Why this exists: `der`'s generic header decoding costs ~230 instructions per TLV, which for
/// an 868-byte certificate made the binding 1.6x a raw SHA-256 (goal 1.10x). Every header this
/// accepts, `der` accepts with the same lengths (`fast_path_agrees_with_der` checks all of them).
#[inline(always)]
fn canonical_header(input: &[u8]) -> Option<(usize, usize)> {
    let (&tag, rest) = input.split_first()?;
    if !matches!(
        tag,
        tag::SEQUENCE
            | tag::INTEGER
            | tag::BIT_STRING
            | tag::NULL
            | tag::OID
            | tag::CONTEXT_0
            | tag::CONTEXT_1
            | tag::CONTEXT_2
            | tag::CONTEXT_3
    ) {
        return None;
    }
    match *rest {
        [n, ..] if n < 0x80 => Some((2, usize::from(n))),
        [0x81, n, ..] if n >= 0x80 => Some((3, usize::from(n))),
        [0x82, a, b, ..] if a != 0 => Some((4, usize::from(a) << 8 | usize::from(b))),
        [0x83, a, b, c, ..] if a != 0 => Some((
            5,
            usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c),
        )),
        _ => None,
    }
}

/// One whole TLV at the start of `input` whose header [`canonical_header`] vouches for:
/// `(raw, value, rest)`, where `raw` is the TLV and `rest` what follows it. `None` for any
/// other header, or a value past the end of `input`; [`Reader`] then decides what is wrong.
/// For callers that need only the verdict "certainly valid", not the error (`cbt`'s fast walk).
#[inline(always)]
pub(crate) fn split_canonical(input: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (header_len, len) = canonical_header(input)?;
    // No overflow: the header is at most 5 bytes and `len` below 2^24.
    let total = header_len + len;
    if input.len() < total {
        return None;
    }
    let (raw, rest) = input.split_at(total);
    Some((raw, &raw[header_len..], rest))
}

/// Why `der` refused a header, from the bytes themselves: `der` reports a non-minimal length and
/// a length in five or more octets alike, and refuses tags DER has no use for.
fn header_error(
    input: &[u8],
    offset: usize,
    what: &'static str,
    kind: ::der::ErrorKind,
) -> DerError {
    let truncated = |needed: usize| DerError::Truncated {
        what,
        offset,
        needed,
        available: input.len(),
    };
    if let ::der::ErrorKind::TagUnknown { .. } | ::der::ErrorKind::TagNumberInvalid = kind {
        return DerError::InvalidValue {
            what,
            detail: "tag unknown to DER (a BER-only constructed string or a reserved number)",
        };
    }
    let Some(&first) = input.get(1) else {
        return truncated(2);
    };
    if first == 0x80 {
        return DerError::IndefiniteLength { what, offset };
    }
    if first < 0x80 {
        // A short-form length is always valid: `der` refused something else.
        return DerError::InvalidValue {
            what,
            detail: "malformed TLV header",
        };
    }
    let count = usize::from(first & 0x7f);
    let Some(octets) = input.get(2..2 + count) else {
        return truncated(2 + count);
    };
    let declared = octets.iter().fold(0u64, |n, &b| {
        n.saturating_mul(256).saturating_add(u64::from(b))
    });
    if octets.first() == Some(&0) || declared < 0x80 {
        return DerError::NonMinimalLength { what, offset };
    }
    DerError::LengthOverflow {
        what,
        offset,
        declared,
    }
}

/// The OID content octets of `tlv`, checked to be a well-formed OID (X.690 §8.19).
pub fn oid<'a>(tlv: &Tlv<'a>, what: &'static str) -> Result<&'a [u8], DerError> {
    const_oid::ObjectIdentifierRef::from_bytes(tlv.value)
        .map(|o| o.as_bytes())
        .map_err(|_| DerError::InvalidValue {
            what,
            detail: "malformed OBJECT IDENTIFIER",
        })
}

/// Checks that `tlv` is a DER BIT STRING: an unused-bits count of 0 to 7, zero when empty
/// (X.690 §8.6.2, §11.2).
pub fn bit_string(tlv: &Tlv<'_>, what: &'static str) -> Result<(), DerError> {
    let (&unused, bits) = tlv.value.split_first().ok_or(DerError::InvalidValue {
        what,
        detail: "BIT STRING without its unused-bits octet",
    })?;
    ::der::asn1::BitStringRef::new(unused, bits)
        .map(|_| ())
        .map_err(|_| DerError::InvalidValue {
            what,
            detail: "malformed BIT STRING",
        })
}

/// Checks that `tlv` is a DER NULL: no contents (X.690 §8.8.2).
pub fn null(tlv: &Tlv<'_>, what: &'static str) -> Result<(), DerError> {
    if tlv.value.is_empty() {
        Ok(())
    } else {
        Err(DerError::InvalidValue {
            what,
            detail: "NULL with contents",
        })
    }
}

/// DER tags used by the certificate and algorithm-identifier readers.
pub mod tag {
    /// SEQUENCE, constructed (X.680 §25).
    pub const SEQUENCE: u8 = 0x30;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// `[0]` EXPLICIT, constructed.
    pub const CONTEXT_0: u8 = 0xa0;
    /// `[1]` EXPLICIT, constructed.
    pub const CONTEXT_1: u8 = 0xa1;
    /// `[2]` EXPLICIT, constructed.
    pub const CONTEXT_2: u8 = 0xa2;
    /// `[3]` EXPLICIT, constructed.
    pub const CONTEXT_3: u8 = 0xa3;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<(u8, Vec<u8>), DerError> {
        let mut r = Reader::new(bytes);
        let tlv = r.read("test")?;
        r.finish("test")?;
        Ok((tlv.tag, tlv.value.to_vec()))
    }

    #[test]
    fn short_and_long_lengths() {
        assert_eq!(one(&[0x04, 0x01, 0xaa]), Ok((0x04, vec![0xaa])));
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert_eq!(one(&long).map(|t| t.1.len()), Ok(0x80));
    }

    #[test]
    fn rejects_each_ber_only_form() {
        assert!(matches!(
            one(&[0x30, 0x80, 0, 0]),
            Err(DerError::IndefiniteLength { .. })
        ));
        // 0x81 0x05: a short length written in long form.
        assert!(matches!(
            one(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]),
            Err(DerError::NonMinimalLength { .. })
        ));
        // Leading zero byte in the long form.
        assert!(matches!(
            one(&[0x04, 0x82, 0x00, 0x80]),
            Err(DerError::NonMinimalLength { .. })
        ));
        // Five length octets with a leading zero: non-minimal, not an overflow.
        assert!(matches!(
            one(&[0x04, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0xaa]),
            Err(DerError::NonMinimalLength { .. })
        ));
        // A constructed OCTET STRING is BER only (X.690 §10.2).
        assert!(matches!(
            one(&[0x24, 0x00]),
            Err(DerError::InvalidValue { .. })
        ));
    }

    #[test]
    fn rejects_lengths_past_the_input() {
        assert_eq!(
            one(&[0x04, 0x03, 1]),
            Err(DerError::Truncated {
                what: "test",
                offset: 0,
                needed: 5,
                available: 3
            })
        );
        assert!(matches!(
            one(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(DerError::LengthOverflow {
                declared: 0xffff_ffff,
                ..
            })
        ));
        // 2^24 exactly: one past what TLS can carry.
        assert!(matches!(
            one(&[0x04, 0x84, 0x01, 0x00, 0x00, 0x00]),
            Err(DerError::LengthOverflow {
                declared: 0x0100_0000,
                ..
            })
        ));
        // Nine length bytes: saturates and overflows, no arithmetic panic.
        assert!(matches!(
            one(&[0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            Err(DerError::LengthOverflow { .. })
        ));
        assert!(matches!(one(&[0x04]), Err(DerError::Truncated { .. })));
        assert!(matches!(
            one(&[0x04, 0x82, 0x01]),
            Err(DerError::Truncated { needed: 4, .. })
        ));
    }

    #[test]
    fn rejects_trailing_bytes_and_high_tags() {
        assert_eq!(
            one(&[0x05, 0x00, 0x00]),
            Err(DerError::TrailingData {
                what: "test",
                count: 1
            })
        );
        assert!(matches!(
            one(&[0x1f, 0x81, 0x00]),
            Err(DerError::InvalidValue { .. })
        ));
        assert!(matches!(
            one(&[0xbf, 0x81, 0x00, 0x00]),
            Err(DerError::InvalidValue { .. })
        ));
    }

    #[test]
    fn values_are_checked_where_der_defines_them() {
        let tlv = |b: &'static [u8]| Reader::new(b).read("v").unwrap();
        assert!(oid(&tlv(&[0x06, 0x03, 0x2b, 0x65, 0x70]), "oid").is_ok());
        assert!(oid(&tlv(&[0x06, 0x00]), "oid").is_err());
        // An arc with a leading 0x80 octet is not minimal.
        assert!(oid(&tlv(&[0x06, 0x02, 0x80, 0x01]), "oid").is_err());
        assert!(bit_string(&tlv(&[0x03, 0x01, 0x00]), "bits").is_ok());
        assert!(bit_string(&tlv(&[0x03, 0x00]), "bits").is_err());
        assert!(bit_string(&tlv(&[0x03, 0x02, 0x08, 0x00]), "bits").is_err());
        assert!(null(&tlv(&[0x05, 0x00]), "null").is_ok());
        assert!(null(&tlv(&[0x05, 0x01, 0x00]), "null").is_err());
    }

    #[test]
    fn fast_path_agrees_with_der() {
        // Every tag octet, every first length octet, and for the long forms the interesting
        // values of the next three: the fast path and `der` give the same TLV, the same rest and
        // the same error, with the value complete, one byte short, and followed by a byte.
        let mut buf = vec![0u8; (1 << 24) + 16];
        let octets = [0x00, 0x01, 0x7f, 0x80, 0xff];
        let mut headers = Vec::new();
        for tag in 0..=255u8 {
            for first in 0..=255u8 {
                if !(0x81..=0x84).contains(&first) {
                    headers.push(vec![tag, first]);
                    continue;
                }
                for &a in &octets {
                    for &b in &octets {
                        for &c in &octets {
                            headers.push(vec![tag, first, a, b, c]);
                        }
                    }
                }
            }
        }
        let mut fast_hits = 0;
        for header in headers {
            buf[..header.len()].copy_from_slice(&header);
            let needed = match Reader::new(&buf[..header.len() + 8]).read_with_der("t") {
                Ok(tlv) => tlv.raw.len(),
                Err(DerError::Truncated { needed, .. }) => needed,
                Err(_) => header.len(),
            };
            if canonical_header(&buf).is_some() {
                fast_hits += 1;
            }
            for len in [needed.saturating_sub(1), needed, needed + 1] {
                let input = &buf[..len.clamp(1, buf.len())];
                let mut fast = Reader::nested(input, 7);
                let mut slow = Reader::nested(input, 7);
                let a = fast
                    .read("t")
                    .map(|t| (t.tag, t.value.len(), t.raw.len(), t.offset));
                let b = slow
                    .read_with_der("t")
                    .map(|t| (t.tag, t.value.len(), t.raw.len(), t.offset));
                assert_eq!(a, b, "header {header:02x?}, input of {len} bytes");
                assert_eq!(
                    (fast.input.len(), fast.offset),
                    (slow.input.len(), slow.offset)
                );
            }
            buf[..header.len()].fill(0);
        }
        assert!(
            fast_hits > 1000,
            "the fast path was exercised ({fast_hits})"
        );
    }

    #[test]
    fn offsets_are_absolute_inside_nested_readers() {
        // SEQUENCE { NULL, SET{} } : the SET at offset 4 is the wrong tag for an OID.
        let bytes = [0x30, 0x04, 0x05, 0x00, 0x31, 0x00];
        let mut outer = Reader::new(&bytes);
        let mut inner = outer.enter(tag::SEQUENCE, "seq").unwrap();
        let null = inner.take(tag::NULL, "null").unwrap();
        assert_eq!(null.raw, &[0x05, 0x00]);
        assert_eq!(
            inner.take(tag::OID, "oid").unwrap_err(),
            DerError::WrongTag {
                what: "oid",
                offset: 4,
                expected: tag::OID,
                found: 0x31
            }
        );
    }
}
