//! The GSS-API channel-bindings struct in its flattened wire form, and its MD5.
//!
//! RFC 2744 §3.11 defines `gss_channel_bindings_struct`; RFC 4121 §4.1.1.2 flattens it for the
//! Kerberos `Bnd` checksum field, and MS-NLMP §2.2.2.1 (`MsvAvChannelBindings`) uses the same
//! flattening for NTLM: every integer a little-endian `u32`, every length present.
//!
//! ```text
//! initiator_addrtype (4) || len (4) || initiator_address
//! acceptor_addrtype  (4) || len (4) || acceptor_address
//!                           len (4) || application_data
//! ```
//!
//! The MD5 of that is what a client sends. Sixteen zero bytes instead mean "no binding" (MS-NLMP
//! `MsvAvChannelBindings`, RFC 4121 `GSS_C_NO_CHANNEL_BINDINGS`); it is *not* the MD5 of an empty
//! struct (`441018525208457705bf09a8ee3c1093`).

use crate::cbt::ChannelBinding;
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;
use thiserror::Error;

/// A GSS address family (RFC 2744 §3.11, `GSS_C_AF_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressType(pub u32);

impl AddressType {
    /// `GSS_C_AF_UNSPEC`: what every TLS binding uses.
    pub const UNSPEC: Self = Self(0);
    /// `GSS_C_AF_LOCAL`.
    pub const LOCAL: Self = Self(1);
    /// `GSS_C_AF_INET`.
    pub const INET: Self = Self(2);
    /// `GSS_C_AF_INET6`.
    pub const INET6: Self = Self(24);
    /// `GSS_C_AF_NULLADDR`.
    pub const NULLADDR: Self = Self(255);
}

/// A Windows `SEC_CHANNEL_BINDINGS` blob that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecChannelBindingsError {
    /// Shorter than the 32-byte header.
    #[error("SEC_CHANNEL_BINDINGS blob is {len} bytes, shorter than its 32-byte header")]
    TooShort {
        /// The blob's length.
        len: usize,
    },
    /// A field's offset and length point outside the blob (or into the header).
    #[error(
        "SEC_CHANNEL_BINDINGS {field} (offset {offset}, length {len}) lies outside the {total}-byte blob"
    )]
    OutOfBounds {
        /// The field.
        field: &'static str,
        /// Its offset.
        offset: u32,
        /// Its length.
        len: u32,
        /// The blob's length.
        total: usize,
    },
    /// A field too long for a `u32` (encoding only).
    #[error("{field} is too long for SEC_CHANNEL_BINDINGS")]
    TooLong {
        /// The field.
        field: &'static str,
    },
}

/// A flattened struct that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GssBindingsError {
    /// The input ends inside a field.
    #[error(
        "truncated channel-bindings struct: {field} needs {needed} bytes at offset {offset}, {available} remain"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its offset.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Bytes after the application data.
    #[error("{count} trailing bytes after the channel-bindings struct")]
    TrailingData {
        /// How many.
        count: usize,
    },
    /// A field longer than a `u32` length can describe (encoding only).
    #[error("{field} is {len} bytes, more than a u32 length can describe")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

/// `gss_channel_bindings_struct` (RFC 2744 §3.11), owned.
#[derive(Clone, PartialEq, Eq)]
pub struct GssChannelBindings {
    /// `initiator_addrtype`.
    pub initiator_addrtype: AddressType,
    /// `initiator_address`.
    pub initiator_address: Vec<u8>,
    /// `acceptor_addrtype`.
    pub acceptor_addrtype: AddressType,
    /// `acceptor_address`.
    pub acceptor_address: Vec<u8>,
    /// `application_data`: for TLS, `"tls-server-end-point:" || hash` and the like.
    pub application_data: Vec<u8>,
}

impl std::fmt::Debug for GssChannelBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GssChannelBindings")
            .field("initiator_addrtype", &self.initiator_addrtype.0)
            .field(
                "initiator_address",
                &crate::cbt::hex(&self.initiator_address),
            )
            .field("acceptor_addrtype", &self.acceptor_addrtype.0)
            .field("acceptor_address", &crate::cbt::hex(&self.acceptor_address))
            .field("application_data", &crate::cbt::hex(&self.application_data))
            .finish()
    }
}

impl From<&ChannelBinding> for GssChannelBindings {
    /// The struct every TLS binding uses: no addresses, the binding as application data.
    fn from(binding: &ChannelBinding) -> Self {
        Self::application_data_only(binding.application_data())
    }
}

