//! `PACTYPE` (MS-PAC §2.3) and its `PAC_INFO_BUFFER` list (§2.4).

use super::{LOGON_INFO_TYPE, LogonInfo, MAX_PAC_LEN, PacError, parse_logon_info};

/// The fixed part: `cBuffers` and `Version`.
const HEADER_LEN: usize = 8;
/// One `PAC_INFO_BUFFER`: `ulType`, `cbBufferSize`, `Offset` (64-bit).
const INFO_BUFFER_LEN: usize = 16;

fn u32_at(bytes: &[u8], offset: usize, what: &'static str) -> Result<u32, PacError> {
    bytes
        .get(offset..offset + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(PacError::Truncated { what, offset })
}

/// Reads a whole `PACTYPE` and the logon information in it. Other buffers (signatures, client
/// name, UPN) are only checked to lie inside the PAC.
pub fn parse_pac(pac: &[u8]) -> Result<LogonInfo, PacError> {
    if pac.len() > MAX_PAC_LEN {
        return Err(PacError::TooLong { len: pac.len() });
    }
    let count = u32_at(pac, 0, "cBuffers")?;
    let version = u32_at(pac, 4, "Version")?;
    if version != 0 {
        return Err(PacError::Version { version });
    }
    if count == 0 {
        return Err(PacError::NoBuffers);
    }
    let list_end = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(INFO_BUFFER_LEN))
        .and_then(|n| n.checked_add(HEADER_LEN))
        .filter(|end| *end <= pac.len())
        .ok_or(PacError::Truncated {
            what: "PAC_INFO_BUFFER list",
            offset: HEADER_LEN,
        })?;
    let mut logon_info = None;
    for (index, entry) in pac[HEADER_LEN..list_end]
        .chunks_exact(INFO_BUFFER_LEN)
        .enumerate()
    {
        let ty = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let size = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let offset = u64::from_le_bytes([
            entry[8], entry[9], entry[10], entry[11], entry[12], entry[13], entry[14], entry[15],
        ]);
        if offset % 8 != 0 {
            return Err(PacError::BadBuffer {
                index,
                what: "offset not a multiple of 8",
            });
        }
        let range = usize::try_from(offset)
            .ok()
            .filter(|start| *start >= list_end)
            .ok_or(PacError::BadBuffer {
                index,
                what: "offset inside the buffer list",
            })?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| range.checked_add(size))
            .filter(|end| *end <= pac.len())
            .ok_or(PacError::BadBuffer {
                index,
                what: "past the end of the PAC",
            })?;
        if ty == LOGON_INFO_TYPE {
            if logon_info.is_some() {
                return Err(PacError::DuplicateLogonInfo);
            }
            logon_info = Some(&pac[range..end]);
        }
    }
    parse_logon_info(logon_info.ok_or(PacError::NoLogonInfo)?)
}
