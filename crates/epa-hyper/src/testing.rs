//! Test support (feature `test-util`): a TLS client configuration that accepts any server
//! certificate, and a throwaway CA for client certificates and CRLs. Tests of channel binding need exactly that — a relay, or a server with a
//! throwaway certificate — and nothing else ever should: the feature is for dev-dependencies.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration (ring provider) for the given TLS versions that accepts any server
/// certificate, with ALPN `http/1.1`.
pub fn insecure_client_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<rustls::ClientConfig, rustls::Error> {
    insecure_client_config_with_cert(versions, None)
}

/// [`insecure_client_config`] presenting a client certificate chain with its key.
pub fn insecure_client_config_with_cert(
    versions: &[&'static rustls::SupportedProtocolVersion],
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)));
    let mut config = match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A throwaway certificate authority (ECDSA P-256, rcgen) that issues client certificates and
/// CRLs, for tests and benchmarks.
pub struct TestCa {
    certificate: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A client certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// 2020 to 2090.
    Current,
    /// 2001 to 2002.
    Expired,
    /// 2080 to 2090.
    NotYetValid,
}

impl TestCa {
    /// A self-signed CA named `CN=<common_name>` that may sign certificates and CRLs.
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;
        Ok(Self {
            certificate,
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// The CA certificate (DER).
    pub fn der(&self) -> CertificateDer<'static> {
        self.certificate.der().clone()
    }

    /// The CA certificate (PEM).
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// A client certificate `CN=<common_name>` with serial `serial`, a DNS and an e-mail SAN.
    pub fn issue(
        &self,
        common_name: &str,
        serial: u64,
        validity: Validity,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), rcgen::Error> {
        let mut params = rcgen::CertificateParams::new(vec![format!("{common_name}.example")])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            format!("{common_name}@example.com").try_into()?,
        ));
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let (from, to) = match validity {
            Validity::Current => ((2020, 1, 1), (2090, 1, 1)),
            Validity::Expired => ((2001, 1, 1), (2002, 1, 1)),
            Validity::NotYetValid => ((2080, 1, 1), (2090, 1, 1)),
        };
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
        Ok((vec![cert.der().clone()], key))
    }

    /// A CRL (DER) revoking these serials, valid from 2020 to 2090, CRL number 1.
    pub fn crl(&self, revoked: impl IntoIterator<Item = u64>) -> Result<Vec<u8>, rcgen::Error> {
        self.crl_numbered(revoked, 1)
    }

    /// A CRL (DER) revoking these serials with this CRL number, valid from 2020 to 2090.
    pub fn crl_numbered(
        &self,
        revoked: impl IntoIterator<Item = u64>,
        number: u64,
    ) -> Result<Vec<u8>, rcgen::Error> {
        self.crl_with(revoked, number, (2020, 1, 1), (2090, 1, 1))
    }

    /// A CRL (DER) revoking these serials, with this CRL number, `thisUpdate` and `nextUpdate`
    /// (year, month, day): a `next_update` in the past makes an expired CRL.
    pub fn crl_with(
        &self,
        revoked: impl IntoIterator<Item = u64>,
        number: u64,
        this_update: (i32, u8, u8),
        next_update: (i32, u8, u8),
    ) -> Result<Vec<u8>, rcgen::Error> {
        let revoked_certs = revoked
            .into_iter()
            .map(|serial| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(serial),
                revocation_time: rcgen::date_time_ymd(this_update.0, this_update.1, this_update.2),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(this_update.0, this_update.1, this_update.2),
            next_update: rcgen::date_time_ymd(next_update.0, next_update.1, next_update.2),
            crl_number: rcgen::SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.der().to_vec())
    }
}
