//! An application as a configuration serves it ([`Configured::app`]), and what the configuration
//! turned into, as lines for a start-up log ([`Configured::summary`]).

use super::{Configured, ServerError};
use crate::client_cert::RequireClientCertificateLayer;
use epa_config::ServerConfig;
use epa_core::client_cert::CaHintSize;
use http::{Request, Response};
use hyper::body::Incoming;
use tower::ServiceExt as _;
use tower::util::BoxCloneService;
use tower_layer::Layer as _;
use tower_service::Service;

/// An application behind the configured layers, boxed (its type does not depend on which ones).
pub type ConfiguredApp<B, E> = BoxCloneService<Request<Incoming>, Response<B>, E>;

impl Configured {
    /// `app` behind the Extended Protection layer (when the listener runs Negotiate); on the
    /// `[client_certificates] required_paths` the certificate requirement comes first, so a
    /// request without one is answered 403.x before any Negotiate leg, and a request path that
    /// cannot be normalised is answered 400.
    pub fn app<S, B>(&self, app: S) -> Result<ConfiguredApp<B, S::Error>, ServerError>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: 'static,
        B: Default + From<String> + Send + 'static,
    {
        let inner = match &self.layer {
            Some(layer) => ConfiguredApp::new(layer.layer(app)),
            None => ConfiguredApp::new(app),
        };
        let table = self.client_certificate_table.clone();
        if table.required_paths.is_empty() {
            return Ok(inner);
        }
        let rule = if table.audit_only {
            RequireClientCertificateLayer::audit_only()
        } else {
            RequireClientCertificateLayer::enforced()
        }
        .under(table.required_prefixes()?);
        let with_cert = ConfiguredApp::new(rule.layer(inner.clone()));
        Ok(ConfiguredApp::new(tower::service_fn(
            move |req: Request<Incoming>| {
                let route = if table.requires(req.uri().path()) {
                    with_cert.clone()
                } else {
                    inner.clone()
                };
                route.oneshot(req)
            },
        )))
    }

    /// What `config` (the configuration this was built from) runs, for a start-up log:
    /// client-certificate warnings and mode, the policy and the audit target.
    pub fn summary(&self, config: &ServerConfig) -> Result<Vec<String>, ServerError> {
        let mut lines = Vec::new();
        if let Some(v) = &self.client_certificates {
            lines.extend(v.warnings().into_iter().map(|w| format!("warning: {w}")));
            let (CaHintSize::Fine { size } | CaHintSize::OverSchannelLimit { size }) =
                v.hint_size();
            let cc = &config.client_certificates;
            let mode = cc.effective_mode();
            lines.push(format!(
                "client certificates: {mode:?} (IIS sslFlags \"{}\" with Negotiate Client Certificate enabled), revocation {:?}, acceptable-CA list {size} bytes",
                mode.iis_ssl_flags(),
                cc.revocation
            ));
        }
        if let Some(p) = &config.policy
            && self.layer.is_some()
        {
            let policy = p.build()?;
            lines.push(format!(
                "policy: {} (profile {})",
                policy.policy(),
                policy.profile().name()
            ));
            if let Some(t) = p.build_target()? {
                lines.push(format!("audit: observing {}", t.policy()));
            }
        }
        Ok(lines)
    }
}
