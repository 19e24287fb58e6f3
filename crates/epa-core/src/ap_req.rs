//! The two encryption types a Kerberos AP-REQ shows in clear (RFC 4120 §5.5.1): the ticket's
//! `enc-part.etype` (the service key: RC4 there is what Kerberoasting cracks) and the
//! authenticator's `etype` (the authenticator is encrypted in the ticket's session key, so this
//! is the session key's type). MIT's acceptor reports neither: under RFC 4537 enctype
//! negotiation the context's own key may be AES while the ticket's session key is RC4.
//!
//! Read only from a token the backend has already accepted (its etypes are then the ones the
//! keys really had); the reader takes any bytes and never panics (`fuzz/fuzz_targets/ap_req.rs`).

use crate::der::{DerError, Reader, Tlv};
use crate::enctype::Enctype;
use crate::spnego::{self, KRB5_OID, MS_KRB5_OID, NegotiateToken, NegotiationToken};

/// The encryption types of one AP-REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApReqEnctypes {
    /// The ticket's encryption type (the service principal's key).
    pub ticket: Enctype,
    /// The authenticator's encryption type: the ticket's session key.
    pub session: Enctype,
}

impl ApReqEnctypes {
    /// The one a weak-enctype rule judges: the ticket's when it is RC4 or DES (an RC4 ticket
    /// is crackable whatever the session key), else the session key's.
    pub fn weakest(self) -> Enctype {
        if self.ticket.is_weak() {
            self.ticket
        } else {
            self.session
        }
    }
}

/// The AP-REQ's encryption types in a `Negotiate` token: SPNEGO whose `mechToken` is a Kerberos
/// token, or a raw Kerberos token (RFC 4121 §4.1: the `InitialContextToken` framing, `TOK_ID`
/// 01 00, then the AP-REQ). `None` for anything else.
pub fn enctypes(token: &[u8]) -> Option<ApReqEnctypes> {
    let krb5_token = match spnego::classify(token).ok()? {
        NegotiateToken::Spnego(NegotiationToken::Init(init)) => init.mech_token?,
        NegotiateToken::Other => token,
        _ => return None,
    };
    let (oid, inner) = spnego::initial_context_token(krb5_token).ok()?;
    if oid != KRB5_OID && oid != MS_KRB5_OID {
        return None;
    }
    let ap_req = inner.strip_prefix(&[0x01, 0x00])?;
    read_ap_req(ap_req).ok()
}

/// `AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2], ticket [3]
/// Ticket, authenticator [4] EncryptedData }`; `Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno
/// [0], realm [1], sname [2], enc-part [3] EncryptedData }`.
fn read_ap_req(bytes: &[u8]) -> Result<ApReqEnctypes, DerError> {
    let mut outer = Reader::new(bytes);
    let mut seq = outer.enter(0x6e, "AP-REQ")?.enter(0x30, "AP-REQ")?;
    outer.finish("AP-REQ")?;
    for (tag, what) in [(0xa0, "pvno"), (0xa1, "msg-type"), (0xa2, "ap-options")] {
        seq.take(tag, what)?;
    }
    let mut ticket = seq
        .enter(0xa3, "ticket")?
        .enter(0x61, "Ticket")?
        .enter(0x30, "Ticket")?;
    for (tag, what) in [(0xa0, "tkt-vno"), (0xa1, "realm"), (0xa2, "sname")] {
        ticket.take(tag, what)?;
    }
    let ticket_etype = encrypted_data_etype(ticket.take(0xa3, "enc-part")?)?;
    let session_etype = encrypted_data_etype(seq.take(0xa4, "authenticator")?)?;
    seq.finish("AP-REQ")?;
    Ok(ApReqEnctypes {
        ticket: ticket_etype,
        session: session_etype,
    })
}

/// `EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] }`,
/// inside its explicit tag: the `etype`.
fn encrypted_data_etype(tagged: Tlv<'_>) -> Result<Enctype, DerError> {
    let mut data = tagged.contents().enter(0x30, "EncryptedData")?;
    let int = data.enter(0xa0, "etype")?.take(0x02, "etype")?;
    int32(int.value).map(Enctype)
}