impl GssChannelBindings {
    /// A struct with unspecified, empty addresses and the given application data.
    pub fn application_data_only(application_data: Vec<u8>) -> Self {
        Self {
            initiator_addrtype: AddressType::UNSPEC,
            initiator_address: Vec::new(),
            acceptor_addrtype: AddressType::UNSPEC,
            acceptor_address: Vec::new(),
            application_data,
        }
    }

    /// The flattened form (RFC 4121 §4.1.1.2).
    pub fn to_bytes(&self) -> Result<Vec<u8>, GssBindingsError> {
        let mut out = Vec::with_capacity(
            20 + self.initiator_address.len()
                + self.acceptor_address.len()
                + self.application_data.len(),
        );
        self.write_flat(|chunk| out.extend_from_slice(chunk))?;
        Ok(out)
    }

    /// MD5 of the flattened form: the NTLM `MsvAvChannelBindings` and Kerberos `Bnd` value.
    /// Hashes as it flattens; nothing is copied.
    pub fn md5(&self) -> Result<ChannelBindingsHash, GssBindingsError> {
        let mut md5 = Md5::new();
        self.write_flat(|chunk| md5.update(chunk))?;
        Ok(ChannelBindingsHash(md5.finalize().into()))
    }

    fn write_flat(&self, mut sink: impl FnMut(&[u8])) -> Result<(), GssBindingsError> {
        let len = |field: &'static str, v: &[u8]| {
            u32::try_from(v.len())
                .map(u32::to_le_bytes)
                .map_err(|_| GssBindingsError::TooLong {
                    field,
                    len: v.len(),
                })
        };
        let fields = [
            (
                "initiator_address",
                self.initiator_addrtype,
                &self.initiator_address,
            ),
            (
                "acceptor_address",
                self.acceptor_addrtype,
                &self.acceptor_address,
            ),
        ];
        for (name, addrtype, address) in fields {
            sink(&addrtype.0.to_le_bytes());
            sink(&len(name, address)?);
            sink(address);
        }
        sink(&len("application_data", &self.application_data)?);
        sink(&self.application_data);
        Ok(())
    }

    /// Decodes the flattened form, strictly: every length inside the input, nothing after it.
    pub fn from_bytes(input: &[u8]) -> Result<Self, GssBindingsError> {
        let mut cursor = Cursor { input, offset: 0 };
        let initiator_addrtype = AddressType(cursor.u32("initiator_addrtype")?);
        let initiator_address = cursor.buffer("initiator_address")?;
        let acceptor_addrtype = AddressType(cursor.u32("acceptor_addrtype")?);
        let acceptor_address = cursor.buffer("acceptor_address")?;
        let application_data = cursor.buffer("application_data")?;
        if !cursor.input.is_empty() {
            return Err(GssBindingsError::TrailingData {
                count: cursor.input.len(),
            });
        }
        Ok(Self {
            initiator_addrtype,
            initiator_address,
            acceptor_addrtype,
            acceptor_address,
            application_data,
        })
    }
}

/// Size of the Windows `SEC_CHANNEL_BINDINGS` header: eight little-endian `u32`s.
pub const SEC_CHANNEL_BINDINGS_HEADER: usize = 32;

impl GssChannelBindings {
    /// The Windows `SEC_CHANNEL_BINDINGS` layout (sspi.h; docs/windows-semantics.md §5.1) that SSPI's
    /// `SECBUFFER_CHANNEL_BINDINGS` and http.sys' `HTTP_REQUEST_CHANNEL_BIND_STATUS` carry: a
    /// 32-byte header of (type, length, offset) triples, then the data. Empty fields get offset
    /// 0, as Schannel writes them; the application data starts right after the header.
    pub fn to_sec_channel_bindings(&self) -> Result<Vec<u8>, SecChannelBindingsError> {
        let fields = [
            &self.initiator_address,
            &self.acceptor_address,
            &self.application_data,
        ];
        let names = ["initiator_address", "acceptor_address", "application_data"];
        let mut offsets = [0u32; 3];
        let mut at = SEC_CHANNEL_BINDINGS_HEADER;
        for i in [2, 0, 1] {
            // Application data first (offset 32 in every blob Windows makes), then addresses.
            if !fields[i].is_empty() || i == 2 {
                offsets[i] = u32::try_from(at)
                    .map_err(|_| SecChannelBindingsError::TooLong { field: names[i] })?;
                at += fields[i].len();
            }
        }
        let len = |i: usize| {
            u32::try_from(fields[i].len())
                .map_err(|_| SecChannelBindingsError::TooLong { field: names[i] })
        };
        let mut out = Vec::with_capacity(at);
        for v in [
            self.initiator_addrtype.0,
            len(0)?,
            offsets[0],
            self.acceptor_addrtype.0,
            len(1)?,
            offsets[1],
            len(2)?,
            offsets[2],
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.application_data);
        out.extend_from_slice(&self.initiator_address);
        out.extend_from_slice(&self.acceptor_address);
        Ok(out)
    }

