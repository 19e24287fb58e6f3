//! Client-certificate policy, the TLS 1.3 way: the certificate is requested in the *first*
//! handshake (optionally, so one listener serves routes with and without one) and required per
//! route — never by renegotiation, which TLS 1.3 removed (RFC 8446 §4.6.2 only has
//! post-handshake authentication, which browsers do not offer, and HTTP/2 forbids renegotiation,
//! RFC 9113 §9.2.1).
//!
//! This module is the pure part: modes and their IIS equivalents, revocation modes, the size of
//! the acceptable-CA list a `CertificateRequest` carries, and the per-route outcome with the IIS
//! 403 sub-status. The TLS enforcement lives in the adapter.

use crate::der::{DerError, Reader, tag};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The DER `subject` Name of a certificate, outer SEQUENCE included: the bytes a
/// `CertificateRequest` lists for a CA (RFC 5280 §4.1.2.6; RFC 8446 §4.2.4).
pub fn certificate_subject(der: &[u8]) -> Result<&[u8], DerError> {
    if der.is_empty() {
        return Err(DerError::Empty);
    }
    let mut input = Reader::new(der);
    let mut cert = input.enter(tag::SEQUENCE, "Certificate")?;
    input.finish("Certificate")?;
    let mut tbs = cert.enter(tag::SEQUENCE, "tbsCertificate")?;
    tbs.optional(tag::CONTEXT_0, "version")?;
    tbs.take(tag::INTEGER, "serialNumber")?;
    tbs.take(tag::SEQUENCE, "signature")?;
    tbs.take(tag::SEQUENCE, "issuer")?;
    tbs.take(tag::SEQUENCE, "validity")?;
    let before = tbs.rest();
    tbs.take(tag::SEQUENCE, "subject")?;
    let after = tbs.rest().len();
    Ok(&before[..before.len() - after])
}

/// When the listener asks for a client certificate (in the first handshake, always).
///
/// | mode | IIS `sslFlags` | http.sys |
/// |---|---|---|
/// | `Ignore` | `Ssl` | Negotiate Client Certificate: disabled |
/// | `Request` | `Ssl, SslNegotiateCert` | Negotiate Client Certificate: **enabled** (the request moves into the first handshake) |
/// | `Require` | `Ssl, SslNegotiateCert, SslRequireCert` | enabled; the handshake fails without one |
///
/// IIS without "Negotiate Client Certificate" asks only when a path needs it, by renegotiation;
/// under TLS 1.3 that fails (a reset, or HTTP 500 `ERROR_NOT_SUPPORTED`). No mode here does that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientCertificateMode {
    /// Never ask.
    #[default]
    Ignore,
    /// Ask in the first handshake; a client may send none. Routes decide.
    Request,
    /// Ask in the first handshake; the handshake fails without a valid certificate.
    Require,
}

crate::wire::wire_names!(ClientCertificateMode, "client certificate mode", {
    Ignore => "ignore",
    Request => "request",
    Require => "require",
});

impl ClientCertificateMode {
    /// The IIS `sslFlags` value that behaves like this mode on a binding whose "Negotiate Client
    /// Certificate" is enabled.
    pub fn iis_ssl_flags(self) -> &'static str {
        match self {
            Self::Ignore => "Ssl",
            Self::Request => "Ssl, SslNegotiateCert",
            Self::Require => "Ssl, SslNegotiateCert, SslRequireCert",
        }
    }
}

/// How certificate revocation is checked (CRLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RevocationMode {
    /// Every certificate in the chain must be covered by a CRL and not revoked; unknown status
    /// rejects (Windows' default when the CRL is reachable).
    #[default]
    Check,
    /// A revoked certificate rejects; a certificate no CRL covers passes (the CRL cannot be
    /// reached, or does not cover that issuer).
    AllowUnknown,
    /// Only the end-entity certificate is checked.
    EndEntityOnly,
    /// No revocation checking (`verifyclientcertrevocation=disable`).
    Off,
}

crate::wire::wire_names!(RevocationMode, "revocation mode", {
    Check => "check",
    AllowUnknown => "allow-unknown",
    EndEntityOnly => "end-entity-only",
    Off => "off",
});

/// What verifying a presented client certificate found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateStatus {
    /// The client sent none.
    NotPresented,
    /// Chained to a trusted CA, in its validity period, not revoked (as far as the mode checks).
    Valid,
    /// Does not chain to a trusted CA, or is malformed.
    Untrusted,
    /// Past its `notAfter`.
    Expired,
    /// Before its `notBefore`.
    NotYetValid,
    /// A CRL lists it.
    Revoked,
    /// No CRL covers it and the mode requires one.
    RevocationUnknown,
}

