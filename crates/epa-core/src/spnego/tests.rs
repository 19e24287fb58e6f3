use super::*;

/// pyspnego 0.12 (`protocol="negotiate"`, its own SPNEGO, no Kerberos credential): a
/// NegTokenInit offering NTLM only, with the NTLM NEGOTIATE message as the optimistic token.
const PYSPNEGO_INIT: &str = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000378208e200000000280000000000000028000000000c04000000000f";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

/// A DER TLV with a minimal length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn resp(fields: &[Vec<u8>]) -> Vec<u8> {
    tlv(0xa1, &tlv(0x30, &fields.concat()))
}

fn init(fields: &[Vec<u8>]) -> Vec<u8> {
    let inner = tlv(0xa0, &tlv(0x30, &fields.concat()));
    tlv(0x60, &[tlv(0x06, SPNEGO_OID), inner].concat())
}

fn mech_types(oids: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = oids.iter().flat_map(|o| tlv(0x06, o)).collect();
    tlv(0xa0, &tlv(0x30, &list))
}

fn octets(tag: u8, content: &[u8]) -> Vec<u8> {
    tlv(tag, &tlv(0x04, content))
}

const NTLM_AUTH: &[u8] = b"NTLMSSP\0\x03\x00\x00\x00rest";

#[test]
fn reads_pyspnego_neg_token_init() {
    let token = hex(PYSPNEGO_INIT);
    let Ok(NegotiationToken::Init(init)) = parse(&token) else {
        panic!("{:?}", parse(&token));
    };
    assert_eq!(init.mech_types, vec![NTLM_OID]);
    let mech_token = init.mech_token.unwrap_or_default();
    assert!(mech_token.starts_with(NTLMSSP_SIGNATURE));
    assert_eq!(
        classify(&token).map(|t| t.ntlm_message()),
        Ok(Some(mech_token))
    );
}

#[test]
fn reads_neg_token_resp_with_every_field() {
    let token = resp(&[
        tlv(0xa0, &tlv(0x0a, &[1])),
        tlv(0xa1, &tlv(0x06, NTLM_OID)),
        octets(0xa2, NTLM_AUTH),
        octets(0xa3, b"mic"),
    ]);
    assert_eq!(
        parse(&token),
        Ok(NegotiationToken::Resp(NegTokenResp {
            neg_state: Some(NegState::AcceptIncomplete),
            supported_mech: Some(NTLM_OID),
            response_token: Some(NTLM_AUTH),
            mech_list_mic: Some(b"mic"),
        }))
    );
    assert_eq!(
        classify(&token).map(|t| t.ntlm_message()),
        Ok(Some(NTLM_AUTH))
    );
}

#[test]
fn raw_tokens_are_classified_not_parsed() {
    assert_eq!(classify(NTLM_AUTH), Ok(NegotiateToken::RawNtlm(NTLM_AUTH)));
    let krb5 = tlv(0x60, &[tlv(0x06, KRB5_OID), vec![1, 0, 0x6e, 0]].concat());
    assert_eq!(classify(&krb5), Ok(NegotiateToken::Other));
    assert_eq!(classify(b"\x01garbage"), Ok(NegotiateToken::Other));
    assert_eq!(classify(&[]), Err(SpnegoError::Empty));
    // A Kerberos token inside SPNEGO carries no NTLM message.
    let spnego_krb5 = init(&[mech_types(&[KRB5_OID]), octets(0xa2, &krb5)]);
    assert_eq!(classify(&spnego_krb5).map(|t| t.ntlm_message()), Ok(None));
}

#[test]
fn long_form_lengths_are_read() {
    let big = [b"NTLMSSP\0".as_slice(), &[0u8; 300]].concat();
    let token = resp(&[octets(0xa2, &big)]);
    assert_eq!(
        parse(&token).map(|t| t.inner_token()),
        Ok(Some(big.as_slice()))
    );
}

#[test]
fn ber_lengths_are_refused() {
    // Indefinite length on the outer TLV.
    let mut token = resp(&[octets(0xa2, NTLM_AUTH)]);
    token[1] = 0x80;
    assert!(matches!(
        parse(&token),
        Err(SpnegoError::IndefiniteLength { .. })
    ));
    // 0x81 0x05: a long form for a length under 128.
    let token = [&[0xa1, 0x81, 0x05][..], &tlv(0x30, &tlv(0xa0, &[]))[..]].concat();
    assert!(matches!(
        parse(&token),
        Err(SpnegoError::NonMinimalLength { .. })
    ));
    // 0x82 0x00 0x90: a leading zero octet.
    let body = tlv(0x30, &octets(0xa2, &[b'N'; 0x88]));
    let token = [&[0xa1, 0x82, 0x00, body.len() as u8][..], &body[..]].concat();
    assert!(matches!(
        parse(&token),
        Err(SpnegoError::NonMinimalLength { .. })
    ));
    // Five length octets.
    assert!(matches!(
        parse(&[0xa1, 0x85, 0, 0, 0, 0, 1, 0]),
        Err(SpnegoError::NonMinimalLength { .. })
    ));
}

