use super::*;

/// The TLS stream behind the header: what the handshake must still see, byte for byte.
const TLS: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03rest-of-hello";

fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn v4_payload() -> Vec<u8> {
    let mut p = vec![192, 0, 2, 7, 10, 0, 0, 1];
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&443u16.to_be_bytes());
    p
}

/// Reads `header ++ TLS` at every chunk size; the result must not depend on it, and on success
/// exactly the TLS bytes are left.
fn read_all_ways(header: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut first = None;
    for chunk in [1, 2, 3, 7, 13, 16, 64, 4096] {
        let mut input = header.to_vec();
        input.extend_from_slice(TLS);
        let mut source = ChunkedBytes::new(input, chunk);
        let got = rt.block_on(read_header(&mut source));
        if let Ok(h) = &got {
            assert_eq!(
                source.rest(),
                TLS,
                "chunk {chunk}: the TLS bytes are left whole"
            );
            assert_eq!(h.length, header.len());
        }
        let shown = format!("{got:?}");
        match &first {
            None => first = Some((shown, got)),
            Some((f, _)) => assert_eq!(f, &shown, "chunk {chunk}"),
        }
    }
    first.unwrap().1
}

#[test]
fn v1_tcp4_tcp6_unknown() {
    let h = read_all_ways(b"PROXY TCP4 192.0.2.7 10.0.0.1 40000 443\r\n").unwrap();
    assert_eq!(h.version, Version::V1);
    assert_eq!(
        h.carried,
        Carried::Client("192.0.2.7:40000".parse().unwrap())
    );
    let h = read_all_ways(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\n").unwrap();
    assert_eq!(
        h.carried,
        Carried::Client("[2001:db8::7]:40000".parse().unwrap())
    );
    let h = read_all_ways(b"PROXY UNKNOWN\r\n").unwrap();
    assert_eq!(h.carried, Carried::Unknown);
    // UNKNOWN may carry anything up to the CRLF (proxy-protocol.txt §2.1).
    let h = read_all_ways(b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n").unwrap();
    assert_eq!(h.carried, Carried::Unknown);
}

#[test]
fn v1_longest_header_is_read_and_one_byte_more_is_refused() {
    let longest = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(longest.len(), 104);
    assert!(read_all_ways(longest).is_ok());
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(V1_MAX - 2, b'x');
    long.extend_from_slice(b"\r\n");
    assert!(read_all_ways(&long).is_ok(), "107 bytes with CRLF");
    let mut over = b"PROXY UNKNOWN ".to_vec();
    over.resize(V1_MAX + 40, b'x');
    over.extend_from_slice(b"\r\n");
    assert!(matches!(
        read_all_ways(&over),
        Err(ProxyHeaderError::V1TooLong)
    ));
}

#[test]
fn v1_malformed_is_refused_with_the_text_escaped() {
    for bad in [
        &b"PROXY TCP4 192.0.2.7 10.0.0.1 40000\r\n"[..],
        b"PROXY TCP4 999.0.2.7 10.0.0.1 40000 443\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 040000 443\r\n",
        b"PROXY TCP5 192.0.2.7 10.0.0.1 40000 443\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 40000 443\n",
        b"PROXY UNKNOWN x \n",
        b"PROXY UNKNOWN ]\x01\0\0\0\0\0\0@OXY \n",
        b"PROXY TCP4 192.0.2.7\r10.0.0.1 40000 443\r\n",
        b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2 3\r\n",
        b"PROXY \x1b[31m\xff 10.0.0.1 1 2\r\n",
    ] {
        let e = read_all_ways(bad).unwrap_err();
        assert_eq!(e.reason(), "v1-malformed", "{e}");
        let text = e.to_string();
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text}");
    }
}

#[test]
fn v2_ipv4_ipv6_local_unspec_with_tlvs_skipped() {
    let h = read_all_ways(&v2(1, 0x11, &v4_payload())).unwrap();
    assert_eq!(h.version, Version::V2);
    assert_eq!(
        h.carried,
        Carried::Client("192.0.2.7:40000".parse().unwrap())
    );
    let mut p6 = Vec::new();
    p6.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p6.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p6.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
    let h = read_all_ways(&v2(1, 0x21, &p6)).unwrap();
    assert_eq!(
        h.carried,
        Carried::Client("[2001:db8::7]:40000".parse().unwrap())
    );
    // TLVs (AWS NLB's type 0xEA with its endpoint id, a NOOP) are skipped.
    let mut tlv = v4_payload();
    tlv.extend_from_slice(&[0xea, 0x00, 0x05, 0x01, b'v', b'p', b'c', b'e']);
    tlv.extend_from_slice(&[0x04, 0x00, 0x02, 0, 0]);
    let h = read_all_ways(&v2(1, 0x11, &tlv)).unwrap();
    assert_eq!(
        h.carried,
        Carried::Client("192.0.2.7:40000".parse().unwrap())
    );
    // LOCAL (a health check), whatever its addresses: the TCP peer stays.
    assert_eq!(
        read_all_ways(&v2(0, 0x00, &[])).unwrap().carried,
        Carried::Local
    );
    assert_eq!(
        read_all_ways(&v2(0, 0x11, &v4_payload())).unwrap().carried,
        Carried::Local
    );
    // AF_UNSPEC and AF_UNIX under PROXY: the TCP peer stays.
    assert_eq!(
        read_all_ways(&v2(1, 0x00, &[])).unwrap().carried,
        Carried::Unknown
    );
    assert_eq!(
        read_all_ways(&v2(1, 0x31, &[0; 216])).unwrap().carried,
        Carried::Unknown
    );
}

#[test]
fn v2_malformed_oversized_datagram_are_refused() {
    let reason = |h: &[u8]| read_all_ways(h).unwrap_err().reason();
    assert_eq!(reason(&v2(1, 0x12, &v4_payload())), "datagram");
    assert_eq!(
        reason(&v2(2, 0x11, &v4_payload())),
        "v2-malformed",
        "command 2"
    );
    assert_eq!(
        reason(&v2(1, 0x41, &v4_payload())),
        "v2-malformed",
        "family 4"
    );
    assert_eq!(
        reason(&v2(1, 0x11, &v4_payload()[..8])),
        "v2-malformed",
        "short addresses"
    );
    let mut version1 = v2(1, 0x11, &v4_payload());
    version1[12] = 0x11;
    assert_eq!(reason(&version1), "v2-malformed");
    assert_eq!(
        reason(&v2(1, 0x11, &[0; V2_MAX_PAYLOAD + 1])),
        "v2-too-long"
    );
    assert!(
        read_all_ways(&v2(1, 0x11, &[0; V2_MAX_PAYLOAD])).is_ok(),
        "512 bytes of TLV padding"
    );
    let mut huge = V2_SIGNATURE.to_vec();
    huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert!(matches!(
        read_all_ways(&huge),
        Err(ProxyHeaderError::V2TooLong { length: 65535 })
    ));
}

#[test]
fn truncated_and_missing_headers_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let full = v2(1, 0x11, &v4_payload());
    for cut in [0, 5, 12, 15, 20] {
        let e = rt
            .block_on(read_header(&mut ChunkedBytes::new(full[..cut].to_vec(), 3)))
            .unwrap_err();
        assert_eq!(e.reason(), "truncated", "cut at {cut}");
    }
    let v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 40000 443\r\n";
    for cut in [3, 12, 20, v1.len() - 1] {
        let e = rt
            .block_on(read_header(&mut ChunkedBytes::new(v1[..cut].to_vec(), 5)))
            .unwrap_err();
        assert_eq!(e.reason(), "truncated", "cut at {cut}");
    }
    // A listed peer that starts the TLS handshake (or anything else) at once.
    let e = read_all_ways(TLS).unwrap_err();
    assert_eq!(e.reason(), "missing");
    assert!(e.to_string().contains("\\x16\\x03\\x01"), "{e}");
    assert_eq!(
        read_all_ways(b"GET / HTTP/1.1\r\n").unwrap_err().reason(),
        "missing"
    );
    assert_eq!(
        read_all_ways(b"PROXYTCP4 1.2.3.4\r\n")
            .unwrap_err()
            .reason(),
        "missing"
    );
}

#[test]
fn a_header_from_an_unlisted_peer_is_recognised() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let looks = |bytes: &[u8], chunk| {
        rt.block_on(looks_like_header(&mut ChunkedBytes::new(
            bytes.to_vec(),
            chunk,
        )))
        .unwrap()
    };
    assert!(looks(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 64));
    assert!(looks(b"PROXY", 64));
    assert!(looks(&v2(1, 0x11, &v4_payload()), 64));
    assert!(looks(&V2_SIGNATURE[..8], 64));
    assert!(!looks(TLS, 64));
    assert!(!looks(b"POST / HTTP/1.1\r\n", 64));
    assert!(!looks(b"PROXZ", 64));
    assert!(!looks(b"PRO", 64), "too few bytes to tell");
    assert!(!looks(b"", 64));
}
