//! The parser against PACs from Windows, Samba and the MS-PAC example (see `vectors/README.md`
//! for their sources), and against damaged copies of them.

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn ms() -> Vec<u8> {
    hex(include_str!("vectors/ms-pac-example.logon-info.hex"))
}
fn testuser1() -> Vec<u8> {
    hex(include_str!("vectors/gokrb5-testuser1.logon-info.hex"))
}
fn trust() -> Vec<u8> {
    hex(include_str!("vectors/gokrb5-trust.logon-info.hex"))
}
fn samba_pac() -> Vec<u8> {
    hex(include_str!("vectors/krb5-samba-w2003final.pac.hex"))
}

fn sids(list: &[&str]) -> Vec<Sid> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn ms_pac_example() {
    let info = parse_logon_info(&ms()).unwrap();
    assert_eq!(info.user, "lzhu");
    assert_eq!(info.domain, "NTDEV");
    assert_eq!(info.logon_server, "NTDEV-DC-05");
    let domain = "S-1-5-21-397955417-626881126-188441444";
    assert_eq!(info.domain_sid.to_string(), domain);
    assert_eq!(info.user_sid.to_string(), format!("{domain}-2914711"));
    assert_eq!(info.primary_group_sid.to_string(), format!("{domain}-513"));
    assert_eq!(info.user_flags, 0x20);
    // 26 GroupIds (513 among them, also the primary group) + 13 ExtraSids, all enabled.
    let rids = [
        3392609, 2999049, 3322974, 513, 2931095, 3338539, 3354830, 3026599, 3338538, 2931096,
        3392610, 3342740, 3392630, 3014318, 2937394, 3278870, 3038018, 3322975, 3513546, 2966661,
        3338434, 3271401, 3051245, 3271606, 3026603, 3018354,
    ];
    let mut expected = vec![info.primary_group_sid.clone()];
    expected.extend(
        rids.iter()
            .filter(|r| **r != 513)
            .map(|r| format!("{domain}-{r}").parse::<Sid>().unwrap()),
    );
    assert_eq!(info.groups[..expected.len()], expected[..]);
    let extra = &info.groups[expected.len()..];
    assert_eq!(extra.len(), 13);
    assert_eq!(
        extra[0].to_string(),
        "S-1-5-21-773533881-1816936887-355810188-513"
    );
    assert_eq!(extra[1].to_string(), format!("{domain}-3101812"));
    assert_eq!(extra[11].to_string(), format!("{domain}-3248111"));
}

#[test]
fn samba_testuser1() {
    let info = parse_logon_info(&testuser1()).unwrap();
    assert_eq!(
        (info.user.as_str(), info.domain.as_str()),
        ("testuser1", "TEST")
    );
    let d = "S-1-5-21-3167651404-3865080224-2280184895";
    assert_eq!(info.user_sid.to_string(), format!("{d}-1105"));
    let expected: Vec<String> = [513, 1108, 1109, 1115, 1116, 1114, 1111]
        .iter()
        .map(|r| format!("{d}-{r}"))
        .collect();
    let got: Vec<String> = info.groups.iter().map(Sid::to_string).collect();
    assert_eq!(got, expected);
}

#[test]
fn trust_with_resource_groups() {
    let info = parse_logon_info(&trust()).unwrap();
    assert_eq!(
        (info.user.as_str(), info.domain.as_str()),
        ("testuser1", "USER")
    );
    assert_eq!(info.user_flags, 0x220);
    let d = "S-1-5-21-2284869408-3503417140-1141177250";
    assert_eq!(info.user_sid.to_string(), format!("{d}-1106"));
    let r = "S-1-5-21-3062750306-1230139592-1973306805";
    let expected = sids(&[
        &format!("{d}-513"),
        &format!("{d}-1110"),
        &format!("{d}-1109"),
        "S-1-18-1",
        &format!("{r}-1107"),
        &format!("{r}-1108"),
    ]);
    assert_eq!(info.groups, expected);
}

