//! What a configuration turned into, as lines for a start-up log ([`summary`]).

use crate::server::{Configured, ServerError};
use epa_config::ServerConfig;
use epa_core::client_cert::CaHintSize;

/// What `config` (the configuration this was built from) runs, for a start-up log:
/// client-certificate warnings and mode, the policy and the audit target.
pub fn summary(configured: &Configured, config: &ServerConfig) -> Result<Vec<String>, ServerError> {
    let mut lines = Vec::new();
    if let Some(v) = &configured.client_certificates {
        lines.extend(v.warnings().into_iter().map(|w| format!("warning: {w}")));
        let (CaHintSize::Fine { size } | CaHintSize::OverSchannelLimit { size }) = v.hint_size();
        let cc = &config.client_certificates;
        let mode = cc.effective_mode();
        lines.push(format!(
            "client certificates: {mode:?} (IIS sslFlags \"{}\" with Negotiate Client Certificate enabled), revocation {:?}, acceptable-CA list {size} bytes",
            mode.iis_ssl_flags(),
            cc.revocation
        ));
    }
    if let Some(p) = &config.policy
        && configured.layer.is_some()
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