/// The outcome of a route's client-certificate requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    /// Let the request through.
    Allow,
    /// Refuse with 403 and this reason.
    Forbid(CertificateRefusal),
}

/// Why a route refused a request, with the IIS 403 sub-status users know from their logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateRefusal {
    /// 403.7: the route needs a certificate and none was sent.
    Required,
    /// 403.13: revoked.
    Revoked,
    /// 403.16: untrusted chain or invalid certificate (also: revocation status unknown).
    Untrusted,
    /// 403.17: expired or not yet valid.
    Expired,
}

impl CertificateRefusal {
    /// The IIS sub-status (403.x).
    pub fn iis_substatus(self) -> u16 {
        match self {
            Self::Required => 7,
            Self::Revoked => 13,
            Self::Untrusted => 16,
            Self::Expired => 17,
        }
    }

    /// A stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Required => "client-certificate-required",
            Self::Revoked => "client-certificate-revoked",
            Self::Untrusted => "client-certificate-untrusted",
            Self::Expired => "client-certificate-expired",
        }
    }

    /// A sentence.
    pub fn message(self) -> &'static str {
        match self {
            Self::Required => "client certificate required",
            Self::Revoked => "client certificate revoked",
            Self::Untrusted => "client certificate untrusted or invalid",
            Self::Expired => "client certificate expired or not yet valid",
        }
    }
}

/// Whether a route that needs a client certificate lets this request through. Routes that do not
/// need one always allow (a certificate that failed verification is then simply not used).
pub fn route_outcome(route_requires_certificate: bool, status: CertificateStatus) -> RouteOutcome {
    if !route_requires_certificate {
        return RouteOutcome::Allow;
    }
    match status {
        CertificateStatus::Valid => RouteOutcome::Allow,
        CertificateStatus::NotPresented => RouteOutcome::Forbid(CertificateRefusal::Required),
        CertificateStatus::Revoked => RouteOutcome::Forbid(CertificateRefusal::Revoked),
        CertificateStatus::Expired | CertificateStatus::NotYetValid => {
            RouteOutcome::Forbid(CertificateRefusal::Expired)
        }
        CertificateStatus::Untrusted | CertificateStatus::RevocationUnknown => {
            RouteOutcome::Forbid(CertificateRefusal::Untrusted)
        }
    }
}

/// Above this many bytes of acceptable-CA list, Schannel clients stop sending a certificate
/// (the long-standing Windows behaviour behind "the client never sends its certificate").
pub const SCHANNEL_CA_HINT_LIMIT: usize = 16 * 1024;

/// The TLS limit: the `certificate_authorities` vector has a 16-bit length
/// (RFC 8446 §4.2.4 `DistinguishedName authorities<3..2^16-1>`; RFC 5246 §7.4.4 the same).
pub const TLS_CA_HINT_LIMIT: usize = (1 << 16) - 1;

/// Which CA names the `CertificateRequest` carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaHints {
    /// Every trusted CA's subject.
    #[default]
    All,
    /// None: clients offer whatever certificate they have.
    None,
    /// Only these CAs' subjects (DER `Name`s).
    Subset(Vec<Vec<u8>>),
}

/// An acceptable-CA list that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CaHintError {
    /// Over the TLS limit.
    #[error(
        "the acceptable-CA list is {size} bytes, more than the 65,535 a TLS CertificateRequest can carry; send a subset or no hints"
    )]
    TooLarge {
        /// The encoded size.
        size: usize,
    },
    /// One subject is longer than a 16-bit length.
    #[error("a CA subject is {len} bytes, more than a DistinguishedName can be")]
    NameTooLong {
        /// Its length.
        len: usize,
    },
}

/// The size check of an acceptable-CA list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaHintSize {
    /// Fits everywhere.
    Fine {
        /// Encoded bytes.
        size: usize,
    },
    /// Fits TLS, but Schannel clients (Windows) will send no certificate.
    OverSchannelLimit {
        /// Encoded bytes.
        size: usize,
    },
}