#[test]
fn whole_pacs() {
    let info = parse_pac(&samba_pac()).unwrap();
    assert_eq!(info.user, "W2003FINAL$");
    assert_eq!(info.domain, "WIN2K3THINK");
    assert_eq!(info.logon_server, "W2003FINAL");
    let d = "S-1-5-21-3048156945-3961193616-3706469200";
    assert_eq!(info.user_sid.to_string(), format!("{d}-1005"));
    assert_eq!(info.groups, sids(&[&format!("{d}-516"), "S-1-5-9"]));

    let info = parse_pac(&hex(include_str!("vectors/gokrb5-ad-win2k.pac.hex"))).unwrap();
    assert_eq!(info.user, "testuser1");
    for file in [
        include_str!("vectors/krb5-s4u-regular.pac.hex"),
        include_str!("vectors/krb5-s4u-xrealm.pac.hex"),
    ] {
        let info = parse_pac(&hex(file)).unwrap();
        assert_eq!(info.user, "w2k8u");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for full in [ms(), testuser1(), trust()] {
        for len in 0..full.len() - 8 {
            assert!(parse_logon_info(&full[..len]).is_err(), "len {len}");
        }
    }
    let pac = samba_pac();
    // The last buffer (the KDC signature) ends at 620; the 4 bytes after it are padding.
    assert!(parse_pac(&pac[..620]).is_ok());
    for len in 0..620 {
        // Cutting only a signature short keeps the logon info intact but puts that buffer past
        // the end: still refused.
        assert!(parse_pac(&pac[..len]).is_err(), "len {len}");
    }
}

#[test]
fn every_single_byte_change_is_refused_or_parsed() {
    // No panic, whatever byte changes; and changes in the fixed header are caught.
    for full in [ms(), trust()] {
        for i in 0..full.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut b = full.clone();
                b[i] = v;
                let _ = parse_logon_info(&b);
            }
        }
    }
}

/// Offsets in the logon-information buffer: the 16-byte header, then the NDR stream.
const NDR: usize = 16;
const GROUP_COUNT: usize = NDR + 4 + 48 + 48 + 4 + 8;
const USER_FLAGS: usize = GROUP_COUNT + 8;

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn damaged_headers_and_counts() {
    let good = testuser1();
    let mut b = good.clone();
    b[0] = 2;
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::SerializationHeader {
            what: "version not 1"
        })
    );
    let mut b = good.clone();
    b[1] = 0;
    assert!(matches!(
        parse_logon_info(&b),
        Err(PacError::SerializationHeader { .. })
    ));
    let mut b = good.clone();
    set32(&mut b, 8, 0xffff_fff8);
    assert!(matches!(
        parse_logon_info(&b),
        Err(PacError::ObjectLength { .. })
    ));
    // A huge group count is refused before anything proportional to it is allocated.
    let mut b = good.clone();
    set32(&mut b, GROUP_COUNT, u32::MAX);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::Inconsistent { what: "GroupIds" })
    );
    let mut b = good.clone();
    set32(&mut b, GROUP_COUNT, 4);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::Inconsistent { what: "GroupIds" })
    );
    // ... and when the array's conformance agrees, by the bytes that remain.
    let mut b = good.clone();
    let pat = [5u32.to_le_bytes(), 513u32.to_le_bytes()].concat();
    let conformance = b.windows(8).position(|w| w == pat).unwrap();
    set32(&mut b, GROUP_COUNT, u32::MAX);
    set32(&mut b, conformance, u32::MAX);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::Truncated {
            what: "GroupIds",
            offset: conformance - NDR
        })
    );
    // A null top-level pointer.
    let mut b = good.clone();
    set32(&mut b, NDR, 0);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::NullPointer {
            what: "KERB_VALIDATION_INFO"
        })
    );
    // Padding beyond 7 bytes after the object.
    let mut b = good.clone();
    b.extend([0; 8]);
    assert!(matches!(
        parse_logon_info(&b),
        Err(PacError::TrailingData { .. })
    ));
    let mut b = good.clone();
    b.extend(vec![0; MAX_PAC_LEN]);
    assert!(matches!(
        parse_logon_info(&b),
        Err(PacError::TooLong { .. })
    ));
}

#[test]
fn flags_gate_extra_and_resource_groups() {
    let mut b = testuser1();
    set32(&mut b, USER_FLAGS, 0);
    let info = parse_logon_info(&b).unwrap();
    assert_eq!(info.groups.len(), 5, "ExtraSids ignored without 0x20");
    let mut b = trust();
    set32(&mut b, USER_FLAGS, 0x20);
    let info = parse_logon_info(&b).unwrap();
    assert_eq!(
        info.groups.len(),
        4,
        "resource groups ignored without 0x200"
    );
}

