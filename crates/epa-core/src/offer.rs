//! What a client's first token offers, read before any backend runs: so that a route that does
//! not accept NTLM refuses an NTLM exchange at its first leg, before a domain controller is asked
//! to check a password it would refuse anyway (and before a failed guess counts against the
//! account's lockout).
//!
//! Only the first leg is read; later legs belong to the exchange the first one started. The
//! backend's report of the completed mechanism is checked again by the decision
//! ([`crate::decide::decide`]), so a token this reader cannot classify is never an accept.

use crate::authenticator::Scheme;
use crate::decide::Mechanism;
use crate::spnego::{self, KRB5_OID, MS_KRB5_OID, NTLM_OID, NegotiateToken, NegotiationToken};

/// The mechanism a first leg offers: `Kerberos` when the client can do Kerberos (a raw Kerberos
/// token, or SPNEGO whose `mechTypes` list a Kerberos OID, RFC 4178 §4.2.1), `Ntlm` for the
/// `NTLM` scheme, a raw NTLMSSP message or SPNEGO listing NTLM and no Kerberos, `Other` for
/// SPNEGO listing neither. `None` for a later leg, or bytes this reader cannot classify (left
/// to the backend, which refuses what it cannot read).
pub fn offered(scheme: Scheme, token: &[u8]) -> Option<Mechanism> {
    if scheme == Scheme::Ntlm {
        return Some(Mechanism::Ntlm);
    }
    match spnego::classify(token).ok()? {
        NegotiateToken::RawNtlm(_) => Some(Mechanism::Ntlm),
        NegotiateToken::Spnego(NegotiationToken::Init(init)) => {
            let lists = |oid: &[u8]| init.mech_types.contains(&oid);
            Some(if lists(KRB5_OID) || lists(MS_KRB5_OID) {
                Mechanism::Kerberos
            } else if lists(NTLM_OID) {
                Mechanism::Ntlm
            } else {
                Mechanism::Other
            })
        }
        NegotiateToken::Spnego(NegotiationToken::Resp(_)) => None,
        NegotiateToken::Other => match spnego::initial_context_token(token) {
            Ok((oid, _)) if oid == KRB5_OID || oid == MS_KRB5_OID => Some(Mechanism::Kerberos),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128);
        [vec![tag, body.len() as u8], body.to_vec()].concat()
    }

    /// A SPNEGO `NegTokenInit` listing `oids` (RFC 4178 §4.2.1), no mechToken.
    fn spnego_init(oids: &[&[u8]]) -> Vec<u8> {
        let list: Vec<u8> = oids.iter().flat_map(|o| tlv(0x06, o)).collect();
        let init = tlv(0xa0, &tlv(0x30, &tlv(0xa0, &tlv(0x30, &list))));
        tlv(0x60, &[tlv(0x06, spnego::SPNEGO_OID), init].concat())
    }

    #[test]
    fn the_ntlm_scheme_and_raw_ntlmssp_offer_ntlm() {
        assert_eq!(offered(Scheme::Ntlm, b"anything"), Some(Mechanism::Ntlm));
        let negotiate = b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2";
        assert_eq!(offered(Scheme::Negotiate, negotiate), Some(Mechanism::Ntlm));
    }

    /// Windows lists the Microsoft Kerberos OID first, MIT the standard one; either counts,
    /// wherever it stands in the list (the acceptor may choose it, RFC 4178 §3).
    #[test]
    fn spnego_offers_kerberos_when_its_list_has_it() {
        for list in [
            &[KRB5_OID][..],
            &[MS_KRB5_OID, KRB5_OID, NTLM_OID],
            &[NTLM_OID, KRB5_OID],
            &[NTLM_OID, MS_KRB5_OID],
        ] {
            assert_eq!(
                offered(Scheme::Negotiate, &spnego_init(list)),
                Some(Mechanism::Kerberos),
                "{list:?}"
            );
        }
        assert_eq!(
            offered(Scheme::Negotiate, &spnego_init(&[NTLM_OID])),
            Some(Mechanism::Ntlm)
        );
        let negoex = b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e";
        assert_eq!(
            offered(Scheme::Negotiate, &spnego_init(&[negoex])),
            Some(Mechanism::Other)
        );
    }

    #[test]
    fn a_raw_kerberos_token_offers_kerberos() {
        for oid in [KRB5_OID, MS_KRB5_OID] {
            let token = tlv(0x60, &[tlv(0x06, oid), vec![1, 0, 0x6e, 0]].concat());
            assert_eq!(
                offered(Scheme::Negotiate, &token),
                Some(Mechanism::Kerberos)
            );
        }
        let other = tlv(
            0x60,
            &[tlv(0x06, b"\x2b\x06\x01\x05\x02\x05"), vec![1, 0]].concat(),
        );
        assert_eq!(offered(Scheme::Negotiate, &other), None);
    }

    #[test]
    fn later_legs_and_unreadable_bytes_are_left_to_the_backend() {
        let resp = tlv(0xa1, &tlv(0x30, &tlv(0xa0, &tlv(0x0a, &[1]))));
        assert_eq!(offered(Scheme::Negotiate, &resp), None);
        assert_eq!(offered(Scheme::Negotiate, b""), None);
        assert_eq!(offered(Scheme::Negotiate, b"\x60\x7f"), None);
        assert_eq!(offered(Scheme::Negotiate, b"garbage"), None);
    }
}
