//! A strict DER reader of the SPNEGO tokens a client sends (RFC 4178 §4.2), and of the GSS
//! `InitialContextToken` framing around the first one (RFC 2743 §3.1).
//!
//! What it is for: a backend that lets a GSSAPI library accept SPNEGO must still see what is
//! inside — an NTLM AUTHENTICATE's `MsvAvTargetName` and `MsvAvChannelBindings`, which
//! gss-ntlmssp does not report. The reader finds the mechanism token of a `NegTokenInit` (first
//! leg) or the response token of a `NegTokenResp` (later legs).
//!
//! Strictness (X.690 §10): definite lengths in their shortest form, exactly the tags the ASN.1
//! module gives, fields in order and each at most once, no bytes after any structure, minimal
//! OID sub-identifiers and ENUMERATED values. Anything else is a typed [`SpnegoError`]: a token
//! that the library might read one way and this reader another must be refused, not guessed at.
//! The structures nest to a fixed depth (at most five TLVs); there is no recursion.

use thiserror::Error;

/// The SPNEGO mechanism OID, 1.3.6.1.5.5.2, as DER content octets.
pub const SPNEGO_OID: &[u8] = b"\x2b\x06\x01\x05\x05\x02";
/// The NTLM mechanism OID, 1.3.6.1.4.1.311.2.2.10, as DER content octets.
pub const NTLM_OID: &[u8] = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a";
/// The Kerberos V5 mechanism OID, 1.2.840.113554.1.2.2 (RFC 4121), as DER content octets.
pub const KRB5_OID: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
/// The Microsoft Kerberos V5 OID, 1.2.840.48018.1.2.2, which Windows lists first in SPNEGO
/// (MS-KILE §3.1.5.2), as DER content octets.
pub const MS_KRB5_OID: &[u8] = b"\x2a\x86\x48\x82\xf7\x12\x01\x02\x02";
/// The signature every NTLMSSP message starts with (MS-NLMP §2.2.1).
pub const NTLMSSP_SIGNATURE: &[u8] = b"NTLMSSP\0";

/// The largest SPNEGO token read (the layer's header limit is 64 KiB of base64).
pub const MAX_TOKEN_LEN: usize = 1 << 20;
/// The most mechanisms a `MechTypeList` may name.
pub const MAX_MECH_TYPES: usize = 32;

/// Why a token is not a strict-DER SPNEGO token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpnegoError {
    /// Nothing to read.
    #[error("empty SPNEGO token")]
    Empty,
    /// Larger than [`MAX_TOKEN_LEN`].
    #[error("SPNEGO token of {len} bytes is over the {MAX_TOKEN_LEN}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The input ended inside a TLV.
    #[error("truncated SPNEGO token: {what} at offset {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// The BER indefinite length `0x80`.
    #[error("indefinite length in {what} at offset {offset}: BER, not DER")]
    IndefiniteLength {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A length not in its shortest form, or longer than four octets.
    #[error("non-minimal length in {what} at offset {offset}: BER, not DER")]
    NonMinimalLength {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A tag the structure does not allow here.
    #[error("unexpected tag 0x{found:02x} for {what} at offset {offset}")]
    WrongTag {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
        /// The tag found.
        found: u8,
    },
    /// Bytes after a structure that must end there.
    #[error("{count} trailing bytes after {what}")]
    TrailingData {
        /// The structure.
        what: &'static str,
        /// How many bytes.
        count: usize,
    },
    /// The `InitialContextToken` names another mechanism than SPNEGO.
    #[error("the initial context token is not SPNEGO (mechanism OID {oid_hex})")]
    NotSpnego {
        /// The OID's content octets, hex.
        oid_hex: String,
    },
    /// An OBJECT IDENTIFIER that is empty or has a non-minimal sub-identifier (X.690 §8.19.2).
    #[error("malformed OBJECT IDENTIFIER at offset {offset}")]
    BadOid {
        /// Where.
        offset: usize,
    },
    /// `negState` not a minimal ENUMERATED in 0..=3 (RFC 4178 §4.2.2).
    #[error("negState is not a minimal ENUMERATED 0..=3 at offset {offset}")]
    BadNegState {
        /// Where.
        offset: usize,
    },
    /// `reqFlags` not a BIT STRING with 0..=7 unused bits.
    #[error("reqFlags is not a DER BIT STRING at offset {offset}")]
    BadReqFlags {
        /// Where.
        offset: usize,
    },
    /// A `NegTokenInit` whose `MechTypeList` is empty or longer than [`MAX_MECH_TYPES`].
    #[error("MechTypeList has {count} mechanisms (1..={MAX_MECH_TYPES} allowed)")]
    MechTypeCount {
        /// How many.
        count: usize,
    },
}

/// `negState` (RFC 4178 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// `accept-completed` (0).
    AcceptCompleted,
    /// `accept-incomplete` (1).
    AcceptIncomplete,
    /// `reject` (2).
    Reject,
    /// `request-mic` (3).
    RequestMic,
}

