//! The KDC-PROXY-MESSAGE of [MS-KKDCP] §2.2.2, in DER (the module's tags are EXPLICIT):
//!
//! ```asn1
//! KDC-PROXY-MESSAGE ::= SEQUENCE {
//!     kerb-message    [0] OCTET STRING,
//!     target-domain   [1] KERB-REALM OPTIONAL,   -- GeneralString
//!     dclocator-hint  [2] INTEGER OPTIONAL
//! }
//! ```
//! `kerb-message` carries the Kerberos message as it travels over TCP (RFC 4120 §7.2.2: a
//! 4-byte big-endian length, then the message). A request is accepted only when that length is
//! exact, the message is one DER value tagged AS-REQ (`[APPLICATION 10]`) or TGS-REQ
//! (`[APPLICATION 12]`), and `target-domain` names the realm; nothing else of it is decoded
//! here (the KDC decodes it). The TLVs are read with the `der` crate (DER lengths only).

use der::asn1::{AnyRef, OctetStringRef};
use der::{
    Decode as _, Encode as _, Header, Length, Reader as _, SliceReader, Tag, TagNumber, Tagged as _,
};

/// The Kerberos requests a KDC proxy forwards (RFC 4120 §5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdcRequestKind {
    /// `[APPLICATION 10]`.
    AsReq,
    /// `[APPLICATION 12]`.
    TgsReq,
}

/// A checked request: the realm asked for and the message to send to its KDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRequest<'a> {
    /// `target-domain`: printable ASCII, not yet known to be configured.
    pub realm: &'a str,
    /// What `kerb-message` holds.
    pub kind: KdcRequestKind,
    /// `kerb-message` as sent to the KDC over TCP: the 4-byte length and the message.
    pub framed: &'a [u8],
}

/// Why a body is not a KDC-PROXY-MESSAGE this proxy forwards.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Not DER, or not the expected TLVs.
    #[error("not a DER KDC-PROXY-MESSAGE: {0}")]
    Der(#[from] der::Error),
    /// A field missing, repeated, out of order or of another tag.
    #[error("KDC-PROXY-MESSAGE: {0}")]
    Structure(&'static str),
    /// `kerb-message`'s 4-byte length is not the length of what follows it.
    #[error("kerb-message declares {declared} bytes after its length, carries {actual}")]
    Framing {
        /// The length prefix.
        declared: u64,
        /// The bytes after it.
        actual: usize,
    },
    /// `kerb-message` is not an AS-REQ or a TGS-REQ (a kpasswd request, a reply, anything).
    #[error("kerb-message is not an AS-REQ or a TGS-REQ (first byte {0:#04x})")]
    NotAKdcRequest(u8),
    /// No `target-domain`: the proxy never guesses a realm ([MS-KKDCP] §3.1.5.1 has the
    /// client send it).
    #[error("no target-domain (the realm)")]
    NoRealm,
    /// A `target-domain` that is empty or not printable ASCII.
    #[error("target-domain is not a realm name (empty or not printable ASCII)")]
    BadRealm,
}

/// `[n]` EXPLICIT, as the module writes its fields.
fn field(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(number),
    }
}