#[test]
fn trailing_and_truncated_and_wrong_tags_are_refused() {
    let good = resp(&[octets(0xa2, NTLM_AUTH)]);
    let trailing = [good.as_slice(), &[0]].concat();
    assert!(matches!(
        parse(&trailing),
        Err(SpnegoError::TrailingData { .. })
    ));
    for cut in 1..good.len() {
        assert!(
            matches!(parse(&good[..cut]), Err(SpnegoError::Truncated { .. })),
            "cut at {cut}: {:?}",
            parse(&good[..cut])
        );
    }
    // The responseToken as a BIT STRING instead of an OCTET STRING.
    let wrong = resp(&[tlv(0xa2, &tlv(0x03, NTLM_AUTH))]);
    assert!(matches!(parse(&wrong), Err(SpnegoError::WrongTag { .. })));
    // Fields out of order, or twice: left over, hence trailing.
    let swapped = resp(&[octets(0xa2, NTLM_AUTH), tlv(0xa0, &tlv(0x0a, &[1]))]);
    assert!(matches!(
        parse(&swapped),
        Err(SpnegoError::TrailingData { .. })
    ));
    let twice = resp(&[octets(0xa2, NTLM_AUTH), octets(0xa2, NTLM_AUTH)]);
    assert!(matches!(
        parse(&twice),
        Err(SpnegoError::TrailingData { .. })
    ));
    // An unknown field [4].
    let unknown = resp(&[octets(0xa4, b"x")]);
    assert!(matches!(
        parse(&unknown),
        Err(SpnegoError::TrailingData { .. })
    ));
    // Two values inside one explicit tag.
    let two = resp(&[tlv(0xa2, &[tlv(0x04, b"a"), tlv(0x04, b"b")].concat())]);
    assert!(matches!(parse(&two), Err(SpnegoError::TrailingData { .. })));
}

#[test]
fn framing_and_fields_are_checked() {
    // Framing naming Kerberos, parsed as SPNEGO: refused.
    let krb5 = tlv(0x60, &[tlv(0x06, KRB5_OID), vec![1, 0]].concat());
    assert!(matches!(parse(&krb5), Err(SpnegoError::NotSpnego { .. })));
    // An empty MechTypeList.
    let empty = init(&[mech_types(&[])]);
    assert_eq!(parse(&empty), Err(SpnegoError::MechTypeCount { count: 0 }));
    // Too many mechanisms.
    let many = init(&[mech_types(&[NTLM_OID; MAX_MECH_TYPES + 1])]);
    assert!(matches!(
        parse(&many),
        Err(SpnegoError::MechTypeCount { .. })
    ));
    // Non-minimal OID sub-identifier (0x80 leading), unterminated OID, empty OID.
    for oid in [&[0x2b, 0x80, 0x01][..], &[0x2b, 0x86][..], &[][..]] {
        let token = init(&[mech_types(&[oid])]);
        assert!(
            matches!(parse(&token), Err(SpnegoError::BadOid { .. })),
            "{oid:?}"
        );
    }
    // negState out of range, or not minimal.
    for state in [&[4u8][..], &[0, 1][..], &[][..]] {
        let token = resp(&[tlv(0xa0, &tlv(0x0a, state))]);
        assert!(
            matches!(parse(&token), Err(SpnegoError::BadNegState { .. })),
            "{state:?}"
        );
    }
    // reqFlags: unused-bit count over 7, or a lone non-zero count.
    for bits in [&[8u8, 0][..], &[1][..], &[][..]] {
        let token = init(&[mech_types(&[NTLM_OID]), tlv(0xa1, &tlv(0x03, bits))]);
        assert!(
            matches!(parse(&token), Err(SpnegoError::BadReqFlags { .. })),
            "{bits:?}"
        );
    }
    let ok = init(&[mech_types(&[NTLM_OID]), tlv(0xa1, &tlv(0x03, &[1, 0x80]))]);
    assert!(parse(&ok).is_ok());
    // A NegTokenResp inside the framing, or a NegTokenInit without it.
    let resp_framed = tlv(0x60, &[tlv(0x06, SPNEGO_OID), resp(&[])].concat());
    assert!(matches!(
        parse(&resp_framed),
        Err(SpnegoError::WrongTag { .. })
    ));
    let bare_init = tlv(0xa0, &tlv(0x30, &mech_types(&[NTLM_OID])));
    assert!(matches!(
        parse(&bare_init),
        Err(SpnegoError::WrongTag { .. })
    ));
    // A multi-octet tag is never SPNEGO.
    assert!(matches!(
        parse(&[0xbf, 0x01, 0x00]),
        Err(SpnegoError::WrongTag { .. })
    ));
}