/// `NegTokenInit` (RFC 4178 §4.2.1): the client's first SPNEGO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit<'a> {
    /// The mechanisms in the client's order of preference (OID content octets).
    pub mech_types: Vec<&'a [u8]>,
    /// The `reqFlags` BIT STRING's content octets (unused-bits octet first), if present.
    pub req_flags: Option<&'a [u8]>,
    /// The optimistic token of the first mechanism, if any.
    pub mech_token: Option<&'a [u8]>,
    /// `mechListMIC`, if present.
    pub mech_list_mic: Option<&'a [u8]>,
}

/// `NegTokenResp` (RFC 4178 §4.2.2): every later SPNEGO token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenResp<'a> {
    /// `negState`, if present.
    pub neg_state: Option<NegState>,
    /// `supportedMech` (OID content octets), if present.
    pub supported_mech: Option<&'a [u8]>,
    /// The mechanism's token, if any.
    pub response_token: Option<&'a [u8]>,
    /// `mechListMIC`, if present.
    pub mech_list_mic: Option<&'a [u8]>,
}

/// A SPNEGO `NegotiationToken` (RFC 4178 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationToken<'a> {
    /// The first token, inside the RFC 2743 `InitialContextToken` framing.
    Init(NegTokenInit<'a>),
    /// A later token (no framing).
    Resp(NegTokenResp<'a>),
}

impl<'a> NegotiationToken<'a> {
    /// The mechanism token it carries (`mechToken` or `responseToken`).
    pub fn inner_token(&self) -> Option<&'a [u8]> {
        match self {
            Self::Init(init) => init.mech_token,
            Self::Resp(resp) => resp.response_token,
        }
    }
}

/// What a `Negotiate` token is, by its first bytes (RFC 4559 allows SPNEGO or a raw mechanism
/// token; MIT and Windows accept raw Kerberos and raw NTLMSSP too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateToken<'a> {
    /// A SPNEGO token.
    Spnego(NegotiationToken<'a>),
    /// A raw NTLMSSP message.
    RawNtlm(&'a [u8]),
    /// Anything else (a raw Kerberos `InitialContextToken`, another mechanism): not read here.
    Other,
}

impl<'a> NegotiateToken<'a> {
    /// The NTLMSSP message it carries, raw or inside SPNEGO, if any.
    pub fn ntlm_message(&self) -> Option<&'a [u8]> {
        match self {
            Self::RawNtlm(m) => Some(m),
            Self::Spnego(t) => t.inner_token().filter(|m| m.starts_with(NTLMSSP_SIGNATURE)),
            Self::Other => None,
        }
    }
}

/// Classifies a `Negotiate` token and reads it strictly when it is SPNEGO: `0x60` framing with
/// the SPNEGO OID, or a bare `[1]` `NegTokenResp`. A `0x60` token naming another mechanism, or a
/// raw NTLMSSP message, is returned without further reading.
pub fn classify(token: &[u8]) -> Result<NegotiateToken<'_>, SpnegoError> {
    match token.first() {
        None => Err(SpnegoError::Empty),
        Some(_) if token.starts_with(NTLMSSP_SIGNATURE) => Ok(NegotiateToken::RawNtlm(token)),
        Some(0xa1) => parse(token).map(NegotiateToken::Spnego),
        Some(0x60) => match initial_context_token(token) {
            Ok((mech, _)) if mech != SPNEGO_OID => Ok(NegotiateToken::Other),
            Ok(_) => parse(token).map(NegotiateToken::Spnego),
            Err(e) => Err(e),
        },
        Some(_) => Ok(NegotiateToken::Other),
    }
}

