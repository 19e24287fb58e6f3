//! The channel-binding vectors in `tests/data/channel-binding-vectors.json`, computed by
//! implementations nobody here wrote (requests-ntlm, pyspnego, Python `cryptography`, openssl).
//! See `tests/data/VECTORS.md` for the format. Every vector must pass.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::cbt::{
    self, CertificateError, ChannelBinding, DerError, HashBasis, HashRule, PemError, SignatureError,
};
use epa::gss::{AddressType, GssChannelBindings};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = include_str!("data/channel-binding-vectors.json");
    serde_json::from_str(text).expect("vector file parses")
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("vector {} lacks key {key}", v["id"]))
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(field(v, key).as_str().expect("hex string")).expect("valid hex")
}

fn input(v: &Value) -> Vec<u8> {
    STANDARD
        .decode(field(v, "input_b64").as_str().unwrap_or(""))
        .expect("valid base64 in the vector file")
}

fn of_category(category: &str) -> Vec<Value> {
    let all: Vec<Value> = vectors()
        .into_iter()
        .filter(|v| v["category"] == category)
        .collect();
    assert!(!all.is_empty(), "no {category} vectors");
    all
}

#[test]
fn the_vector_file_has_every_category() {
    let all = vectors();
    assert_eq!(all.len(), 35, "vector count changed: update the tests");
    assert_eq!(of_category("certificate").len(), 20);
    assert_eq!(of_category("malformed").len(), 7);
    assert_eq!(of_category("bindings").len(), 8);
}

#[test]
fn certificate_vectors_hash_application_data_struct_and_md5() {
    for v in of_category("certificate") {
        let id = v["id"].as_str().unwrap();
        let (der, ep) = cbt::tls_server_end_point_auto(&input(&v), HashRule::Interoperable)
            .unwrap_or_else(|e| panic!("{id}: {e}"));

        assert_eq!(
            der,
            STANDARD.decode(v["der_b64"].as_str().unwrap()).unwrap(),
            "{id}: DER"
        );
        assert_eq!(
            ep.hash_algorithm().name(),
            v["cb_hash"].as_str().unwrap(),
            "{id}: hash algorithm"
        );
        assert_eq!(
            ep.binding.payload(),
            hex_field(&v, "cb_hash_hex"),
            "{id}: hash"
        );
        assert_eq!(
            ep.binding.application_data(),
            hex_field(&v, "application_data_hex"),
            "{id}: application data"
        );
        let gss = GssChannelBindings::from(&ep.binding);
        assert_eq!(
            gss.to_bytes().unwrap(),
            hex_field(&v, "gss_channel_bindings_hex"),
            "{id}: struct"
        );
        let md5 = gss.md5().unwrap();
        assert_eq!(
            md5.as_bytes().as_slice(),
            hex_field(&v, "channel_bindings_md5_hex"),
            "{id}: MD5"
        );
        // What a real NTLM AUTHENTICATE message carried.
        assert_eq!(
            md5.as_bytes().as_slice(),
            hex_field(&v, "ntlm_msv_av_channel_bindings_hex"),
            "{id}: MsvAvChannelBindings"
        );
        assert!(!md5.is_unbound());

        // The basis is explicit: RFC-defined exactly when the vector says so.
        let defined = v["rfc5929_defined"].as_bool().unwrap();
        assert_eq!(
            ep.basis() != HashBasis::NotDefinedByRfc5929,
            defined,
            "{id}: basis"
        );
        if defined {
            assert_eq!(
                ep.hash_algorithm().name(),
                v["rfc5929_hash"].as_str().unwrap(),
                "{id}"
            );
            let md5_or_sha1 = matches!(ep.basis(), HashBasis::Rfc5929Upgraded);
            let name = v["sig_alg_name"].as_str().unwrap().to_ascii_lowercase();
            assert_eq!(
                md5_or_sha1,
                name.contains("md5") || name.contains("sha1"),
                "{id}"
            );
        }
    }
}