    /// Decodes a Windows `SEC_CHANNEL_BINDINGS` blob: every (offset, length) must lie after the
    /// header and inside the blob; a zero length is an empty field whatever its offset.
    pub fn from_sec_channel_bindings(blob: &[u8]) -> Result<Self, SecChannelBindingsError> {
        if blob.len() < SEC_CHANNEL_BINDINGS_HEADER {
            return Err(SecChannelBindingsError::TooShort { len: blob.len() });
        }
        let word = |i: usize| {
            u32::from_le_bytes([
                blob[4 * i],
                blob[4 * i + 1],
                blob[4 * i + 2],
                blob[4 * i + 3],
            ])
        };
        let field = |field: &'static str,
                     len: u32,
                     offset: u32|
         -> Result<Vec<u8>, SecChannelBindingsError> {
            if len == 0 {
                return Ok(Vec::new());
            }
            let start = offset as usize;
            let end = start.checked_add(len as usize);
            match end {
                Some(end) if start >= SEC_CHANNEL_BINDINGS_HEADER && end <= blob.len() => {
                    Ok(blob[start..end].to_vec())
                }
                _ => Err(SecChannelBindingsError::OutOfBounds {
                    field,
                    offset,
                    len,
                    total: blob.len(),
                }),
            }
        };
        Ok(Self {
            initiator_addrtype: AddressType(word(0)),
            initiator_address: field("initiator_address", word(1), word(2))?,
            acceptor_addrtype: AddressType(word(3)),
            acceptor_address: field("acceptor_address", word(4), word(5))?,
            application_data: field("application_data", word(6), word(7))?,
        })
    }
}

