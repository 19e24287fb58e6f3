//! NTLMv2 key derivation and checks (MS-NLMP §3.3.2, §3.4.4, §3.1.5.1.2).

use hmac::{KeyInit as _, Mac as _};
use md4::{Digest as _, Md4};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::wire;

type HmacMd5 = hmac::Hmac<md5::Md5>;

/// A 16-byte secret (NT hash, response key, session key), wiped when dropped.
pub type Key16 = Zeroizing<[u8; 16]>;

/// The NT one-way function: MD4 of the UTF-16LE password (MS-NLMP §3.3.1 `NTOWFv1`).
/// The password is fed unit by unit, so no UTF-16 copy of it is left behind.
pub fn nt_hash(password: &str) -> Key16 {
    let mut md4 = Md4::new();
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    Zeroizing::new(md4.finalize().into())
}

#[cfg(test)]
thread_local! {
    /// HMAC-MD5 invocations on this thread (tests: an unknown user must cost the same work as a
    /// wrong password).
    pub static HMAC_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// HMAC-MD5 over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Key16 {
    #[cfg(test)]
    HMAC_CALLS.with(|c| c.set(c.get() + 1));
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = match HmacMd5::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    for p in parts {
        mac.update(p);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cold]
fn unreachable_hmac() -> ! {
    // ok: HMAC is defined for every key length (RFC 2104 §2), so the constructor never fails.
    panic!("HMAC-MD5 rejected a key")
}

/// `NTOWFv2(user, domain)` = HMAC_MD5(NT hash, UTF16LE(Uppercase(user) || domain))
/// (MS-NLMP §3.3.2). The user is upper-cased as Windows does (simple, per UTF-16 unit:
/// [`crate::casing::upcase`]), the domain is used as the client sent it.
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> Key16 {
    let identity = wire::utf16le(&format!("{}{}", crate::casing::upcase(user), domain));
    hmac_md5(nt_hash, &[&identity])
}

/// `NTProofStr` = HMAC_MD5(ResponseKeyNT, ServerChallenge || temp) where `temp` is the client's
/// NTLMv2 blob (the NtChallengeResponse after its first 16 bytes).
pub fn nt_proof(response_key: &[u8; 16], server_challenge: &[u8; 8], blob: &[u8]) -> Key16 {
    hmac_md5(response_key, &[server_challenge, blob])
}

/// Constant-time equality of two 16-byte values.
pub fn ct_eq16(a: &[u8], b: &[u8; 16]) -> bool {
    a.len() == 16 && bool::from(a.ct_eq(b.as_slice()))
}

/// RC4 with a 16-byte key over `data` (MS-NLMP §3.4.4.2 key exchange).
pub fn rc4(key: &[u8; 16], data: &[u8; 16]) -> Key16 {
    use rc4::{KeyInit as _, StreamCipher as _};
    let mut out = Zeroizing::new(*data);
    // RC4 takes keys of 1..=256 bytes, so a 16-byte key is always accepted.
    if let Ok(mut cipher) = rc4::Rc4::new_from_slice(key) {
        cipher.apply_keystream(out.as_mut_slice());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // MS-NLMP §4.2.1 / §4.2.4 test values: user "User", domain "Domain", password "Password".
    #[test]
    fn ms_nlmp_4_2_vectors() {
        let nt = nt_hash("Password");
        assert_eq!(hex::encode(*nt), "a4f49c406510bdcab6824ee7c30fd852");
        let key = ntowf_v2(&nt, "User", "Domain");
        assert_eq!(hex::encode(*key), "0c868a403bfd7a93a3001ef22ef02e3f");
        // §4.2.4.2.2: NTProofStr over the server challenge and the example temp.
        let server_challenge = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let temp = hex::decode(concat!(
            "0101000000000000",
            "0000000000000000",
            "aaaaaaaaaaaaaaaa",
            "00000000",
            "02000c0044006f006d00610069006e00",
            "01000c0053006500720076006500720000000000",
            "00000000"
        ))
        .unwrap();
        assert_eq!(
            hex::encode(*nt_proof(&key, &server_challenge, &temp)),
            "68cd0ab851e51c96aabc927bebef6a1c"
        );
        // SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr).
        let proof = nt_proof(&key, &server_challenge, &temp);
        assert_eq!(
            hex::encode(*hmac_md5(key.as_slice(), &[proof.as_slice()])),
            "8de40ccadbc14a82f15cb0ad0de95ca3"
        );
        // §4.2.4.2.3: EncryptedSessionKey = RC4(KeyExchangeKey, RandomSessionKey).
        let enc = rc4(&hmac_md5(key.as_slice(), &[proof.as_slice()]), &[0x55; 16]);
        assert_eq!(hex::encode(*enc), "c5dad2544fc9799094ce1ce90bc9d03e");
    }

    /// Equal only when both are the same 16 bytes: a shorter, longer or different value fails.
    #[test]
    fn ct_eq16_needs_the_same_sixteen_bytes() {
        let b = [7u8; 16];
        assert!(ct_eq16(&[7; 16], &b));
        let mut other = [7u8; 16];
        other[15] = 8;
        assert!(!ct_eq16(&other, &b));
        assert!(!ct_eq16(&[7; 15], &b));
        assert!(!ct_eq16(&[7; 17], &b));
        assert!(!ct_eq16(&[], &b));
    }

    /// Windows upper-cases the user one UTF-16 unit at a time (`ß`, `ﬁ` unchanged); the full
    /// mapping (`SS`, `FI`) gave other keys, so such users could never log on. Expected values
    /// from pyspnego's `ntowfv1`/`ntowfv2` (`ntowfv2("", nt, "STRAßE" + domain)`: pyspnego
    /// upper-cases with Python's full mapping, so the Windows form is passed pre-folded; the
    /// folded forms are UnicodeData.txt's simple mappings, e.g. Perl `charinfo(0xDF)->{upper}`
    /// is empty).
    const WINDOWS_VECTORS: [(&str, &str, &str, &str, &str, &str); 3] = [
        // user, Windows upper, domain, password, NTOWFv2 (Windows), NTOWFv2 (full mapping)
        (
            "straße",
            "STRAßE",
            "EXAMPLE",
            "Pässwörd",
            "2af7d103b5aec996873e4f8d5dac8f74",
            "f6ef8e2d20f18d04ea966b867faf3cc2",
        ),
        (
            "ﬁle",
            "ﬁLE",
            "Example",
            "pw-ﬁ",
            "143ad1a03978e37c9d93516e417a0308",
            "ff16e29c299939732fbf1ee2410e8d47",
        ),
        (
            "émile",
            "ÉMILE",
            "EXAMPLE",
            "x",
            "d9acdaac8576ae220404f8ca0ba52c3d",
            "d9acdaac8576ae220404f8ca0ba52c3d",
        ),
    ];

    #[test]
    fn ntowf_v2_upper_cases_the_user_as_windows_does() {
        for (user, upper, domain, password, windows, full) in WINDOWS_VECTORS {
            assert_eq!(crate::casing::upcase(user), upper);
            let key = ntowf_v2(&nt_hash(password), user, domain);
            assert_eq!(hex::encode(*key), windows, "{user}");
            if windows != full {
                assert_ne!(hex::encode(*key), full, "{user}");
            }
        }
    }

    /// The same vectors recomputed by pyspnego when `EPA_TEST_PYTHON` names a Python with it.
    #[test]
    fn ntowf_v2_agrees_with_pyspnego() {
        let Ok(python) = std::env::var("EPA_TEST_PYTHON") else {
            eprintln!("EPA_TEST_PYTHON not set: pinned vectors only");
            return;
        };
        let script = "import sys\nfrom spnego._ntlm_raw.crypto import ntowfv1, ntowfv2\n\
            u, d, p = sys.argv[1:4]\nprint(ntowfv2('', ntowfv1(p), u + d).hex())";
        for (user, upper, domain, password, _, _) in WINDOWS_VECTORS {
            let out = std::process::Command::new(&python)
                .args(["-c", script, upper, domain, password])
                .output()
                .expect("run EPA_TEST_PYTHON");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let ours = hex::encode(*ntowf_v2(&nt_hash(password), user, domain));
            assert_eq!(ours, theirs, "{user}");
        }
    }
}
