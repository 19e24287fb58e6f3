//! A client certificate as routes see it ([`ClientCertificate`]): subject and issuer
//! (RFC 4514), subject alternative names (with the Microsoft UPN other-name), SHA-256, chain.
//! Read with `x509-cert`, the workspace's one X.509 stack.

use rustls::pki_types::CertificateDer;
use std::fmt;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// The verified client certificate of a request, put in its extensions by the route's
/// [`super::RequireClientCertificateLayer`] (only a `Valid` one). A type of its own, so that no
/// other `Arc<ClientCertificate>` in the extensions is taken for it.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate(std::sync::Arc<ClientCertificate>);

impl VerifiedCertificate {
    pub(crate) fn new(certificate: std::sync::Arc<ClientCertificate>) -> Self {
        Self(certificate)
    }

    /// The certificate.
    pub fn certificate(&self) -> &std::sync::Arc<ClientCertificate> {
        &self.0
    }
}

impl std::ops::Deref for VerifiedCertificate {
    type Target = ClientCertificate;

    fn deref(&self) -> &ClientCertificate {
        &self.0
    }
}

/// A client certificate, as routes see it. A verified one is in the request extensions of a
/// route behind [`super::RequireClientCertificateLayer`].
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject, RFC 4514 string form (most significant RDN last, e.g.
    /// `CN=alice,O=Example`); control characters and RFC 4514 specials are escaped.
    pub subject: String,
    /// The issuer, same form.
    pub issuer: String,
    /// Subject alternative names: `DNS:…`, `email:…`, `IP:…`, `URI:…`, `UPN:…`.
    pub subject_alt_names: Vec<String>,
    /// SHA-256 of the leaf's DER.
    pub sha256: [u8; 32],
    /// The chain as sent, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("subject_alt_names", &self.subject_alt_names)
            .field("sha256", &self.fingerprint())
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

/// The Microsoft user principal name other-name (`szOID_NT_PRINCIPAL_NAME`).
const UPN_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");

impl ClientCertificate {
    /// Describes a chain; `None` when the leaf is not a readable X.509 certificate (strict
    /// DER, nothing after it).
    pub fn from_chain(
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Option<Self> {
        let cert = Certificate::from_der(leaf.as_ref()).ok()?;
        let tbs = cert.tbs_certificate();
        let subject_alt_names = match tbs.get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0.iter().map(describe).collect(),
            // Absent, duplicated or unreadable: no names to show.
            Ok(None) | Err(_) => Vec::new(),
        };
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(leaf.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        Some(Self {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            subject_alt_names,
            sha256: ring::digest::digest(&ring::digest::SHA256, leaf.as_ref())
                .as_ref()
                .try_into()
                .ok()?,
            chain,
        })
    }

    /// The SHA-256 fingerprint, lower-case hex.
    pub fn fingerprint(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One subject alternative name as text.
fn describe(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(d) => format!("DNS:{}", d.as_str()),
        GeneralName::Rfc822Name(e) => format!("email:{}", e.as_str()),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{}", u.as_str()),
        GeneralName::IpAddress(ip) => match ip.as_bytes() {
            &[a, b, c, d] => format!("IP:{}", std::net::Ipv4Addr::new(a, b, c, d)),
            bytes => match <[u8; 16]>::try_from(bytes) {
                Ok(a) => format!("IP:{}", std::net::Ipv6Addr::from(a)),
                Err(_) => "IP:<malformed>".to_owned(),
            },
        },
        GeneralName::OtherName(other) if other.type_id == UPN_OID => {
            // `[0] EXPLICIT UTF8String`: x509-cert hands over the UTF8String.
            Utf8StringRef::try_from(&other.value).map_or_else(
                |_| "UPN:<malformed>".to_owned(),
                |u| format!("UPN:{}", u.as_str()),
            )
        }
        GeneralName::OtherName(other) => format!("OtherName({}, [...])", other.type_id),
        GeneralName::DirectoryName(dn) => format!("DirectoryName({dn})"),
        GeneralName::EdiPartyName(_) => "EDIPartyName(<unparsed>)".to_owned(),
        GeneralName::RegisteredId(oid) => format!("RegisteredID({oid})"),
    }
}
