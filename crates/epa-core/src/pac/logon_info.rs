//! `KERB_VALIDATION_INFO` (MS-PAC §2.5) in its MS-RPCE §2.2.6 type serialisation.

use super::ndr::Ndr;
use super::{LOGON_EXTRA_SIDS, LOGON_RESOURCE_GROUPS, LogonInfo, MAX_PAC_LEN, PacError};
use crate::sid::{MAX_SUB_AUTHORITIES, Sid};
use std::collections::BTreeSet;

/// The common header (version, endianness, length, filler) and the private header (object
/// length, filler).
const SERIALIZATION_HEADER_LEN: usize = 16;
/// `SE_GROUP_ENABLED`.
const SE_GROUP_ENABLED: u32 = 0x4;
/// `SE_GROUP_USE_FOR_DENY_ONLY`.
const SE_GROUP_USE_FOR_DENY_ONLY: u32 = 0x10;
/// One `GROUP_MEMBERSHIP` or one `KERB_SID_AND_ATTRIBUTES` in the stream.
const ENTRY_LEN: usize = 8;

/// An `RPC_UNICODE_STRING`'s fixed part.
struct UnicodeString {
    what: &'static str,
    len: u16,
    max: u16,
    present: bool,
}

fn unicode_header(r: &mut Ndr<'_>, what: &'static str) -> Result<UnicodeString, PacError> {
    let len = r.u16(what)?;
    let max = r.u16(what)?;
    let present = r.pointer(what)?;
    if len % 2 != 0 || max % 2 != 0 || len > max || (!present && len != 0) {
        return Err(PacError::Inconsistent { what });
    }
    Ok(UnicodeString {
        what,
        len,
        max,
        present,
    })
}

/// The deferred conformant varying array of a string (C706 §14.3.3.4).
fn unicode_body(r: &mut Ndr<'_>, s: &UnicodeString) -> Result<String, PacError> {
    if !s.present {
        return Ok(String::new());
    }
    let max_count = r.u32(s.what)?;
    let offset = r.u32(s.what)?;
    let actual = r.u32(s.what)?;
    if max_count != u32::from(s.max / 2) || offset != 0 || actual != u32::from(s.len / 2) {
        return Err(PacError::Inconsistent { what: s.what });
    }
    let bytes = r.take(usize::from(s.len), s.what)?;
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| PacError::InvalidUtf16 { what: s.what })
}

/// A deferred conformant array of `GROUP_MEMBERSHIP` (`RelativeId`, `Attributes`): its bytes.
fn group_array<'a>(
    r: &mut Ndr<'a>,
    count: u32,
    present: bool,
    what: &'static str,
) -> Result<&'a [u8], PacError> {
    if !present {
        return if count == 0 {
            Ok(&[])
        } else {
            Err(PacError::NullPointer { what })
        };
    }
    let conformance = r.count(ENTRY_LEN, what)?;
    if u32::try_from(conformance).ok() != Some(count) {
        return Err(PacError::Inconsistent { what });
    }
    r.take(conformance * ENTRY_LEN, what)
}

/// A deferred `RPC_SID`: its conformance (the sub-authority count) hoisted before the body.
fn rpc_sid(r: &mut Ndr<'_>, what: &'static str) -> Result<Sid, PacError> {
    let conformance = r.u32(what)?;
    let count = usize::try_from(conformance)
        .ok()
        .filter(|c| *c <= MAX_SUB_AUTHORITIES)
        .ok_or(PacError::Inconsistent { what })?;
    let body = r.take(8 + 4 * count, what)?;
    if usize::from(body[1]) != count {
        return Err(PacError::Inconsistent { what });
    }
    Sid::from_bytes(body).map_err(|source| PacError::Sid { what, source })
}

fn le32(entry: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([entry[at], entry[at + 1], entry[at + 2], entry[at + 3]])
}