#[test]
fn disabled_and_deny_only_groups_do_not_count() {
    // testuser1's GroupIds array: conformance, then (RID, attributes) pairs; find the pair
    // (1108, 7) and clear SE_GROUP_ENABLED, then make (1109, 7) deny-only.
    let mut b = testuser1();
    let find = |b: &[u8], rid: u32| {
        let pat = [rid.to_le_bytes(), 7u32.to_le_bytes()].concat();
        b.windows(8).position(|w| w == pat).unwrap()
    };
    let at = find(&b, 1108);
    set32(&mut b, at + 4, 3);
    let at = find(&b, 1109);
    set32(&mut b, at + 4, 0x17);
    let info = parse_logon_info(&b).unwrap();
    let got: Vec<u32> = info.groups.iter().filter_map(Sid::rid).collect();
    assert_eq!(got, [513, 1115, 1116, 1114, 1111]);
}

#[test]
fn pactype_is_strict() {
    let good = samba_pac();
    let mut b = good.clone();
    set32(&mut b, 4, 1);
    assert_eq!(parse_pac(&b), Err(PacError::Version { version: 1 }));
    let mut b = good.clone();
    set32(&mut b, 0, 0);
    assert_eq!(parse_pac(&b), Err(PacError::NoBuffers));
    let mut b = good.clone();
    set32(&mut b, 0, u32::MAX);
    assert!(matches!(parse_pac(&b), Err(PacError::Truncated { .. })));
    // Buffer 0 (the logon info) at a misaligned offset, inside the list, past the end.
    let mut b = good.clone();
    set32(&mut b, 8 + 8, 0x4c);
    assert!(matches!(
        parse_pac(&b),
        Err(PacError::BadBuffer { index: 0, .. })
    ));
    let mut b = good.clone();
    set32(&mut b, 8 + 8, 0x08);
    assert!(matches!(
        parse_pac(&b),
        Err(PacError::BadBuffer { index: 0, .. })
    ));
    let mut b = good.clone();
    set32(&mut b, 8 + 12, 1);
    assert!(matches!(
        parse_pac(&b),
        Err(PacError::BadBuffer { index: 0, .. })
    ));
    // Two logon-information buffers; none.
    let mut b = good.clone();
    set32(&mut b, 8 + 16, 1);
    assert_eq!(parse_pac(&b), Err(PacError::DuplicateLogonInfo));
    let mut b = good.clone();
    set32(&mut b, 8, 99);
    assert_eq!(parse_pac(&b), Err(PacError::NoLogonInfo));
}

/// testuser1's `EffectiveName` `RPC_UNICODE_STRING` header (Length, MaximumLength, pointer) and
/// its deferred body (MaximumCount, Offset, ActualCount, then "testuser1" in UTF-16LE).
const EFFECTIVE_NAME: usize = NDR + 4 + 48;
const EFFECTIVE_NAME_BODY: usize = 236;

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn string_headers_and_bodies_must_agree() {
    // MS-DTYP §2.3.10 RPC_UNICODE_STRING: Length and MaximumLength are even byte counts,
    // Length <= MaximumLength, and a null Buffer only for an empty string; the deferred
    // conformant varying array (C706 §14.3.3.4) has MaximumCount = MaximumLength / 2,
    // Offset 0 and ActualCount = Length / 2.
    let good = testuser1();
    assert_eq!(good[EFFECTIVE_NAME..EFFECTIVE_NAME + 4], [18, 0, 18, 0]);
    assert_eq!(
        good[EFFECTIVE_NAME_BODY..EFFECTIVE_NAME_BODY + 12],
        [9, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0]
    );
    let inconsistent = Err(PacError::Inconsistent {
        what: "EffectiveName",
    });
    type Change = fn(&mut Vec<u8>);
    let changes: [(&str, Change); 8] = [
        ("odd Length", |b| set16(b, EFFECTIVE_NAME, 17)),
        ("odd MaximumLength", |b| set16(b, EFFECTIVE_NAME + 2, 19)),
        ("Length over MaximumLength", |b| {
            set16(b, EFFECTIVE_NAME, 20);
            set16(b, EFFECTIVE_NAME + 2, 18);
        }),
        ("null Buffer with a Length", |b| {
            set32(b, EFFECTIVE_NAME + 4, 0)
        }),
        ("MaximumCount", |b| set32(b, EFFECTIVE_NAME_BODY, 10)),
        ("Offset", |b| set32(b, EFFECTIVE_NAME_BODY + 4, 1)),
        ("ActualCount", |b| set32(b, EFFECTIVE_NAME_BODY + 8, 8)),
        ("MaximumCount and MaximumLength both one unit longer", |b| {
            set16(b, EFFECTIVE_NAME + 2, 20);
            set32(b, EFFECTIVE_NAME_BODY, 10);
        }),
    ];
    for (what, change) in changes {
        let mut b = good.clone();
        change(&mut b);
        let got = parse_logon_info(&b);
        if what.starts_with("MaximumCount and") {
            // Consistent again: a name whose buffer has room for one more unit.
            assert_eq!(got.map(|i| i.user), Ok("testuser1".to_owned()), "{what}");
        } else {
            assert_eq!(got, inconsistent, "{what}");
        }
    }
    // An unpaired surrogate in the name.
    let mut b = good.clone();
    set16(&mut b, EFFECTIVE_NAME_BODY + 12, 0xd800);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::InvalidUtf16 {
            what: "EffectiveName"
        })
    );
}