struct Cursor<'a> {
    input: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], GssBindingsError> {
        if self.input.len() < n {
            return Err(GssBindingsError::Truncated {
                field,
                offset: self.offset,
                needed: n,
                available: self.input.len(),
            });
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        self.offset += n;
        Ok(head)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, GssBindingsError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn buffer(&mut self, field: &'static str) -> Result<Vec<u8>, GssBindingsError> {
        let len = self.u32(field)?;
        // A length that does not fit usize cannot fit the input either.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(self.take(field, len)?.to_vec())
    }
}

/// The 16-byte MD5 of a flattened channel-bindings struct, as NTLM (`MsvAvChannelBindings`) and
/// Kerberos (`Bnd`) carry it. Compared in constant time only.
#[derive(Clone, Copy)]
pub struct ChannelBindingsHash(pub [u8; 16]);

impl ChannelBindingsHash {
    /// Sixteen zero bytes: the "unbound" value a client sends when it has no channel binding
    /// (MS-NLMP `MsvAvChannelBindings`; RFC 4121 §4.1.1.2 for `GSS_C_NO_CHANNEL_BINDINGS`).
    pub const UNBOUND: Self = Self([0; 16]);

    /// Whether this is the all-zero "unbound" value (checked in constant time).
    pub fn is_unbound(&self) -> bool {
        bool::from(self.0.ct_eq(&Self::UNBOUND.0))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for ChannelBindingsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelBindingsHash({})", crate::cbt::hex(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_addresses() -> GssChannelBindings {
        GssChannelBindings {
            initiator_addrtype: AddressType(2),
            initiator_address: vec![10, 0, 0, 1],
            acceptor_addrtype: AddressType(2),
            acceptor_address: vec![10, 0, 0, 2, 9],
            application_data: b"tls-unique:abc".to_vec(),
        }
    }

    /// §5.1: application data at offset 32 (also when empty), then the addresses; both
    /// layouts read back to the same struct.
    #[test]
    fn sec_channel_bindings_round_trip_with_addresses() {
        let s = with_addresses();
        let blob = s.to_sec_channel_bindings().unwrap();
        let word = |i: usize| u32::from_le_bytes(blob[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!((word(6), word(7)), (14, 32), "application data first");
        assert_eq!((word(1), word(2)), (4, 46), "then the initiator address");
        assert_eq!((word(4), word(5)), (5, 50), "then the acceptor address");
        assert_eq!(blob.len(), 55);
        let back = GssChannelBindings::from_sec_channel_bindings(&blob).unwrap();
        assert_eq!(format!("{back:?}"), format!("{s:?}"));
        let flat = GssChannelBindings::from_bytes(&s.to_bytes().unwrap()).unwrap();
        assert_eq!(format!("{flat:?}"), format!("{s:?}"));
        let empty = GssChannelBindings::application_data_only(vec![]);
        let blob = empty.to_sec_channel_bindings().unwrap();
        assert_eq!(
            &blob[24..32],
            &[0, 0, 0, 0, 32, 0, 0, 0],
            "empty data still at 32"
        );
        assert_eq!(blob.len(), 32);
    }

    /// The flattened struct (§5.5) is read to the byte; a short one names where it stopped.
    #[test]
    fn flat_bindings_truncation_is_located() {
        let flat = with_addresses().to_bytes().unwrap();
        for cut in [0, 3, 4, 8, flat.len() - 1] {
            match GssChannelBindings::from_bytes(&flat[..cut]) {
                Err(GssBindingsError::Truncated {
                    offset,
                    needed,
                    available,
                    ..
                }) => {
                    assert_eq!(offset + available, cut, "cut {cut}");
                    assert!(needed > available, "cut {cut}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert!(GssChannelBindings::from_bytes(&[flat.as_slice(), &[0]].concat()).is_err());
    }

    #[test]
    fn debug_shows_every_field_in_hex() {
        let text = format!("{:?}", with_addresses());
        for part in [
            "initiator_addrtype: 2",
            "\"0a000001\"",
            "\"0a00000209\"",
            "\"746c732d",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let h = GssChannelBindings::application_data_only(vec![])
            .md5()
            .unwrap();
        assert_eq!(
            format!("{h:?}"),
            "ChannelBindingsHash(441018525208457705bf09a8ee3c1093)"
        );
    }

    /// The hash NTLM and Kerberos carry: equal only to itself, its bytes are the MD5.
    #[test]
    fn channel_bindings_hash_compares_and_exposes_its_bytes() {
        let a = GssChannelBindings::application_data_only(b"tls-unique:a".to_vec())
            .md5()
            .unwrap();
        let b = GssChannelBindings::application_data_only(b"tls-unique:b".to_vec())
            .md5()
            .unwrap();
        assert!(a.ct_eq(&ChannelBindingsHash(a.0)));
        assert!(!a.ct_eq(&b) && !b.ct_eq(&a));
        assert!(!a.ct_eq(&ChannelBindingsHash::UNBOUND));
        let mut one_bit = a.0;
        one_bit[15] ^= 1;
        assert!(!a.ct_eq(&ChannelBindingsHash(one_bit)));
        assert_eq!(a.as_bytes(), &a.0);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(ChannelBindingsHash::UNBOUND.as_bytes(), &[0u8; 16]);
        assert!(!a.is_unbound());
    }

    /// `SEC_CHANNEL_BINDINGS` bounds: a bare 32-byte header is a valid, empty struct; every
    /// field must lie after the header and inside the blob, to the byte.
    #[test]
    fn sec_channel_bindings_bounds() {
        let header = [0u8; SEC_CHANNEL_BINDINGS_HEADER];
        let empty = GssChannelBindings::from_sec_channel_bindings(&header).unwrap();
        assert!(empty.application_data.is_empty() && empty.initiator_address.is_empty());
        assert!(GssChannelBindings::from_sec_channel_bindings(&header[..31]).is_err());
        let blob = |len: u32, offset: u32, total: usize| {
            let mut b = vec![0u8; total];
            b[24..28].copy_from_slice(&len.to_le_bytes());
            b[28..32].copy_from_slice(&offset.to_le_bytes());
            b
        };
        let parsed = GssChannelBindings::from_sec_channel_bindings(&blob(4, 32, 36)).unwrap();
        assert_eq!(parsed.application_data.len(), 4);
        let at_end = GssChannelBindings::from_sec_channel_bindings(&blob(1, 35, 36)).unwrap();
        assert_eq!(at_end.application_data.len(), 1);
        for (len, offset, total) in [(5, 32, 36), (1, 36, 36), (4, 31, 36), (4, 0, 36)] {
            assert!(
                GssChannelBindings::from_sec_channel_bindings(&blob(len, offset, total)).is_err(),
                "len {len} offset {offset} in {total}"
            );
        }
    }

    #[test]
    fn reference_vectors_from_the_dotnet_spec() {
        // docs/windows-semantics.md §5.5: SHA-256 endpoint, H = 00..1f.
        let hash: Vec<u8> = (0u8..32).collect();
        let b = ChannelBinding::tls_server_end_point_from_hash(&hash);
        let s = GssChannelBindings::from(&b);
        let flat = s.to_bytes().unwrap();
        assert_eq!(flat.len(), 73);
        assert_eq!(&flat[16..20], &53u32.to_le_bytes());
        assert_eq!(
            crate::cbt::hex(&s.md5().unwrap().0),
            "8f1214c9c9cab8dc3bf866da9aba57a7"
        );
        let empty = GssChannelBindings::application_data_only(vec![]);
        assert_eq!(
            crate::cbt::hex(&empty.md5().unwrap().0),
            "441018525208457705bf09a8ee3c1093"
        );
        assert!(!empty.md5().unwrap().is_unbound());
        assert!(ChannelBindingsHash::UNBOUND.is_unbound());
    }

    #[test]
    fn windows_layout_matches_the_reference_blob() {
        // docs/windows-semantics.md §5.5: `00×24 35000000 20000000 || app` for the SHA-256 endpoint case.
        let hash: Vec<u8> = (0u8..32).collect();
        let s = GssChannelBindings::from(&ChannelBinding::tls_server_end_point_from_hash(&hash));
        let blob = s.to_sec_channel_bindings().unwrap();
        assert_eq!(&blob[..24], &[0u8; 24]);
        assert_eq!(&blob[24..32], &[0x35, 0, 0, 0, 0x20, 0, 0, 0]);
        assert_eq!(&blob[32..], s.application_data.as_slice());
        assert_eq!(
            GssChannelBindings::from_sec_channel_bindings(&blob).unwrap(),
            s
        );
    }

    #[test]
    fn windows_layout_with_addresses_round_trips_and_rejects_bad_offsets() {
        let s = GssChannelBindings {
            initiator_addrtype: AddressType::INET,
            initiator_address: vec![127, 0, 0, 1],
            acceptor_addrtype: AddressType::INET,
            acceptor_address: vec![10, 0, 0, 1],
            application_data: b"tls-unique:xyz".to_vec(),
        };
        let blob = s.to_sec_channel_bindings().unwrap();
        assert_eq!(
            GssChannelBindings::from_sec_channel_bindings(&blob).unwrap(),
            s
        );
        assert_eq!(
            GssChannelBindings::from_sec_channel_bindings(&blob[..31]),
            Err(SecChannelBindingsError::TooShort { len: 31 })
        );
        // Application data pointing into the header.
        let mut bad = blob.clone();
        bad[28..32].copy_from_slice(&4u32.to_le_bytes());
        assert!(matches!(
            GssChannelBindings::from_sec_channel_bindings(&bad),
            Err(SecChannelBindingsError::OutOfBounds {
                field: "application_data",
                ..
            })
        ));
        // Length past the end; offset + length overflowing.
        let mut bad = blob.clone();
        bad[24..28].copy_from_slice(&1000u32.to_le_bytes());
        assert!(GssChannelBindings::from_sec_channel_bindings(&bad).is_err());
        let mut bad = blob;
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(GssChannelBindings::from_sec_channel_bindings(&bad).is_err());
    }

    #[test]
    fn decode_round_trips_and_rejects_malformed() {
        let s = GssChannelBindings {
            initiator_addrtype: AddressType::INET,
            initiator_address: vec![127, 0, 0, 1],
            acceptor_addrtype: AddressType::INET6,
            acceptor_address: vec![0; 16],
            application_data: b"tls-unique:abc".to_vec(),
        };
        let flat = s.to_bytes().unwrap();
        assert_eq!(GssChannelBindings::from_bytes(&flat), Ok(s));
        assert!(matches!(
            GssChannelBindings::from_bytes(&flat[..flat.len() - 1]),
            Err(GssBindingsError::Truncated {
                field: "application_data",
                ..
            })
        ));
        let mut long = flat.clone();
        long.push(0);
        assert_eq!(
            GssChannelBindings::from_bytes(&long),
            Err(GssBindingsError::TrailingData { count: 1 })
        );
        assert!(matches!(
            GssChannelBindings::from_bytes(&[]),
            Err(GssBindingsError::Truncated {
                field: "initiator_addrtype",
                ..
            })
        ));
        // A length of u32::MAX must not allocate or panic.
        let mut huge = vec![0u8; 4];
        huge.extend([0xff; 4]);
        assert!(matches!(
            GssChannelBindings::from_bytes(&huge),
            Err(GssBindingsError::Truncated {
                field: "initiator_address",
                ..
            })
        ));
    }
}