fn enabled(attributes: u32) -> bool {
    attributes & SE_GROUP_ENABLED != 0 && attributes & SE_GROUP_USE_FOR_DENY_ONLY == 0
}

/// Collects group SIDs once each, in the order first seen.
#[derive(Default)]
struct Groups {
    seen: BTreeSet<Sid>,
    list: Vec<Sid>,
}

impl Groups {
    fn add(&mut self, sid: Sid) {
        if self.seen.insert(sid.clone()) {
            self.list.push(sid);
        }
    }

    /// `domain` + each enabled `GROUP_MEMBERSHIP` RID.
    fn add_rids(
        &mut self,
        domain: &Sid,
        entries: &[u8],
        what: &'static str,
    ) -> Result<(), PacError> {
        for entry in entries.chunks_exact(ENTRY_LEN) {
            if enabled(le32(entry, 4)) {
                let sid = domain
                    .with_rid(le32(entry, 0))
                    .map_err(|source| PacError::Sid { what, source })?;
                self.add(sid);
            }
        }
        Ok(())
    }
}

/// Checks the MS-RPCE §2.2.6 type-serialisation header; returns the object's bytes.
fn object(buffer: &[u8]) -> Result<&[u8], PacError> {
    let Some((header, rest)) = buffer.split_first_chunk::<SERIALIZATION_HEADER_LEN>() else {
        return Err(PacError::Truncated {
            what: "type-serialisation header",
            offset: 0,
        });
    };
    if header[0] != 1 {
        return Err(PacError::SerializationHeader {
            what: "version not 1",
        });
    }
    if header[1] != 0x10 {
        return Err(PacError::SerializationHeader {
            what: "not little-endian",
        });
    }
    if u16::from_le_bytes([header[2], header[3]]) != 8 {
        return Err(PacError::SerializationHeader {
            what: "common header length not 8",
        });
    }
    let declared = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let declared = usize::try_from(declared).unwrap_or(usize::MAX);
    if declared > rest.len() || declared % 8 != 0 {
        return Err(PacError::ObjectLength {
            declared,
            available: rest.len(),
        });
    }
    if rest.len() - declared >= 8 {
        return Err(PacError::TrailingData {
            what: "the NDR object",
            count: rest.len() - declared,
        });
    }
    Ok(&rest[..declared])
}