/// A DER INTEGER's contents as an `Int32` (RFC 4120 §5.2.4): 1 to 4 octets, minimal.
fn int32(v: &[u8]) -> Result<i32, DerError> {
    let invalid = |detail| DerError::InvalidValue {
        what: "etype",
        detail,
    };
    let minimal = match v {
        [] => return Err(invalid("empty INTEGER")),
        [a, b, ..] => !((*a == 0 && b & 0x80 == 0) || (*a == 0xff && b & 0x80 != 0)),
        [_] => true,
    };
    if !minimal {
        return Err(invalid("INTEGER not minimal"));
    }
    if v.len() > 4 {
        return Err(invalid("INTEGER beyond Int32"));
    }
    let fill = if v[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut be = [fill; 4];
    be[4 - v.len()..].copy_from_slice(v);
    Ok(i32::from_be_bytes(be))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if body.len() < 128 {
            out.push(body.len() as u8);
        } else if body.len() < 256 {
            out.extend_from_slice(&[0x81, body.len() as u8]);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(body);
        out
    }

    fn encrypted(etype: u8, cipher_len: usize) -> Vec<u8> {
        tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[etype])),
                tlv(0xa1, &tlv(0x02, &[2])),
                tlv(0xa2, &tlv(0x04, &vec![0x5a; cipher_len])),
            ]
            .concat(),
        )
    }

    /// An AP-REQ as MIT's `krb5_mk_req` lays it out (field order and tags of RFC 4120 §5.5.1).
    fn ap_req(ticket_etype: u8, session_etype: u8) -> Vec<u8> {
        let ticket = tlv(
            0x61,
            &tlv(
                0x30,
                &[
                    tlv(0xa0, &tlv(0x02, &[5])),
                    tlv(0xa1, &tlv(0x1b, b"EXAMPLE.TEST")),
                    tlv(0xa2, &tlv(0x30, &tlv(0xa0, &tlv(0x02, &[2])))),
                    tlv(0xa3, &encrypted(ticket_etype, 200)),
                ]
                .concat(),
            ),
        );
        tlv(
            0x6e,
            &tlv(
                0x30,
                &[
                    tlv(0xa0, &tlv(0x02, &[5])),
                    tlv(0xa1, &tlv(0x02, &[14])),
                    tlv(0xa2, &tlv(0x03, &[0, 0x20, 0, 0, 0])),
                    tlv(0xa3, &ticket),
                    tlv(0xa4, &encrypted(session_etype, 100)),
                ]
                .concat(),
            ),
        )
    }

    fn gss(oid: &[u8], ap_req: &[u8]) -> Vec<u8> {
        tlv(
            0x60,
            &[tlv(0x06, oid), vec![1, 0], ap_req.to_vec()].concat(),
        )
    }

    #[test]
    fn a_raw_kerberos_token_shows_both_enctypes() {
        for oid in [KRB5_OID, MS_KRB5_OID] {
            assert_eq!(
                enctypes(&gss(oid, &ap_req(23, 18))),
                Some(ApReqEnctypes {
                    ticket: Enctype(23),
                    session: Enctype(18)
                })
            );
        }
    }

    #[test]
    fn inside_spnego_the_mech_token_is_read() {
        let mech_token = gss(KRB5_OID, &ap_req(18, 23));
        let init = tlv(
            0xa0,
            &tlv(
                0x30,
                &[
                    tlv(0xa0, &tlv(0x30, &tlv(0x06, KRB5_OID))),
                    tlv(0xa2, &tlv(0x04, &mech_token)),
                ]
                .concat(),
            ),
        );
        let token = tlv(0x60, &[tlv(0x06, spnego::SPNEGO_OID), init].concat());
        assert_eq!(
            enctypes(&token),
            Some(ApReqEnctypes {
                ticket: Enctype(18),
                session: Enctype(23)
            })
        );
    }

    #[test]
    fn anything_else_is_none() {
        let good = ap_req(18, 18);
        // Another token id (an AP-REP is 02 00), another mechanism, NTLM, a cut token.
        let ap_rep = tlv(
            0x60,
            &[tlv(0x06, KRB5_OID), vec![2, 0], good.clone()].concat(),
        );
        assert_eq!(enctypes(&ap_rep), None);
        let other = gss(b"\x2b\x06\x01\x05\x02\x05", &good);
        assert_eq!(enctypes(&other), None);
        assert_eq!(enctypes(b"NTLMSSP\0\x01\0\0\0"), None);
        let whole = gss(KRB5_OID, &good);
        for cut in [1, 10, whole.len() / 2, whole.len() - 1] {
            assert_eq!(enctypes(&whole[..cut]), None, "{cut}");
        }
        // Trailing bytes after the AP-REQ.
        let trailing = gss(KRB5_OID, &[good, vec![0]].concat());
        assert_eq!(enctypes(&trailing), None);
    }

    /// Tokens MIT's initiator made (python-gssapi over SPNEGO, tests/kdc's realm): one for a
    /// service with AES keys, one for a service with only an RC4 key and RC4 session keys.
    #[test]
    fn tokens_from_mit_s_initiator() {
        let aes = include_bytes!("../../../fuzz/seeds/ap_req/spnego-krb5-aes.bin");
        let rc4 = include_bytes!("../../../fuzz/seeds/ap_req/spnego-krb5-rc4.bin");
        assert_eq!(
            enctypes(aes),
            Some(ApReqEnctypes {
                ticket: Enctype(18),
                session: Enctype(18)
            })
        );
        assert_eq!(
            enctypes(rc4),
            Some(ApReqEnctypes {
                ticket: Enctype(23),
                session: Enctype(23)
            })
        );
    }

    #[test]
    fn the_weakest_is_the_ticket_s_when_it_is_weak() {
        let e = |ticket, session| ApReqEnctypes {
            ticket: Enctype(ticket),
            session: Enctype(session),
        };
        assert_eq!(e(23, 18).weakest(), Enctype(23));
        assert_eq!(e(18, 23).weakest(), Enctype(23));
        assert_eq!(e(3, 23).weakest(), Enctype(3));
        assert_eq!(e(18, 17).weakest(), Enctype(17));
    }

    #[test]
    fn etypes_are_minimal_int32s() {
        assert_eq!(int32(&[18]), Ok(18));
        assert_eq!(int32(&[0x80]), Ok(-128));
        assert_eq!(int32(&[0xff, 0x79]), Ok(-135));
        assert_eq!(int32(&[0x00, 0x80]), Ok(128));
        assert_eq!(int32(&[0x7f, 0xff, 0xff, 0xff]), Ok(i32::MAX));
        for bad in [&[][..], &[0, 18], &[0xff, 0x80], &[1, 0, 0, 0, 0]] {
            assert!(int32(bad).is_err(), "{bad:?}");
        }
    }
}