/// The encoded size of the `certificate_authorities` list for these DER subjects: a 2-byte
/// vector length, then each name as a 2-byte length and its bytes (RFC 8446 §4.2.4; TLS 1.2's
/// `CertificateRequest.certificate_authorities` is encoded the same way).
pub fn ca_hint_size<'a>(
    subjects: impl IntoIterator<Item = &'a [u8]>,
) -> Result<CaHintSize, CaHintError> {
    let mut size = 2usize;
    for s in subjects {
        if s.len() > TLS_CA_HINT_LIMIT {
            return Err(CaHintError::NameTooLong { len: s.len() });
        }
        size += 2 + s.len();
    }
    if size - 2 > TLS_CA_HINT_LIMIT {
        return Err(CaHintError::TooLarge { size });
    }
    Ok(if size > SCHANNEL_CA_HINT_LIMIT {
        CaHintSize::OverSchannelLimit { size }
    } else {
        CaHintSize::Fine { size }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_statuses_to_iis_substatus() {
        use CertificateStatus::*;
        let cases = [
            (NotPresented, Some((7, "client-certificate-required"))),
            (Valid, None),
            (Untrusted, Some((16, "client-certificate-untrusted"))),
            (Expired, Some((17, "client-certificate-expired"))),
            (NotYetValid, Some((17, "client-certificate-expired"))),
            (Revoked, Some((13, "client-certificate-revoked"))),
            (
                RevocationUnknown,
                Some((16, "client-certificate-untrusted")),
            ),
        ];
        for (status, want) in cases {
            match (route_outcome(true, status), want) {
                (RouteOutcome::Allow, None) => {}
                (RouteOutcome::Forbid(r), Some((sub, code))) => {
                    assert_eq!((r.iis_substatus(), r.code()), (sub, code), "{status:?}");
                    assert!(!r.message().is_empty());
                }
                (got, want) => panic!("{status:?}: {got:?} vs {want:?}"),
            }
            // A route without the requirement never refuses.
            assert_eq!(route_outcome(false, status), RouteOutcome::Allow);
        }
    }

    #[test]
    fn ca_hint_sizes_against_both_limits() {
        let name = vec![0u8; 98]; // 100 bytes each with its length
        let names = |n: usize| vec![name.as_slice(); n];
        assert_eq!(ca_hint_size(names(0)), Ok(CaHintSize::Fine { size: 2 }));
        assert_eq!(
            ca_hint_size(names(163)),
            Ok(CaHintSize::Fine { size: 16_302 })
        );
        assert_eq!(
            ca_hint_size(names(164)),
            Ok(CaHintSize::OverSchannelLimit { size: 16_402 })
        );
        assert_eq!(
            ca_hint_size(names(655)),
            Ok(CaHintSize::OverSchannelLimit { size: 65_502 })
        );
        assert_eq!(
            ca_hint_size(names(656)),
            Err(CaHintError::TooLarge { size: 65_602 })
        );
        let huge = vec![0u8; 70_000];
        assert_eq!(
            ca_hint_size([huge.as_slice()]),
            Err(CaHintError::NameTooLong { len: 70_000 })
        );
        assert!(
            CaHintError::TooLarge { size: 65_602 }
                .to_string()
                .contains("65,535")
        );
    }

    #[test]
    fn subjects_are_read_with_their_sequence() {
        // A minimal certificate: tbs { [0]{INTEGER 2}, INTEGER 1, SEQ{}, issuer SEQ{}, validity
        // SEQ{}, subject SEQ{ SET{...} } , ...}.
        let subject = [0x30, 0x05, 0x31, 0x03, 0x0c, 0x01, b'a'];
        let mut tbs = vec![
            0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00,
        ];
        tbs.extend_from_slice(&subject);
        let mut body = vec![0x30, tbs.len() as u8];
        body.extend_from_slice(&tbs);
        body.extend_from_slice(&[0x30, 0x00, 0x03, 0x01, 0x00]);
        let mut cert = vec![0x30, body.len() as u8];
        cert.extend_from_slice(&body);
        assert_eq!(certificate_subject(&cert), Ok(&subject[..]));
        assert_eq!(certificate_subject(&[]), Err(DerError::Empty));
        assert!(certificate_subject(&cert[..cert.len() - 1]).is_err());
        let mut trailing = cert.clone();
        trailing.push(0);
        assert!(matches!(
            certificate_subject(&trailing),
            Err(DerError::TrailingData { .. })
        ));
    }

    #[test]
    fn modes_name_their_iis_flags_and_parse_from_config() {
        assert_eq!(
            ClientCertificateMode::Request.iis_ssl_flags(),
            "Ssl, SslNegotiateCert"
        );
        let m: ClientCertificateMode = serde_json::from_str("\"require\"").unwrap();
        assert_eq!(m, ClientCertificateMode::Require);
        let r: RevocationMode = serde_json::from_str("\"allow-unknown\"").unwrap();
        assert_eq!(r, RevocationMode::AllowUnknown);
        assert!(serde_json::from_str::<RevocationMode>("\"maybe\"").is_err());
    }
}