/// Reads one logon-information buffer (`PAC_INFO_BUFFER` type 1, or MIT's
/// `urn:mspac:logon-info` attribute value).
pub fn parse_logon_info(buffer: &[u8]) -> Result<LogonInfo, PacError> {
    if buffer.len() > MAX_PAC_LEN {
        return Err(PacError::TooLong { len: buffer.len() });
    }
    let mut r = Ndr::new(object(buffer)?);
    if !r.pointer("KERB_VALIDATION_INFO")? {
        return Err(PacError::NullPointer {
            what: "KERB_VALIDATION_INFO",
        });
    }
    // LogonTime, LogoffTime, KickOffTime, PasswordLastSet, PasswordCanChange,
    // PasswordMustChange: six FILETIMEs (two DWORDs each).
    r.align(4, "FILETIME")?;
    r.take(6 * 8, "FILETIME")?;
    let effective_name = unicode_header(&mut r, "EffectiveName")?;
    let mut others = Vec::with_capacity(5);
    for what in [
        "FullName",
        "LogonScript",
        "ProfilePath",
        "HomeDirectory",
        "HomeDirectoryDrive",
    ] {
        others.push(unicode_header(&mut r, what)?);
    }
    r.u16("LogonCount")?;
    r.u16("BadPasswordCount")?;
    let user_id = r.u32("UserId")?;
    let primary_group_id = r.u32("PrimaryGroupId")?;
    let group_count = r.u32("GroupCount")?;
    let group_ids = r.pointer("GroupIds")?;
    let user_flags = r.u32("UserFlags")?;
    r.take(16, "UserSessionKey")?;
    let logon_server = unicode_header(&mut r, "LogonServer")?;
    let logon_domain = unicode_header(&mut r, "LogonDomainName")?;
    let logon_domain_id = r.pointer("LogonDomainId")?;
    r.take(8, "Reserved1")?;
    r.u32("UserAccountControl")?;
    r.u32("SubAuthStatus")?;
    r.take(16, "LastSuccessfulILogon, LastFailedILogon")?;
    r.u32("FailedILogonCount")?;
    r.u32("Reserved3")?;
    let sid_count = r.u32("SidCount")?;
    let extra_sids = r.pointer("ExtraSids")?;
    let resource_domain = r.pointer("ResourceGroupDomainSid")?;
    let resource_count = r.u32("ResourceGroupCount")?;
    let resource_ids = r.pointer("ResourceGroupIds")?;

    // The deferred referents, in the order of their pointers.
    let user = unicode_body(&mut r, &effective_name)?;
    for s in &others {
        unicode_body(&mut r, s)?;
    }
    let group_entries = group_array(&mut r, group_count, group_ids, "GroupIds")?;
    let logon_server = unicode_body(&mut r, &logon_server)?;
    let domain = unicode_body(&mut r, &logon_domain)?;
    if !logon_domain_id {
        return Err(PacError::NullPointer {
            what: "LogonDomainId",
        });
    }
    let domain_sid = rpc_sid(&mut r, "LogonDomainId")?;
    let extra = extra_sid_list(&mut r, sid_count, extra_sids)?;
    let resource_domain = if resource_domain {
        Some(rpc_sid(&mut r, "ResourceGroupDomainSid")?)
    } else {
        None
    };
    let resource_entries = group_array(&mut r, resource_count, resource_ids, "ResourceGroupIds")?;
    if r.remaining() >= 8 {
        return Err(PacError::TrailingData {
            what: "KERB_VALIDATION_INFO",
            count: r.remaining(),
        });
    }

    let sid = |rid: u32, what| {
        domain_sid
            .with_rid(rid)
            .map_err(|source| PacError::Sid { what, source })
    };
    let user_sid = sid(user_id, "UserId")?;
    let primary_group_sid = sid(primary_group_id, "PrimaryGroupId")?;
    let mut groups = Groups::default();
    groups.add(primary_group_sid.clone());
    groups.add_rids(&domain_sid, group_entries, "GroupIds")?;
    if user_flags & LOGON_EXTRA_SIDS != 0 {
        for (sid, attributes) in extra {
            if enabled(attributes) {
                groups.add(sid);
            }
        }
    }
    if user_flags & LOGON_RESOURCE_GROUPS != 0 && !resource_entries.is_empty() {
        let domain = resource_domain.ok_or(PacError::NullPointer {
            what: "ResourceGroupDomainSid",
        })?;
        groups.add_rids(&domain, resource_entries, "ResourceGroupIds")?;
    }
    Ok(LogonInfo {
        user,
        domain,
        logon_server,
        domain_sid,
        user_sid,
        primary_group_sid,
        groups: groups.list,
        user_flags,
    })
}

/// The deferred `ExtraSids` array (`KERB_SID_AND_ATTRIBUTES`: SID pointer, attributes), then
/// the SIDs its pointers refer to.
fn extra_sid_list(r: &mut Ndr<'_>, count: u32, present: bool) -> Result<Vec<(Sid, u32)>, PacError> {
    const WHAT: &str = "ExtraSids";
    let entries = group_array(r, count, present, WHAT)?;
    // Each entry's bytes are already read, so this allocation is bounded by the input.
    let mut out = Vec::with_capacity(entries.len() / ENTRY_LEN);
    for entry in entries.chunks_exact(ENTRY_LEN) {
        if le32(entry, 0) == 0 {
            return Err(PacError::NullPointer {
                what: "ExtraSids[].Sid",
            });
        }
        out.push((rpc_sid(r, "ExtraSids[].Sid")?, le32(entry, 4)));
    }
    Ok(out)
}
