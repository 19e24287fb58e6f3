//! A strict reader of the Microsoft Privilege Attribute Certificate (MS-PAC): the `PACTYPE`
//! buffer list (§2.3, §2.4) and the logon information (`KERB_VALIDATION_INFO`, §2.5), from which
//! the account's SID and its group SIDs come.
//!
//! Two entry points: [`parse_pac`] for a whole `PACTYPE` (the `AD-WIN2K-PAC` authorization
//! data) and [`parse_logon_info`] for one logon-information buffer, which is what MIT Kerberos
//! hands out as the `urn:mspac:logon-info` name attribute (`gss_get_name_attribute`).
//!
//! **Signatures are not verified here.** The PAC arrives inside a service ticket that the GSSAPI
//! acceptor decrypted with the service's own key, so its bytes are as the KDC issued them. The
//! server signature (§2.8.1) is keyed with that same service key and is the acceptor's job: MIT
//! krb5 verifies it when it decodes the ticket (`krb5_pac_verify`) and reports the outcome as the
//! `authenticated` flag of `gss_get_name_attribute`; a caller must use only buffers reported as
//! authenticated. The KDC signature (§2.8.2) is keyed with the `krbtgt` key, which no service
//! holds (Windows optionally asks a domain controller to check it, MS-APDS §3.2.5.3).
//!
//! Strictness: the PAC version is 0; every buffer lies after the buffer list, inside the input,
//! at an 8-byte-aligned offset; there is exactly one logon-information buffer. The buffer has
//! the MS-RPCE §2.2.6 type-serialisation header (version 1, little-endian, 8-byte common header)
//! and an object length that fits and is a multiple of 8; after the structure and its deferred
//! referents at most 7 bytes of alignment padding remain. Counts agree with their arrays'
//! conformance, string lengths with their `RPC_UNICODE_STRING` headers, names are valid UTF-16,
//! SIDs are valid (MS-DTYP §2.4.2). Every count is checked against the bytes that remain before
//! anything proportional to it is allocated. Header fillers and padding bytes are not checked.
//!
//! Which SIDs count as groups (`LogonInfo::groups`): the primary group, the `GroupIds` (domain
//! SID + RID), the `ExtraSids` when `UserFlags` has `LOGON_EXTRA_SIDS` (0x20) and the resource
//! groups (`ResourceGroupDomainSid` + `ResourceGroupIds`) when it has
//! `LOGON_RESOURCE_GROUPS` (0x200), each only when its attributes have `SE_GROUP_ENABLED`
//! (0x4) and not `SE_GROUP_USE_FOR_DENY_ONLY` (0x10), as a Windows access check would use them.
//! The KDC has already expanded nested membership. A populated array whose flag is clear is read
//! (its bytes must be well-formed) but its SIDs are ignored.

mod logon_info;
mod ndr;
mod pactype;

use crate::sid::{Sid, SidError};
use thiserror::Error;

pub use logon_info::parse_logon_info;
pub use pactype::parse_pac;

/// The largest PAC or logon-information buffer read (a user in thousands of groups needs tens of
/// KiB; the HTTP header limit is smaller still).
pub const MAX_PAC_LEN: usize = 1 << 20;

/// The `PAC_INFO_BUFFER` type of the logon information (MS-PAC §2.4).
pub const LOGON_INFO_TYPE: u32 = 1;

/// Why bytes are not a PAC or a logon-information buffer. Never quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PacError {
    /// Larger than [`MAX_PAC_LEN`].
    #[error("PAC of {len} bytes is over the {MAX_PAC_LEN}-byte limit")]
    TooLong {
        /// The input's length.
        len: usize,
    },
    /// A field or array runs past the end of its buffer (or a count cannot fit in it).
    #[error("truncated PAC: {what} at offset {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where, from the start of the buffer being read.
        offset: usize,
    },
    /// A `PACTYPE` version other than 0.
    #[error("PAC version {version} (only 0 exists)")]
    Version {
        /// The version found.
        version: u32,
    },
    /// A `PACTYPE` with no buffer.
    #[error("PAC with no buffer")]
    NoBuffers,
    /// A `PAC_INFO_BUFFER` outside the PAC, inside its buffer list, or not 8-byte aligned.
    #[error("PAC buffer {index} ({what})")]
    BadBuffer {
        /// Its index in the buffer list.
        index: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// No logon-information buffer (type 1).
    #[error("PAC without logon information")]
    NoLogonInfo,
    /// More than one logon-information buffer.
    #[error("PAC with more than one logon-information buffer")]
    DuplicateLogonInfo,
    /// The MS-RPCE type-serialisation header is not version 1, little-endian, 8 bytes.
    #[error("unsupported NDR type-serialisation header: {what}")]
    SerializationHeader {
        /// What is wrong.
        what: &'static str,
    },
    /// The header's object length does not fit the buffer or is not a multiple of 8.
    #[error("NDR object length {declared} in a buffer with {available} bytes after its header")]
    ObjectLength {
        /// The declared length.
        declared: usize,
        /// The bytes available.
        available: usize,
    },
    /// Bytes left after the object (or after the structure inside the object, beyond padding).
    #[error("{count} unexplained bytes after {what}")]
    TrailingData {
        /// What they follow.
        what: &'static str,
        /// How many.
        count: usize,
    },
    /// A pointer that must not be null is.
    #[error("null pointer for {what}")]
    NullPointer {
        /// The field.
        what: &'static str,
    },
    /// Two fields that must agree do not (a count and its array, a string's lengths).
    #[error("inconsistent {what}")]
    Inconsistent {
        /// The field.
        what: &'static str,
    },
    /// A name that is not valid UTF-16 (an unpaired surrogate) or has an odd byte length.
    #[error("{what} is not valid UTF-16")]
    InvalidUtf16 {
        /// The field.
        what: &'static str,
    },
    /// A SID that is not valid.
    #[error("{what}: {source}")]
    Sid {
        /// The field.
        what: &'static str,
        /// Why.
        source: SidError,
    },
}

/// What the logon information says about the account (MS-PAC §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogonInfo {
    /// The account name (`EffectiveName`, the sAMAccountName).
    pub user: String,
    /// The NetBIOS domain name (`LogonDomainName`).
    pub domain: String,
    /// The domain controller that issued it (`LogonServer`).
    pub logon_server: String,
    /// The domain's SID (`LogonDomainId`).
    pub domain_sid: Sid,
    /// The account's SID (`LogonDomainId` + `UserId`).
    pub user_sid: Sid,
    /// The primary group's SID (`LogonDomainId` + `PrimaryGroupId`).
    pub primary_group_sid: Sid,
    /// The enabled groups, each once, in the order first seen (see the module documentation).
    pub groups: Vec<Sid>,
    /// `UserFlags` as sent.
    pub user_flags: u32,
}

/// `UserFlags`: `ExtraSids` is populated (MS-PAC §2.5, D).
pub const LOGON_EXTRA_SIDS: u32 = 0x20;
/// `UserFlags`: the resource groups are populated (MS-PAC §2.5, H).
pub const LOGON_RESOURCE_GROUPS: u32 = 0x200;

#[cfg(test)]
mod tests;