#[test]
fn group_ids_and_sids_are_checked() {
    let good = testuser1();
    // GroupCount 5 with a null GroupIds pointer.
    let mut b = good.clone();
    set32(&mut b, GROUP_COUNT + 4, 0);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::NullPointer { what: "GroupIds" })
    );
    // LogonDomainId: RPC_SID's conformance is its SubAuthorityCount (MS-DTYP §2.4.2.3), at
    // most 15, and equal to the count inside the SID.
    const DOMAIN_SID: usize = 436;
    assert_eq!(good[DOMAIN_SID..DOMAIN_SID + 6], [4, 0, 0, 0, 1, 4]);
    let inconsistent = Err(PacError::Inconsistent {
        what: "LogonDomainId",
    });
    for conformance in [16, 5, 3] {
        let mut b = good.clone();
        set32(&mut b, DOMAIN_SID, conformance);
        assert_eq!(parse_logon_info(&b), inconsistent, "{conformance}");
    }
}

#[test]
fn the_serialisation_header_is_checked() {
    // MS-RPCE §2.2.6.1: version 1, 0x10 (little-endian), CommonHeaderLength 8; §2.2.6.2:
    // ObjectBufferLength a multiple of 8 that fits.
    let good = testuser1();
    let mut b = good.clone();
    set16(&mut b, 2, 16);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::SerializationHeader {
            what: "common header length not 8"
        })
    );
    let mut b = good.clone();
    b[1] = 0x00;
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::SerializationHeader {
            what: "not little-endian"
        })
    );
    let mut b = good.clone();
    set32(&mut b, 8, 536 - 4);
    b.truncate(552 - 4);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::ObjectLength {
            declared: 532,
            available: 532
        })
    );
    // Up to 7 bytes of padding after the object; 8 are refused.
    let mut b = good.clone();
    b.extend([0; 7]);
    assert!(parse_logon_info(&b).is_ok());
    b.push(0);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::TrailingData {
            what: "the NDR object",
            count: 8
        })
    );
}

#[test]
fn the_size_limits_are_inclusive() {
    // MAX_PAC_LEN bytes are read (and refused for what they hold), one more is not.
    let mut b = testuser1();
    b.resize(MAX_PAC_LEN, 0);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::TrailingData {
            what: "the NDR object",
            count: MAX_PAC_LEN - 552
        })
    );
    b.push(0);
    assert_eq!(
        parse_logon_info(&b),
        Err(PacError::TooLong {
            len: MAX_PAC_LEN + 1
        })
    );
    let mut pac = vec![0; MAX_PAC_LEN];
    assert_eq!(parse_pac(&pac), Err(PacError::NoBuffers));
    pac.push(0);
    assert_eq!(
        parse_pac(&pac),
        Err(PacError::TooLong {
            len: MAX_PAC_LEN + 1
        })
    );
}

#[test]
fn a_buffer_list_that_fills_the_pac() {
    // One PAC_INFO_BUFFER (type 1, size 0, at offset 24): the list ends where the PAC does,
    // which is allowed; the empty logon information then is not.
    let mut pac = vec![0; 24];
    set32(&mut pac, 0, 1);
    set32(&mut pac, 8, LOGON_INFO_TYPE);
    set32(&mut pac, 16, 24);
    assert_eq!(
        parse_pac(&pac),
        Err(PacError::Truncated {
            what: "type-serialisation header",
            offset: 0
        })
    );
}
