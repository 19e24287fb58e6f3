//! A strict DER reader for the handful of TLVs a channel binding needs (X.690 §8.1, §10.1).
//!
//! We hand-write this (about a hundred lines) instead of decoding the certificate with
//! `x509-cert`: the channel binding needs three TLVs of the outer `Certificate` SEQUENCE and the
//! `signatureAlgorithm` inside it, nothing of the TBSCertificate, and every way the input can be
//! malformed must come out as its own typed error (see [`DerError`]). No allocation, no recursion.

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

/// One TLV: its tag, its contents, and the offset of its first byte in the original input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// A cursor over DER bytes that remembers the absolute offset for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, offset: 0 }
    }

    fn nested(input: &'a [u8], offset: usize) -> Self {
        Self { input, offset }
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.input
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Reads one TLV whose tag must be `expected`.
    pub fn take(&mut self, expected: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let start = self.offset;
        let tlv = self.read(what)?;
        if tlv.tag != expected {
            return Err(DerError::WrongTag {
                what,
                offset: start,
                expected,
                found: tlv.tag,
            });
        }
        Ok(tlv)
    }

    /// Reads a constructed TLV with tag `expected` and returns a reader over its contents.
    pub fn enter(&mut self, expected: u8, what: &'static str) -> Result<Reader<'a>, DerError> {
        let tlv = self.take(expected, what)?;
        // `self.offset` now points just past the value, so the contents start `len` bytes back.
        Ok(Reader::nested(tlv.value, self.offset - tlv.value.len()))
    }

    /// Reads an OPTIONAL element: `Some` when the next tag is `tag`.
    pub fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>, DerError> {
        match self.input.first() {
            Some(&t) if t == tag => self.read(what).map(Some),
            _ => Ok(None),
        }
    }

    /// Fails unless every byte has been consumed.
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

    /// Reads one TLV of any single-byte tag, enforcing the DER length rules.
    pub fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let offset = self.offset;
        let input = self.input;
        let truncated = |needed: usize| DerError::Truncated {
            what,
            offset,
            needed,
            available: input.len(),
        };
        let (&tag, rest) = input.split_first().ok_or_else(|| truncated(2))?;
        if tag & 0x1f == 0x1f {
            // High tag numbers never occur in the structures we read.
            return Err(DerError::InvalidValue {
                what,
                detail: "multi-byte tag number",
            });
        }
        let (&first, rest) = rest.split_first().ok_or_else(|| truncated(2))?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else if first == 0x80 {
            return Err(DerError::IndefiniteLength { what, offset });
        } else {
            let count = usize::from(first & 0x7f);
            if rest.len() < count {
                return Err(truncated(2 + count));
            }
            let (bytes, rest) = rest.split_at(count);
            if bytes[0] == 0 {
                return Err(DerError::NonMinimalLength { what, offset });
            }
            let mut declared: u64 = 0;
            for &b in bytes {
                declared = declared.saturating_mul(256).saturating_add(u64::from(b));
            }
            if declared < 0x80 {
                return Err(DerError::NonMinimalLength { what, offset });
            }
            if declared > MAX_DER_LEN as u64 {
                return Err(DerError::LengthOverflow {
                    what,
                    offset,
                    declared,
                });
            }
            // Fits: MAX_DER_LEN is below 2^24.
            (declared as usize, rest)
        };
        let header_len = input.len() - rest.len();
        if rest.len() < len {
            return Err(truncated(header_len + len));
        }
        let (value, rest) = rest.split_at(len);
        self.input = rest;
        self.offset = offset + header_len + len;
        Ok(Tlv { tag, value })
    }
}

/// DER tags used by the certificate and algorithm-identifier readers.
pub(crate) mod tag {
    pub const SEQUENCE: u8 = 0x30;
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const NULL: u8 = 0x05;
    pub const BIT_STRING: u8 = 0x03;
    pub const CONTEXT_0: u8 = 0xa0;
    pub const CONTEXT_1: u8 = 0xa1;
    pub const CONTEXT_2: u8 = 0xa2;
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
        // Nine length bytes: saturates and overflows, no arithmetic panic.
        assert!(matches!(
            one(&[0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            Err(DerError::LengthOverflow { .. })
        ));
        assert!(matches!(one(&[0x04]), Err(DerError::Truncated { .. })));
        assert!(matches!(
            one(&[0x04, 0x82, 0x01]),
            Err(DerError::Truncated { .. })
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
    }

    #[test]
    fn offsets_are_absolute_inside_nested_readers() {
        // SEQUENCE { NULL, SET{} } : the SET at offset 4 is the wrong tag for an OID.
        let bytes = [0x30, 0x04, 0x05, 0x00, 0x31, 0x00];
        let mut outer = Reader::new(&bytes);
        let mut inner = outer.enter(tag::SEQUENCE, "seq").unwrap();
        inner.take(tag::NULL, "null").unwrap();
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