/// Decodes and checks a request body ([MS-KKDCP] §2.2.2; the client side is §3.1.5.1).
pub fn decode_request(body: &[u8]) -> Result<ProxyRequest<'_>, MessageError> {
    let outer = AnyRef::from_der(body)?;
    if outer.tag() != Tag::Sequence {
        return Err(MessageError::Structure("not a SEQUENCE"));
    }
    let mut fields = SliceReader::new(outer.value())?;
    let mut message = None;
    let mut realm = None;
    let mut last = None;
    while !fields.is_finished() {
        let f = AnyRef::decode(&mut fields)?;
        let number = match f.tag() {
            Tag::ContextSpecific {
                constructed: true,
                number,
            } if number.value() <= 2 => number.value(),
            _ => return Err(MessageError::Structure("a field of another tag")),
        };
        if last.is_some_and(|l| number <= l) {
            return Err(MessageError::Structure("fields repeated or out of order"));
        }
        last = Some(number);
        let inner = AnyRef::from_der(f.value())?;
        match number {
            0 if inner.tag() == Tag::OctetString => message = Some(inner.value()),
            0 => {
                return Err(MessageError::Structure(
                    "kerb-message is not an OCTET STRING",
                ));
            }
            1 if inner.tag() == Tag::GeneralString => realm = Some(inner.value()),
            1 => {
                return Err(MessageError::Structure(
                    "target-domain is not a GeneralString",
                ));
            }
            // dclocator-hint: checked to be an INTEGER, not used (no DC locator here).
            _ if inner.tag() == Tag::Integer => {}
            _ => return Err(MessageError::Structure("dclocator-hint is not an INTEGER")),
        }
    }
    let framed = message.ok_or(MessageError::Structure("no kerb-message"))?;
    let kind = check_framed(framed)?;
    let realm = realm.ok_or(MessageError::NoRealm)?;
    if realm.is_empty() || !realm.iter().all(u8::is_ascii_graphic) {
        return Err(MessageError::BadRealm);
    }
    let realm = std::str::from_utf8(realm).map_err(|_| MessageError::BadRealm)?;
    Ok(ProxyRequest {
        realm,
        kind,
        framed,
    })
}

/// Checks the RFC 4120 §7.2.2 length and that one AS-REQ or TGS-REQ TLV fills the rest.
fn check_framed(framed: &[u8]) -> Result<KdcRequestKind, MessageError> {
    let (prefix, message) = framed
        .split_first_chunk::<4>()
        .ok_or(MessageError::Structure(
            "kerb-message shorter than its length",
        ))?;
    let declared = u64::from(u32::from_be_bytes(*prefix));
    if usize::try_from(declared).ok() != Some(message.len()) {
        return Err(MessageError::Framing {
            declared,
            actual: message.len(),
        });
    }
    let first = message.first().copied().unwrap_or(0);
    let kind = match AnyRef::from_der(message)?.tag() {
        Tag::Application {
            constructed: true,
            number,
        } if number.value() == 10 => KdcRequestKind::AsReq,
        Tag::Application {
            constructed: true,
            number,
        } if number.value() == 12 => KdcRequestKind::TgsReq,
        _ => return Err(MessageError::NotAKdcRequest(first)),
    };
    Ok(kind)
}

/// One TLV: `tag`, DER length, `content`.
fn tlv(tag: Tag, content: &[u8], out: &mut Vec<u8>) -> Result<(), der::Error> {
    Header::new(tag, Length::try_from(content.len())?).encode_to_vec(out)?;
    out.extend_from_slice(content);
    Ok(())
}

/// Encodes a KDC-PROXY-MESSAGE: `framed` (length prefix included) as `kerb-message`, and
/// `target-domain` when given (a reply carries none, as the Python kdcproxy's and Windows').
pub fn encode(framed: &[u8], realm: Option<&str>) -> Result<Vec<u8>, der::Error> {
    let mut fields = Vec::with_capacity(framed.len() + 32);
    let octets = OctetStringRef::new(framed)?.to_der()?;
    tlv(field(0), &octets, &mut fields)?;
    if let Some(r) = realm {
        let mut general = Vec::with_capacity(r.len() + 4);
        tlv(Tag::GeneralString, r.as_bytes(), &mut general)?;
        tlv(field(1), &general, &mut fields)?;
    }
    let mut out = Vec::with_capacity(fields.len() + 8);
    tlv(Tag::Sequence, &fields, &mut out)?;
    Ok(out)
}