/// Reads an RFC 2743 §3.1 `InitialContextToken`: `[APPLICATION 0] IMPLICIT SEQUENCE { thisMech
/// MechType, innerContextToken ANY }`. Returns the mechanism OID's content octets and the inner
/// token (the rest of the framed value, which may be any bytes).
pub fn initial_context_token(token: &[u8]) -> Result<(&[u8], &[u8]), SpnegoError> {
    check_size(token)?;
    let mut outer = Reader::new(token, 0);
    let body = outer.expect(0x60, "InitialContextToken")?;
    outer.finish("InitialContextToken")?;
    let mut r = body;
    let oid_at = r.offset();
    let oid = r.expect(0x06, "thisMech")?;
    check_oid(oid.bytes, oid_at)?;
    Ok((oid.bytes, r.rest()))
}

/// Reads a SPNEGO token strictly: the first token (framed `NegTokenInit`) or a later one (bare
/// `NegTokenResp`).
pub fn parse(token: &[u8]) -> Result<NegotiationToken<'_>, SpnegoError> {
    check_size(token)?;
    if token.first() == Some(&0x60) {
        let (mech, inner) = initial_context_token(token)?;
        if mech != SPNEGO_OID {
            return Err(SpnegoError::NotSpnego {
                oid_hex: mech.iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
        let offset = token.len() - inner.len();
        let mut r = Reader::new(inner, offset);
        let choice = r.expect(0xa0, "NegotiationToken (negTokenInit)")?;
        r.finish("NegotiationToken")?;
        return neg_token_init(choice).map(NegotiationToken::Init);
    }
    let mut r = Reader::new(token, 0);
    let choice = r.expect(0xa1, "NegotiationToken (negTokenResp)")?;
    r.finish("NegotiationToken")?;
    neg_token_resp(choice).map(NegotiationToken::Resp)
}

fn check_size(token: &[u8]) -> Result<(), SpnegoError> {
    match token.len() {
        0 => Err(SpnegoError::Empty),
        len if len > MAX_TOKEN_LEN => Err(SpnegoError::TooLong { len }),
        _ => Ok(()),
    }
}

fn neg_token_init(mut choice: Reader<'_>) -> Result<NegTokenInit<'_>, SpnegoError> {
    let mut seq = choice.expect(0x30, "NegTokenInit")?;
    choice.finish("NegTokenInit")?;
    let mut list = seq.explicit(0xa0, 0x30, "mechTypes")?;
    let mut mech_types = Vec::new();
    while !list.is_empty() {
        let at = list.offset();
        let oid = list.expect(0x06, "MechType")?;
        check_oid(oid.bytes, at)?;
        mech_types.push(oid.bytes);
        if mech_types.len() > MAX_MECH_TYPES {
            return Err(SpnegoError::MechTypeCount {
                count: mech_types.len(),
            });
        }
    }
    if mech_types.is_empty() {
        return Err(SpnegoError::MechTypeCount { count: 0 });
    }
    let req_flags = match seq.peek() {
        Some(0xa1) => {
            let at = seq.offset();
            let bits = seq.explicit(0xa1, 0x03, "reqFlags")?;
            let unused = bits.bytes.first().copied();
            match (unused, bits.bytes.len()) {
                (Some(0), 1) => {}
                (Some(0..=7), 2..) => {}
                _ => return Err(SpnegoError::BadReqFlags { offset: at }),
            }
            Some(bits.bytes)
        }
        _ => None,
    };
    let mech_token = seq.optional_explicit(0xa2, 0x04, "mechToken")?;
    let mech_list_mic = seq.optional_explicit(0xa3, 0x04, "mechListMIC")?;
    seq.finish("NegTokenInit")?;
    Ok(NegTokenInit {
        mech_types,
        req_flags,
        mech_token,
        mech_list_mic,
    })
}

fn neg_token_resp(mut choice: Reader<'_>) -> Result<NegTokenResp<'_>, SpnegoError> {
    let mut seq = choice.expect(0x30, "NegTokenResp")?;
    choice.finish("NegTokenResp")?;
    let neg_state = match seq.peek() {
        Some(0xa0) => {
            let at = seq.offset();
            let e = seq.explicit(0xa0, 0x0a, "negState")?;
            Some(match e.bytes {
                [0] => NegState::AcceptCompleted,
                [1] => NegState::AcceptIncomplete,
                [2] => NegState::Reject,
                [3] => NegState::RequestMic,
                _ => return Err(SpnegoError::BadNegState { offset: at }),
            })
        }
        _ => None,
    };
    let supported_mech = match seq.peek() {
        Some(0xa1) => {
            let at = seq.offset();
            let oid = seq.explicit(0xa1, 0x06, "supportedMech")?;
            check_oid(oid.bytes, at)?;
            Some(oid.bytes)
        }
        _ => None,
    };
    let response_token = seq.optional_explicit(0xa2, 0x04, "responseToken")?;
    let mech_list_mic = seq.optional_explicit(0xa3, 0x04, "mechListMIC")?;
    seq.finish("NegTokenResp")?;
    Ok(NegTokenResp {
        neg_state,
        supported_mech,
        response_token,
        mech_list_mic,
    })
}

/// X.690 §8.19.2: at least one sub-identifier octet, none starting with 0x80, the last one
/// ending (bit 8 clear).
fn check_oid(bytes: &[u8], offset: usize) -> Result<(), SpnegoError> {
    let bad = SpnegoError::BadOid { offset };
    let last = bytes.last().ok_or(bad.clone())?;
    if last & 0x80 != 0 {
        return Err(bad);
    }
    let mut start_of_sub = true;
    for &b in bytes {
        if start_of_sub && b == 0x80 {
            return Err(bad);
        }
        start_of_sub = b & 0x80 == 0;
    }
    Ok(())
}

/// A cursor over the content of one constructed value. `base` is its offset in the token, for
/// error messages.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
        }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn finish(&self, what: &'static str) -> Result<(), SpnegoError> {
        match self.bytes.len().saturating_sub(self.pos) {
            0 => Ok(()),
            count => Err(SpnegoError::TrailingData { what, count }),
        }
    }

    /// Reads one TLV with exactly `tag` (single-octet tags only: every tag SPNEGO uses) and
    /// returns a reader over its content.
    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Reader<'a>, SpnegoError> {
        let at = self.offset();
        let truncated = SpnegoError::Truncated { what, offset: at };
        let found = self.peek().ok_or(truncated.clone())?;
        if found != tag {
            return Err(SpnegoError::WrongTag {
                what,
                offset: at,
                found,
            });
        }
        let first = *self.bytes.get(self.pos + 1).ok_or(truncated.clone())?;
        let (len, header) = match first {
            0..=0x7f => (usize::from(first), 2),
            0x80 => return Err(SpnegoError::IndefiniteLength { what, offset: at }),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                let octets = self
                    .bytes
                    .get(self.pos + 2..self.pos + 2 + n)
                    .ok_or(truncated.clone())?;
                let len = octets
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                // Shortest form: no leading zero octet, and the long form only from 128 on.
                if octets.first() == Some(&0) || len < 0x80 {
                    return Err(SpnegoError::NonMinimalLength { what, offset: at });
                }
                (len, 2 + n)
            }
            _ => return Err(SpnegoError::NonMinimalLength { what, offset: at }),
        };
        let start = self.pos + header;
        let end = start.checked_add(len).ok_or(truncated.clone())?;
        let content = self.bytes.get(start..end).ok_or(truncated)?;
        self.pos = end;
        Ok(Reader::new(content, self.base + start))
    }

    /// `[n] EXPLICIT inner`: the context tag, then exactly one value with `inner`'s tag.
    fn explicit(
        &mut self,
        context: u8,
        inner: u8,
        what: &'static str,
    ) -> Result<Reader<'a>, SpnegoError> {
        let mut wrapper = self.expect(context, what)?;
        let value = wrapper.expect(inner, what)?;
        wrapper.finish(what)?;
        Ok(value)
    }

    /// An OPTIONAL `[n] EXPLICIT OCTET STRING`.
    fn optional_explicit(
        &mut self,
        context: u8,
        inner: u8,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, SpnegoError> {
        if self.peek() != Some(context) {
            return Ok(None);
        }
        Ok(Some(self.explicit(context, inner, what)?.bytes))
    }
}

#[cfg(test)]
mod tests;
