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

    #[test]
    fn reference_vectors_from_the_dotnet_spec() {
        // dotnet-iis-epa.md §5.5: SHA-256 endpoint, H = 00..1f.
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