/// `message` with its RFC 4120 §7.2.2 length in front (`None` past 2^32-1 bytes).
pub fn frame(message: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(message.len()).ok()?;
    let mut out = Vec::with_capacity(message.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A minimal `[APPLICATION 10]` TLV (the KDC would refuse it; the proxy only checks the tag).
    const AS_REQ: &[u8] = &[0x6a, 0x03, 0x30, 0x01, 0x00];

    fn request(message: &[u8], realm: Option<&str>) -> Vec<u8> {
        encode(&frame(message).unwrap(), realm).unwrap()
    }

    #[test]
    fn a_request_round_trips() {
        let body = request(AS_REQ, Some("EXAMPLE.TEST"));
        let r = decode_request(&body).unwrap();
        assert_eq!(r.realm, "EXAMPLE.TEST");
        assert_eq!(r.kind, KdcRequestKind::AsReq);
        assert_eq!(r.framed, frame(AS_REQ).unwrap());
        let tgs = request(&[0x6c, 0x00], Some("R"));
        assert_eq!(decode_request(&tgs).unwrap().kind, KdcRequestKind::TgsReq);
    }

    #[test]
    fn the_bytes_are_what_mit_sends() {
        // 30 LL a0 LL 04 LL <framed> a1 LL 1b LL <realm>: SEQUENCE, [0] OCTET STRING,
        // [1] GeneralString (MIT's k5_encode_kkdcp_message).
        let body = request(AS_REQ, Some("R"));
        assert_eq!(
            body,
            [
                0x30, 0x12, 0xa0, 0x0b, 0x04, 0x09, 0, 0, 0, 5, 0x6a, 0x03, 0x30, 0x01, 0x00, 0xa1,
                0x03, 0x1b, 0x01, b'R'
            ]
        );
        // A dclocator-hint is read and ignored.
        let mut with_hint = body[2..].to_vec();
        with_hint.extend_from_slice(&[0xa2, 0x03, 0x02, 0x01, 0x00]);
        let mut seq = vec![0x30, u8::try_from(with_hint.len()).unwrap()];
        seq.extend_from_slice(&with_hint);
        assert_eq!(decode_request(&seq).unwrap().realm, "R");
    }

    #[test]
    fn malformed_requests_are_typed_errors() {
        let err = |b: &[u8]| decode_request(b).unwrap_err();
        assert!(matches!(err(&[]), MessageError::Der(_)));
        assert!(matches!(err(&[0x30, 0x05]), MessageError::Der(_)));
        assert!(matches!(err(&[0x31, 0x00]), MessageError::Structure(_)));
        assert!(matches!(err(&[0x30, 0x00]), MessageError::Structure(_)));
        assert_eq!(err(&request(AS_REQ, None)), MessageError::NoRealm);
        assert_eq!(err(&request(AS_REQ, Some(""))), MessageError::BadRealm);
        assert_eq!(err(&request(AS_REQ, Some("A B"))), MessageError::BadRealm);
        // A kpasswd request, an AS-REP, a KRB-ERROR: not forwarded.
        for other in [
            &[0x6b, 0x00][..],
            &[0x7e, 0x00],
            &[0x30, 0x00],
            &[0x4a, 0x00],
        ] {
            assert!(matches!(
                err(&request(other, Some("R"))),
                MessageError::NotAKdcRequest(_)
            ));
        }
        assert!(matches!(
            err(&request(&[0x00, 0x00], Some("R"))),
            MessageError::Der(_)
        ));
        // A length prefix that lies.
        let mut framed = frame(AS_REQ).unwrap();
        framed[3] = 9;
        assert!(matches!(
            err(&encode(&framed, Some("R")).unwrap()),
            MessageError::Framing { .. }
        ));
        // Trailing bytes after the message, or after the SEQUENCE.
        let mut long = AS_REQ.to_vec();
        long.push(0);
        assert!(matches!(
            err(&request(&long, Some("R"))),
            MessageError::Der(_)
        ));
        let mut body = request(AS_REQ, Some("R"));
        body.push(0);
        assert!(matches!(err(&body), MessageError::Der(_)));
        // BER's indefinite length.
        assert!(matches!(
            err(&[0x30, 0x80, 0x00, 0x00]),
            MessageError::Der(_)
        ));
    }

    #[test]
    fn fields_out_of_order_are_refused() {
        let body = request(AS_REQ, Some("R"));
        // Swap [0] and [1]: a1 03 1b 01 52 a0 0b ...
        let (zero, one) = body[2..].split_at(13);
        let mut swapped = vec![0x30, 0x12];
        swapped.extend_from_slice(one);
        swapped.extend_from_slice(zero);
        assert!(matches!(
            decode_request(&swapped).unwrap_err(),
            MessageError::Structure(_)
        ));
    }
}
