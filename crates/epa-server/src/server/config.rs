//! [`Server::from_config`]: the server, the Extended Protection layer and the client-certificate
//! verifier from the configuration file that `epa lint` checks — the same tables, read by the
//! same readers ([`epa_hyper::client_cert::read_ca_bundle`]), so that a linted file is the file that
//! runs.

use super::{ReloadableCertificate, Server, ServerError};
use epa_config::{ClientCertificateTable, HintChoice, PolicyTable, ServerConfig};
use epa_core::authenticator::Authenticator;
use epa_core::client_cert::{CaHints, ClientCertificateMode};
use epa_core::decide::Transport;
use epa_core::policy::ProtectionScenario;
use epa_hyper::client_cert::{
    ClientCertificateSettings, ClientCertificateVerifier, read_ca_bundle,
};
use epa_hyper::layer::ExtendedProtectionLayer;
use epa_hyper::tls::TlsAcceptor;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// What a configuration file makes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Configured {
    /// The server, with the `[listener]` settings.
    pub server: Server,
    /// The Extended Protection layer (`[policy]`, `trusted_proxies`, audit target), when the
    /// listener runs Negotiate.
    pub layer: Option<ExtendedProtectionLayer>,
    /// The client-certificate verifier, when `[client_certificates]` asks for certificates.
    pub client_certificates: Option<Arc<ClientCertificateVerifier>>,
    /// The rotating server certificate, on HTTPS.
    pub certificate: Option<Arc<ReloadableCertificate>>,
}

impl Server {
    /// Builds the server, the layer (with `authenticator`, required when the listener runs
    /// Negotiate) and the client-certificate verifier from a configuration, validated as
    /// `epa lint` validates it. Relative paths must already be resolved
    /// ([`ServerConfig::resolve_paths`]).
    pub fn from_config(
        config: &ServerConfig,
        authenticator: Option<Arc<dyn Authenticator>>,
    ) -> Result<Configured, ServerError> {
        let l = &config.listener;
        l.validate()?;
        let layer = if l.negotiate {
            let table = config
                .policy
                .as_ref()
                .ok_or(ServerError::Negotiate("a [policy] table"))?;
            let backend = authenticator.ok_or(ServerError::Negotiate("an authenticator"))?;
            let layer = policy_layer(config, backend, table)?;
            Some(layer)
        } else {
            None
        };
        let client_certificates = client_certificate_verifier(&config.client_certificates)?;
        let mut server = Server::new(l.address)
            .deadlines(l.deadlines()?)
            .max_connections(l.max_connections)
            .max_connections_per_address(l.max_connections_per_address)
            .tcp_nodelay(l.tcp_nodelay)
            .proxy_protocol(l.proxy_protocol()?)
            .header_limits(l.max_headers, l.max_header_bytes);
        let mut certificate = None;
        if l.transport == Transport::Https {
            let (Some(cert), Some(key)) = (&l.certificate_file, &l.key_file) else {
                return Err(ServerError::NoCertificate);
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let reloadable = Arc::new(ReloadableCertificate::load(cert, key, provider.clone())?);
            let acceptor = tls_acceptor(reloadable.clone(), client_certificates.clone(), provider)?;
            server = server.certificate(acceptor, reloadable.clone());
            certificate = Some(reloadable);
        }
        Ok(Configured {
            server,
            layer,
            client_certificates,
            certificate,
        })
    }
}

/// The TLS acceptor for a rotating certificate: TLS 1.2 and 1.3, ALPN `http/1.1`, client
/// certificates asked for in the first handshake when `verifier` is given, and no 0-RTT
/// (early data is replayable; `max_early_data_size = 0`).
pub fn tls_acceptor(
    certificate: Arc<ReloadableCertificate>,
    verifier: Option<Arc<ClientCertificateVerifier>>,
    provider: Arc<CryptoProvider>,
) -> Result<TlsAcceptor, ServerError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ServerError::Tls)?;
    let builder = match &verifier {
        Some(v) => builder.with_client_cert_verifier(v.clone()),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certificate);
    config.max_early_data_size = 0;
    debug_assert_eq!(config.max_early_data_size, 0);
    Ok(match verifier {
        Some(v) => TlsAcceptor::with_client_certificates(config, v),
        None => TlsAcceptor::new(config),
    })
}

