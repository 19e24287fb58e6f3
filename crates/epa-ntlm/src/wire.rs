//! NTLM message encoding (MS-NLMP §2.2): NEGOTIATE and AUTHENTICATE parsing, CHALLENGE building,
//! AV pairs. Every length and offset is checked against the message; nothing here panics. Public
//! for the other readers of NTLMSSP (the GSSAPI backend, `epa diagnose`).

use crate::error::NtlmError;

/// `"NTLMSSP\0"`.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Negotiate flags used here (MS-NLMP §2.2.2.5).
pub mod flags {
    /// `NTLMSSP_NEGOTIATE_UNICODE`.
    pub const UNICODE: u32 = 0x0000_0001;
    /// `NTLMSSP_REQUEST_TARGET`.
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// `NTLMSSP_NEGOTIATE_SIGN`.
    pub const SIGN: u32 = 0x0000_0010;
    /// `NTLMSSP_NEGOTIATE_SEAL`.
    pub const SEAL: u32 = 0x0000_0020;
    /// `NTLMSSP_NEGOTIATE_NTLM`.
    pub const NTLM: u32 = 0x0000_0200;
    /// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN`.
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    /// `NTLMSSP_TARGET_TYPE_DOMAIN`.
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY`.
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// `NTLMSSP_NEGOTIATE_TARGET_INFO`.
    pub const TARGET_INFO: u32 = 0x0080_0000;
    /// `NTLMSSP_NEGOTIATE_VERSION`.
    pub const VERSION: u32 = 0x0200_0000;
    /// `NTLMSSP_NEGOTIATE_128`.
    pub const N128: u32 = 0x2000_0000;
    /// `NTLMSSP_NEGOTIATE_KEY_EXCH`.
    pub const KEY_EXCH: u32 = 0x4000_0000;
    /// `NTLMSSP_NEGOTIATE_56`.
    pub const N56: u32 = 0x8000_0000;
}

/// AV pair ids (MS-NLMP §2.2.2.1).
pub mod av {
    /// `MsvAvEOL`: ends the list.
    pub const EOL: u16 = 0x0000;
    /// `MsvAvNbComputerName`.
    pub const NB_COMPUTER_NAME: u16 = 0x0001;
    /// `MsvAvNbDomainName`.
    pub const NB_DOMAIN_NAME: u16 = 0x0002;
    /// `MsvAvDnsComputerName`.
    pub const DNS_COMPUTER_NAME: u16 = 0x0003;
    /// `MsvAvDnsDomainName`.
    pub const DNS_DOMAIN_NAME: u16 = 0x0004;
    /// `MsvAvFlags`.
    pub const FLAGS: u16 = 0x0006;
    /// `MsvAvTimestamp` (FILETIME).
    pub const TIMESTAMP: u16 = 0x0007;
    /// `MsvAvTargetName` (the SPN the client means).
    pub const TARGET_NAME: u16 = 0x0009;
    /// `MsvAvChannelBindings` (MD5 of the GSS channel bindings).
    pub const CHANNEL_BINDINGS: u16 = 0x000a;
}

/// `MsvAvFlags` bits.
pub mod av_flags {
    /// The AUTHENTICATE message carries a MIC.
    pub const MIC_PRESENT: u32 = 0x2;
    /// The client got the SPN from an untrusted source: the server must treat it as absent.
    pub const UNTRUSTED_SPN: u32 = 0x4;
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Checks the signature and message type; returns the type.
pub fn message_type(msg: &[u8]) -> Result<u32, NtlmError> {
    if msg.get(..8) != Some(SIGNATURE.as_slice()) {
        return Err(NtlmError::Malformed("missing NTLMSSP signature"));
    }
    u32_at(msg, 8).ok_or(NtlmError::Malformed("message shorter than its header"))
}

/// A `(len, maxlen, offset)` field at `at`, resolved to its payload.
fn field<'a>(msg: &'a [u8], at: usize, what: &'static str) -> Result<&'a [u8], NtlmError> {
    let len = u16_at(msg, at).ok_or(NtlmError::Malformed(what))? as usize;
    let offset = u32_at(msg, at + 4).ok_or(NtlmError::Malformed(what))? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(offset..offset.checked_add(len).ok_or(NtlmError::Malformed(what))?)
        .ok_or(NtlmError::Malformed(what))
}

/// The NEGOTIATE_MESSAGE (§2.2.1.1): only its flags matter to an acceptor.
pub fn parse_negotiate(msg: &[u8]) -> Result<u32, NtlmError> {
    if message_type(msg)? != 1 {
        return Err(NtlmError::UnexpectedMessage { expected: 1 });
    }
    u32_at(msg, 12).ok_or(NtlmError::Malformed("NEGOTIATE shorter than its flags"))
}

/// One AV pair list, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct AvPairs<'a>(pub &'a [u8]);

impl<'a> AvPairs<'a> {
    /// Iterates `(id, value)` up to `MsvAvEOL`; a list that runs past its buffer is malformed.
    pub fn iter(&self) -> impl Iterator<Item = Result<(u16, &'a [u8]), NtlmError>> + 'a {
        let mut rest = self.0;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let (Some(id), Some(len)) = (u16_at(rest, 0), u16_at(rest, 2)) else {
                done = true;
                return Some(Err(NtlmError::Malformed("AV pair list without MsvAvEOL")));
            };
            if id == av::EOL {
                done = true;
                return None;
            }
            let Some(value) = rest.get(4..4 + len as usize) else {
                done = true;
                return Some(Err(NtlmError::Malformed("AV pair longer than its list")));
            };
            rest = &rest[4 + len as usize..];
            Some(Ok((id, value)))
        })
    }

    /// The value of the first pair with `id`.
    pub fn get(&self, id: u16) -> Result<Option<&'a [u8]>, NtlmError> {
        for pair in self.iter() {
            let (i, v) = pair?;
            if i == id {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// Appends one AV pair.
pub fn push_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    // AV values here are names and timestamps, far below 64 KiB.
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// UTF-16LE bytes of `s`.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Decodes UTF-16LE, refusing odd lengths and unpaired surrogates.
pub fn from_utf16le(b: &[u8], what: &'static str) -> Result<String, NtlmError> {
    if !b.len().is_multiple_of(2) {
        return Err(NtlmError::Malformed(what));
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| NtlmError::Malformed(what))
}

/// The NetBIOS domain a CHALLENGE_MESSAGE (§2.2.1.2) announces in its target information
/// (`MsvAvNbDomainName`): the domain of an account the client named without one. Read from
/// this server's own CHALLENGE, never from a client's copy of it.
pub fn challenge_domain(msg: &[u8]) -> Result<Option<String>, NtlmError> {
    if message_type(msg)? != 2 {
        return Err(NtlmError::Malformed("not a CHALLENGE message"));
    }
    let info = field(msg, 40, "CHALLENGE target information")?;
    AvPairs(info)
        .get(av::NB_DOMAIN_NAME)?
        .map(|name| from_utf16le(name, "MsvAvNbDomainName"))
        .transpose()
}

/// Builds a CHALLENGE_MESSAGE (§2.2.1.2).
pub fn build_challenge(
    flags: u32,
    server_challenge: &[u8; 8],
    target_name: &str,
    target_info: &[u8],
) -> Vec<u8> {
    const HEADER: usize = 56;
    let name = utf16le(target_name);
    let mut out = Vec::with_capacity(HEADER + name.len() + target_info.len());
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    let field = |out: &mut Vec<u8>, len: usize, offset: usize| {
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&(offset as u32).to_le_bytes());
    };
    field(&mut out, name.len(), HEADER);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(server_challenge);
    out.extend_from_slice(&[0; 8]);
    field(&mut out, target_info.len(), HEADER + name.len());
    // Version: Windows 10.0 build 19041, NTLMSSP revision 15 (informational only).
    out.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
    out.extend_from_slice(&name);
    out.extend_from_slice(target_info);
    out
}

/// The parts of an AUTHENTICATE_MESSAGE (§2.2.1.3) an acceptor needs.
#[derive(Debug)]
pub struct Authenticate<'a> {
    /// `LmChallengeResponse` (empty when out of bounds).
    pub lm_response: &'a [u8],
    /// `NtChallengeResponse`.
    pub nt_response: &'a [u8],
    /// `DomainName`, as sent.
    pub domain: String,
    /// `UserName`, as sent.
    pub user: String,
    /// `Workstation` (empty when unreadable).
    pub workstation: String,
    /// `EncryptedRandomSessionKey`.
    pub encrypted_session_key: &'a [u8],
    /// The negotiate flags.
    pub flags: u32,
}

/// Parses an AUTHENTICATE_MESSAGE. Names are decoded as UTF-16 (Unicode is required).
pub fn parse_authenticate(msg: &[u8]) -> Result<Authenticate<'_>, NtlmError> {
    if message_type(msg)? != 3 {
        return Err(NtlmError::UnexpectedMessage { expected: 3 });
    }
    let flags =
        u32_at(msg, 60).ok_or(NtlmError::Malformed("AUTHENTICATE shorter than its flags"))?;
    if flags & flags::UNICODE == 0 {
        return Err(NtlmError::Malformed(
            "AUTHENTICATE without NTLMSSP_NEGOTIATE_UNICODE",
        ));
    }
    Ok(Authenticate {
        // LmChallengeResponse and Workstation are only passed on to a pass-through verifier;
        // reading them never refuses a message the acceptor took before they were read.
        lm_response: field(msg, 12, "").unwrap_or(&[]),
        nt_response: field(msg, 20, "NtChallengeResponse field out of bounds")?,
        domain: from_utf16le(
            field(msg, 28, "DomainName field out of bounds")?,
            "DomainName is not UTF-16",
        )?,
        user: from_utf16le(
            field(msg, 36, "UserName field out of bounds")?,
            "UserName is not UTF-16",
        )?,
        workstation: field(msg, 44, "")
            .and_then(|w| from_utf16le(w, ""))
            .unwrap_or_default(),
        encrypted_session_key: field(msg, 52, "EncryptedRandomSessionKey field out of bounds")?,
        flags,
    })
}

/// Offset of the MIC in an AUTHENTICATE message (after the 8-byte Version).
pub const MIC_OFFSET: usize = 72;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn av_pairs_iterate_and_refuse_overruns() {
        let mut list = Vec::new();
        push_av(&mut list, av::TARGET_NAME, &utf16le("HTTP/x"));
        push_av(&mut list, av::EOL, &[]);
        let pairs = AvPairs(&list);
        assert_eq!(
            pairs.get(av::TARGET_NAME).unwrap(),
            Some(utf16le("HTTP/x").as_slice())
        );
        assert_eq!(pairs.get(av::CHANNEL_BINDINGS).unwrap(), None);
        // No EOL.
        assert!(
            AvPairs(&list[..list.len() - 4])
                .get(av::CHANNEL_BINDINGS)
                .is_err()
        );
        // Length past the end.
        let bad = [0x09, 0x00, 0xff, 0x00, 0x41];
        assert!(AvPairs(&bad).get(av::TARGET_NAME).is_err());
    }

    #[test]
    fn the_domain_a_challenge_announces() {
        let mut info = Vec::new();
        push_av(&mut info, av::NB_COMPUTER_NAME, &utf16le("WEB01"));
        push_av(&mut info, av::NB_DOMAIN_NAME, &utf16le("TESTDOM"));
        push_av(&mut info, av::EOL, &[]);
        let challenge = build_challenge(0, &[1; 8], "TESTDOM", &info);
        assert_eq!(
            challenge_domain(&challenge).unwrap().as_deref(),
            Some("TESTDOM")
        );
        let mut none = Vec::new();
        push_av(&mut none, av::EOL, &[]);
        let challenge = build_challenge(0, &[1; 8], "", &none);
        assert_eq!(challenge_domain(&challenge).unwrap(), None);
        // Not a CHALLENGE, cut short, or an overrunning field: an error, never a panic.
        assert!(challenge_domain(b"NTLMSSP\0\x01\0\0\0").is_err());
        assert!(challenge_domain(&build_challenge(0, &[1; 8], "", &info)[..50]).is_err());
        let mut bad = build_challenge(0, &[1; 8], "", &info);
        bad[40] = 0xff;
        assert!(challenge_domain(&bad).is_err());
    }

    #[test]
    fn headers_are_checked() {
        assert!(matches!(
            message_type(b"NTLMSSP"),
            Err(NtlmError::Malformed(_))
        ));
        assert!(matches!(
            message_type(b"BADSIGN!\x01\0\0\0"),
            Err(NtlmError::Malformed(_))
        ));
        let mut neg = SIGNATURE.to_vec();
        neg.extend(1u32.to_le_bytes());
        assert!(parse_negotiate(&neg).is_err());
        neg.extend(0x1234u32.to_le_bytes());
        assert_eq!(parse_negotiate(&neg).unwrap(), 0x1234);
        assert!(matches!(
            parse_authenticate(&neg),
            Err(NtlmError::UnexpectedMessage { expected: 3 })
        ));
    }

    /// An AUTHENTICATE must announce Unicode (its names are read as UTF-16LE): without
    /// `NTLMSSP_NEGOTIATE_UNICODE` it is malformed.
    #[test]
    fn authenticate_without_unicode_is_refused() {
        let mut msg = SIGNATURE.to_vec();
        msg.extend(3u32.to_le_bytes());
        msg.resize(88, 0);
        msg[60..64].copy_from_slice(&flags::UNICODE.to_le_bytes());
        let auth = parse_authenticate(&msg).unwrap();
        assert_eq!(auth.flags, flags::UNICODE);
        assert!(auth.nt_response.is_empty() && auth.user.is_empty());
        for other in [0, flags::NTLM | flags::KEY_EXCH] {
            msg[60..64].copy_from_slice(&other.to_le_bytes());
            assert!(matches!(
                parse_authenticate(&msg),
                Err(NtlmError::Malformed(_))
            ));
        }
    }

    #[test]
    fn fields_out_of_bounds_are_malformed() {
        let mut msg = SIGNATURE.to_vec();
        msg.extend(3u32.to_le_bytes());
        msg.resize(88, 0);
        msg[60..64].copy_from_slice(&flags::UNICODE.to_le_bytes());
        // NtChallengeResponse: len 100 at offset 80.
        msg[20..22].copy_from_slice(&100u16.to_le_bytes());
        msg[24..28].copy_from_slice(&80u32.to_le_bytes());
        assert!(matches!(
            parse_authenticate(&msg),
            Err(NtlmError::Malformed(_))
        ));
        // Offset near u32::MAX does not overflow.
        msg[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_authenticate(&msg),
            Err(NtlmError::Malformed(_))
        ));
    }
}