#[test]
fn certificate_vectors_signature_algorithm_matches_openssl() {
    for v in of_category("certificate") {
        let id = v["id"].as_str().unwrap();
        let der = cbt::certificate_der(&input(&v)).unwrap();
        let alg = cbt::signature_algorithm(&der).unwrap();
        assert_eq!(alg.oid_string(), v["sig_alg_oid"].as_str().unwrap(), "{id}");
        assert_eq!(
            hex::encode(alg.params),
            v["sig_alg_params_hex"].as_str().unwrap(),
            "{id}"
        );
    }
}

#[test]
fn rfc5929_undefined_vectors_are_errors_under_the_strict_rule() {
    let mut undefined = 0;
    for v in of_category("certificate") {
        let id = v["id"].as_str().unwrap();
        let result = cbt::tls_server_end_point_auto(&input(&v), HashRule::Strict);
        if v["rfc5929_defined"].as_bool().unwrap() {
            let (_, ep) = result.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                ep.binding.payload(),
                hex_field(&v, "rfc5929_hash_hex"),
                "{id}"
            );
        } else {
            undefined += 1;
            assert!(
                matches!(
                    result,
                    Err(CertificateError::Signature(
                        SignatureError::UndefinedByRfc5929 { .. }
                    ))
                ),
                "{id}: {result:?}"
            );
        }
    }
    assert!(undefined >= 1, "the file has an Ed25519 vector");
}