/// The verifier `[client_certificates]` asks for; `None` with mode `ignore`.
pub fn client_certificate_verifier(
    table: &ClientCertificateTable,
) -> Result<Option<Arc<ClientCertificateVerifier>>, ServerError> {
    let mode = table.effective_mode();
    if mode == ClientCertificateMode::Ignore {
        return Ok(None);
    }
    let mut roots = Vec::new();
    for file in &table.ca_files {
        roots.extend(read_ca_bundle(file)?);
    }
    let mut settings = ClientCertificateSettings::new(mode, roots);
    settings.crl_files = table.crl_files.clone();
    settings.revocation = table.revocation;
    settings.hints = match table.hints {
        HintChoice::All => CaHints::All,
        HintChoice::None => CaHints::None,
        HintChoice::Subset => {
            let mut names = Vec::new();
            for file in &table.hint_ca_files {
                for der in read_ca_bundle(file)? {
                    let subject =
                        epa_core::client_cert::certificate_subject(&der).map_err(|e| {
                            epa_hyper::client_cert::ClientCertError::Pem {
                                what: file.display().to_string(),
                                source: e.into(),
                            }
                        })?;
                    names.push(subject.to_vec());
                }
            }
            CaHints::Subset(names)
        }
    };
    Ok(Some(settings.build()?))
}

/// The Extended Protection layer for one `[policy]` table (the listener's, or a route's):
/// `authenticator`, the policy, the exchange deadline, the body drain, `trusted_proxies`, the pinned
/// `proxy_certificate_file`, the audit target and identity persistence. `Server::from_config`
/// and `epa serve` build every layer with this function.
pub fn policy_layer(
    config: &ServerConfig,
    authenticator: impl Authenticator,
    table: &PolicyTable,
) -> Result<ExtendedProtectionLayer, ServerError> {
    let l = &config.listener;
    let policy = table.build()?;
    let backend = authenticator.mechanisms();
    if !policy.mechanisms().overlaps(backend) {
        return Err(ServerError::MechanismsUnavailable {
            wanted: policy.mechanisms(),
            backend,
        });
    }
    let deadlines = l.deadlines()?;
    // `max_drain_bytes = 0`: never drain; every 401 to a request with a body closes.
    let drain = (l.max_drain_bytes > 0).then_some(epa_hyper::layer::BodyDrain {
        max_bytes: l.max_drain_bytes,
        timeout: deadlines.drain,
    });
    let mut layer = ExtendedProtectionLayer::new(authenticator, policy.clone())
        .limits(epa_hyper::Limits {
            exchange_timeout: deadlines.exchange,
            ..epa_hyper::Limits::default()
        })
        .drain_body(drain);
    if !l.trusted_proxies.is_empty() {
        layer = layer.trusted_proxies(l.trusted_proxies.clone());
    }
    if let Some(target) = table.build_target()? {
        layer = layer.audit(target);
    }
    if let Some(path) = &l.proxy_certificate_file {
        // Refused rather than ignored: a pin that does nothing is a pin the reader trusts.
        if policy.policy().scenario() != ProtectionScenario::TrustedProxy {
            return Err(ServerError::ProxyCertificateWithoutTrustedProxy);
        }
        let bytes = std::fs::read(path).map_err(|source| ServerError::ProxyCertificateFile {
            path: path.clone(),
            source,
        })?;
        let proxy_certificate = |source| ServerError::ProxyCertificate {
            path: path.clone(),
            source,
        };
        let der = epa_core::cbt::certificate_der(&bytes).map_err(proxy_certificate)?;
        layer = layer.proxy_certificate(&der).map_err(proxy_certificate)?;
    }
    if let Some(persist) = table.persist_identity {
        layer = layer.persist_identity(persist);
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use epa_hyper::ntlm::{NtlmAcceptor, UserDb};

    /// `mechanisms = ["kerberos"]` on the embedded NTLM backend would refuse everyone: refused
    /// when the layer is built (so `epa serve` does not start, and a reload is not swapped in);
    /// a route's own list counts as its policy's.
    #[test]
    fn a_policy_whose_mechanisms_the_backend_cannot_complete_is_refused() {
        let text = "[listener]\ntransport = \"http\"\n[policy]\nenforcement = \"never\"\n";
        let ntlm = || NtlmAcceptor::new(UserDb::default(), "D", "SRV");
        let config: ServerConfig = toml::from_str(text).unwrap();
        let base = config.policy.clone().unwrap();
        assert!(policy_layer(&config, ntlm(), &base).is_ok());
        let kerberos = PolicyTable {
            mechanisms: Some(epa_core::decide::Mechanisms::KERBEROS),
            ..base.clone()
        };
        let err = policy_layer(&config, ntlm(), &kerberos).unwrap_err();
        assert!(
            matches!(err, ServerError::MechanismsUnavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("gssapi"), "{err}");
        let route: epa_config::proxy::RouteTable =
            toml::from_str("path = \"/k\"\nmechanisms = [\"kerberos\"]").unwrap();
        assert!(policy_layer(&config, ntlm(), &route.policy(&base)).is_err());
        let ntlm_only = PolicyTable {
            mechanisms: Some(epa_core::decide::Mechanisms::NTLM),
            ..base
        };
        assert!(policy_layer(&config, ntlm(), &ntlm_only).is_ok());
    }
}