#[test]
fn size_limit() {
    let huge = vec![0xa1; MAX_TOKEN_LEN + 1];
    assert_eq!(
        parse(&huge),
        Err(SpnegoError::TooLong {
            len: MAX_TOKEN_LEN + 1
        })
    );
}

#[test]
fn the_size_limits_are_inclusive() {
    // MAX_TOKEN_LEN bytes are read (and refused for what they are, not for their size).
    let at_limit = vec![0xa1; MAX_TOKEN_LEN];
    assert!(matches!(
        parse(&at_limit),
        Err(SpnegoError::NonMinimalLength { .. })
    ));
    assert_eq!(parse(&[]), Err(SpnegoError::Empty));
    assert_eq!(initial_context_token(&[]), Err(SpnegoError::Empty));
    // MAX_MECH_TYPES mechanisms are a valid MechTypeList, one more is not.
    let most = init(&[mech_types(&[NTLM_OID; MAX_MECH_TYPES])]);
    let Ok(NegotiationToken::Init(read)) = parse(&most) else {
        panic!("{:?}", parse(&most));
    };
    assert_eq!(read.mech_types.len(), MAX_MECH_TYPES);
    let many = init(&[mech_types(&[NTLM_OID; MAX_MECH_TYPES + 1])]);
    assert_eq!(
        parse(&many),
        Err(SpnegoError::MechTypeCount {
            count: MAX_MECH_TYPES + 1
        })
    );
}

#[test]
fn every_neg_state_and_an_empty_req_flags_are_read() {
    // RFC 4178 §4.2.2: negState ENUMERATED { accept-completed (0), accept-incomplete (1),
    // reject (2), request-mic (3) }.
    let states = [
        NegState::AcceptCompleted,
        NegState::AcceptIncomplete,
        NegState::Reject,
        NegState::RequestMic,
    ];
    for (value, state) in (0u8..).zip(states) {
        let token = resp(&[tlv(0xa0, &tlv(0x0a, &[value]))]);
        let Ok(NegotiationToken::Resp(read)) = parse(&token) else {
            panic!("{value}: {:?}", parse(&token));
        };
        assert_eq!(read.neg_state, Some(state));
    }
    // reqFlags ContextFlags ::= BIT STRING: no bits at all is `03 01 00` (X.690 §8.6.2.3).
    let token = init(&[mech_types(&[NTLM_OID]), tlv(0xa1, &tlv(0x03, &[0]))]);
    let Ok(NegotiationToken::Init(read)) = parse(&token) else {
        panic!("{:?}", parse(&token));
    };
    assert_eq!(read.req_flags, Some(&[0u8][..]));
}

#[test]
fn a_long_form_length_starts_at_128() {
    // X.690 §10.1: 127 takes the short form, 128 the long form `81 80`.
    for len in [0x7f, 0x80] {
        let content = vec![b'N'; len];
        let token = resp(&[octets(0xa2, &content)]);
        assert_eq!(
            parse(&token).map(|t| t.inner_token()),
            Ok(Some(content.as_slice())),
            "{len}"
        );
    }
}

#[test]
fn errors_name_the_offset_in_the_whole_token() {
    // a1 0e 30 0c | a0 03 0a 01 01 | a1 05 06 03 2b 80 01: the supportedMech's [1] at offset 9.
    let token = resp(&[
        tlv(0xa0, &tlv(0x0a, &[1])),
        tlv(0xa1, &tlv(0x06, &[0x2b, 0x80, 0x01])),
    ]);
    assert_eq!(parse(&token), Err(SpnegoError::BadOid { offset: 9 }));
    // negState at offset 4: a1 07 30 05 | a0 03 0a 01 04.
    let token = resp(&[tlv(0xa0, &tlv(0x0a, &[4]))]);
    assert_eq!(parse(&token), Err(SpnegoError::BadNegState { offset: 4 }));
    // The framing (60 L 06 06 <6 octets>) is 10 bytes, then a0 L 30 L a0 L 30 L: the
    // MechTypeList's content starts at 18, its second OID (after NTLM's 12 bytes) at 30.
    let token = init(&[mech_types(&[NTLM_OID, &[0x2b, 0x80, 0x01]])]);
    assert_eq!(parse(&token), Err(SpnegoError::BadOid { offset: 30 }));
    let token = init(&[mech_types(&[&[0x2b, 0x86]])]);
    assert_eq!(parse(&token), Err(SpnegoError::BadOid { offset: 18 }));
    // A wrong inner tag: after the 16-byte mechTypes (14..30), the mechToken's [2] at 30 holds
    // a BIT STRING at 32.
    let token = init(&[mech_types(&[NTLM_OID]), tlv(0xa2, &tlv(0x03, &[0]))]);
    assert_eq!(
        parse(&token),
        Err(SpnegoError::WrongTag {
            what: "mechToken",
            offset: 32,
            found: 0x03
        })
    );
}