#[test]
fn malformed_vectors_give_the_specific_typed_error() {
    for v in of_category("malformed") {
        let id = v["id"].as_str().unwrap();
        assert!(v["expected_error"].as_bool().unwrap());
        let err =
            cbt::tls_server_end_point_auto(&input(&v), HashRule::Interoperable).expect_err(id);
        let kind = v["error_kind"].as_str().unwrap();
        let ok = match kind {
            "truncated" => matches!(err, CertificateError::Der(DerError::Truncated { .. })),
            "trailing-data" => matches!(err, CertificateError::Der(DerError::TrailingData { .. })),
            "wrong-outer-tag" => matches!(
                err,
                CertificateError::Der(DerError::WrongTag {
                    what: "Certificate",
                    expected: 0x30,
                    found: 0x31,
                    ..
                })
            ),
            "length-overflow" => matches!(
                err,
                CertificateError::Der(DerError::LengthOverflow {
                    declared: 0xffff_ffff,
                    ..
                })
            ),
            "non-der-length" => {
                matches!(
                    err,
                    CertificateError::Der(DerError::NonMinimalLength { .. })
                )
            }
            "empty" => matches!(err, CertificateError::Der(DerError::Empty)),
            "pem-bad-base64" => matches!(err, CertificateError::Pem(PemError::BadBase64 { .. })),
            other => panic!("{id}: unknown error kind {other}"),
        };
        assert!(ok, "{id}: expected {kind}, got {err:?} ({err})");
        // Every error names the problem in its message.
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn unknown_signature_algorithm_is_a_typed_error() {
    // rsa-sha256 with the signature OID's last arc changed from 11 to 99 (1.2.840.113549.1.1.99)
    // in both places it appears; the DER stays well formed.
    let v = vectors()
        .into_iter()
        .find(|v| v["id"] == "rsa-sha256")
        .unwrap();
    let mut der = input(&v);
    let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    let mut replaced = 0;
    for i in 0..der.len() - oid.len() {
        if der[i..i + oid.len()] == oid {
            der[i + oid.len() - 1] = 99;
            replaced += 1;
        }
    }
    assert_eq!(replaced, 2);
    for rule in [HashRule::Interoperable, HashRule::Strict] {
        let err = cbt::tls_server_end_point_with(&der, rule).unwrap_err();
        assert_eq!(
            err,
            CertificateError::Signature(SignatureError::UnknownAlgorithm {
                oid: "1.2.840.113549.1.1.99".into()
            })
        );
        assert!(err.to_string().contains("1.2.840.113549.1.1.99"));
    }
}

#[test]
fn outer_and_tbs_signature_algorithms_must_be_equal() {
    // rsa-sha256 with only the outer signatureAlgorithm changed to sha384WithRSAEncryption: the
    // DER stays well formed and the OID known, but the certificate contradicts itself
    // (RFC 5280 §4.1.1.2). Before the check, this hashed with SHA-384.
    let v = vectors()
        .into_iter()
        .find(|v| v["id"] == "rsa-sha256")
        .unwrap();
    let mut der = input(&v);
    let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    let at: Vec<usize> = (0..der.len() - oid.len())
        .filter(|&i| der[i..i + oid.len()] == oid)
        .collect();
    assert_eq!(at.len(), 2, "once in the TBSCertificate, once outside");
    der[at[1] + oid.len() - 1] = 0x0c;
    for rule in [HashRule::Interoperable, HashRule::Strict] {
        let err = cbt::tls_server_end_point_with(&der, rule).unwrap_err();
        assert_eq!(
            err,
            CertificateError::AlgorithmMismatch {
                outer: "1.2.840.113549.1.1.12 with parameters 0500".into(),
                tbs: "1.2.840.113549.1.1.11 with parameters 0500".into(),
            }
        );
    }
    assert!(cbt::certificate_der(&der).is_err());
    // Changing the TBSCertificate's one instead is refused the same way.
    let mut der = input(&v);
    der[at[0] + oid.len() - 1] = 0x0c;
    assert!(matches!(
        cbt::tls_server_end_point(&der),
        Err(CertificateError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn bindings_vectors_struct_and_md5() {
    for v in of_category("bindings") {
        let id = v["id"].as_str().unwrap();
        let s = GssChannelBindings {
            initiator_addrtype: AddressType(v["initiator_addrtype"].as_u64().unwrap() as u32),
            initiator_address: hex_field(&v, "initiator_address_hex"),
            acceptor_addrtype: AddressType(v["acceptor_addrtype"].as_u64().unwrap() as u32),
            acceptor_address: hex_field(&v, "acceptor_address_hex"),
            application_data: hex_field(&v, "application_data_hex"),
        };
        let flat = s.to_bytes().unwrap();
        assert_eq!(
            flat,
            hex_field(&v, "gss_channel_bindings_hex"),
            "{id}: struct"
        );
        assert_eq!(
            s.md5().unwrap().as_bytes().as_slice(),
            hex_field(&v, "channel_bindings_md5_hex"),
            "{id}: MD5"
        );
        // Decoding gives the struct back.
        assert_eq!(
            GssChannelBindings::from_bytes(&flat).unwrap(),
            s,
            "{id}: decode"
        );

        // The application-data builders produce the same bytes from the payload.
        let payload = hex_field(&v, "payload_hex");
        let built = match v["binding_type"].as_str() {
            Some("tls-unique") => Some(ChannelBinding::tls_unique(&payload)),
            Some("tls-exporter") => {
                let exporter: [u8; 32] = payload.as_slice().try_into().unwrap();
                Some(ChannelBinding::tls_exporter(&exporter))
            }
            Some("tls-server-end-point") => {
                Some(ChannelBinding::tls_server_end_point_from_hash(&payload))
            }
            None => None,
            Some(other) => panic!("{id}: unknown binding type {other}"),
        };
        match built {
            Some(b) => {
                assert_eq!(b.application_data(), s.application_data, "{id}: builder");
                assert_eq!(b.binding_type().name(), v["binding_type"].as_str().unwrap());
            }
            None => assert!(s.application_data.is_empty(), "{id}"),
        }
    }
}

#[test]
fn the_empty_struct_md5_is_not_the_unbound_value() {
    let empty = vectors()
        .into_iter()
        .find(|v| v["id"] == "bind-empty")
        .unwrap();
    let s = GssChannelBindings::from_bytes(&hex_field(&empty, "gss_channel_bindings_hex")).unwrap();
    let md5 = s.md5().unwrap();
    assert_eq!(
        md5.as_bytes().as_slice(),
        hex_field(&empty, "channel_bindings_md5_hex")
    );
    assert!(!md5.is_unbound());
    assert!(epa::ChannelBindingsHash::UNBOUND.is_unbound());
}
