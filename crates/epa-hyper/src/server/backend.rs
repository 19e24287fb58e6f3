//! The authentication backend a server binary chooses at start-up: the embedded NTLMv2 acceptor
//! over a user file (or a generated demo user), or GSSAPI (Kerberos/SPNEGO, `gssapi` feature).
//! With the `clap` feature, [`BackendOptions`] is a `clap::Args`.

use crate::ntlm::{NtlmAcceptor, UserDb, UserFileError};
use epa_config::ServerConfig;
use epa_core::authenticator::Authenticator;
use std::path::PathBuf;
use thiserror::Error;

/// Why no backend could be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The user file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The user file is malformed.
    #[error(transparent)]
    Users(#[from] UserFileError),
    /// The `[policy]` table is invalid (needed to check ticket targets).
    #[error(transparent)]
    Policy(#[from] epa_config::ConfigError),
    /// The GSSAPI backend cannot accept (no keytab, no credentials).
    #[cfg(feature = "gssapi")]
    #[error(transparent)]
    Gssapi(#[from] epa_core::authenticator::AuthError),
    /// `gssapi` was asked for in a build without the `gssapi` feature.
    #[error("built without the gssapi backend (the `gssapi` feature)")]
    NoGssapi,
    /// Ticket targets are to be checked but there is no `[policy]` to name the service names.
    #[error("check_ticket_target needs a [policy] table with the acceptable service names")]
    TicketTargetWithoutPolicy,
}

/// Which backend, and its settings.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[non_exhaustive]
pub struct BackendOptions {
    /// User file (DOMAIN:USER:PASSWORD lines); default: a printed demo user.
    #[cfg_attr(feature = "clap", arg(long))]
    pub users: Option<PathBuf>,
    /// `embedded` (NTLMv2) or `gssapi` (Kerberos/SPNEGO; `--features gssapi`, KRB5_KTNAME).
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "embedded", value_parser = ["embedded", "gssapi"])
    )]
    pub backend: String,
    /// gssapi backend: refuse Kerberos tickets whose service principal is not an acceptable
    /// service name (MIT and Windows accept a ticket for any keytab principal).
    #[cfg_attr(feature = "clap", arg(long))]
    pub check_ticket_target: bool,
    /// NTLM domain announced in challenges.
    #[cfg_attr(feature = "clap", arg(long, default_value = "EXAMPLE"))]
    pub domain: String,
}

impl Default for BackendOptions {
    fn default() -> Self {
        Self {
            users: None,
            backend: "embedded".into(),
            check_ticket_target: false,
            domain: "EXAMPLE".into(),
        }
    }
}

/// A backend, and the demo user's line when one was generated (to show to the operator).
#[non_exhaustive]
pub struct Backend {
    /// The backend.
    pub authenticator: Box<dyn Authenticator>,
    /// `DOMAIN:demo:PASSWORD` when no user file was given.
    pub demo_user: Option<String>,
}

impl BackendOptions {
    /// The backend for `config` (whose `[policy]` names the acceptable service names when
    /// ticket targets are checked). The embedded backend announces computer name `computer`.
    pub fn build(&self, config: &ServerConfig, computer: &str) -> Result<Backend, BackendError> {
        if self.backend == "gssapi" {
            return self.gssapi(config);
        }
        let (users, demo_user) = match &self.users {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| BackendError::Read {
                    path: path.clone(),
                    source,
                })?;
                (text, None)
            }
            None => {
                let seed = std::hash::BuildHasher::hash_one(
                    &std::collections::hash_map::RandomState::new(),
                    std::process::id(),
                );
                let line = format!("{}:demo:demo-{seed:016x}", self.domain);
                (line.clone(), Some(line))
            }
        };
        let users = UserDb::parse(&users)?;
        Ok(Backend {
            authenticator: Box::new(NtlmAcceptor::new(users, &self.domain, computer)),
            demo_user,
        })
    }

    #[cfg(feature = "gssapi")]
    fn gssapi(&self, config: &ServerConfig) -> Result<Backend, BackendError> {
        Ok(Backend {
            authenticator: Box::new(gssapi_acceptor(config, self.check_ticket_target)?),
            demo_user: None,
        })
    }

    #[cfg(not(feature = "gssapi"))]
    fn gssapi(&self, _: &ServerConfig) -> Result<Backend, BackendError> {
        Err(BackendError::NoGssapi)
    }
}

/// The GSSAPI acceptor for `config`, checked (its credential acquired) before it is returned.
/// With `check_ticket_target`, Kerberos tickets must name one of the `[policy]` table's
/// acceptable service names (MIT and Windows accept a ticket for any key in the keytab); no
/// `[policy]` is then an error, never a check silently skipped. `epa serve` builds its GSSAPI
/// backend with this function too.
#[cfg(feature = "gssapi")]
pub fn gssapi_acceptor(
    config: &ServerConfig,
    check_ticket_target: bool,
) -> Result<crate::gssapi::GssapiAcceptor, BackendError> {
    let mut backend = crate::gssapi::GssapiAcceptor::new();
    if check_ticket_target {
        let policy = config
            .policy
            .as_ref()
            .ok_or(BackendError::TicketTargetWithoutPolicy)?
            .build()?;
        backend = backend.check_ticket_target(policy.acceptable_service_names().clone());
    }
    backend.check()?;
    Ok(backend)
}

#[cfg(all(test, feature = "gssapi"))]
mod tests {
    use super::*;

    #[test]
    fn ticket_targets_without_a_policy_are_an_error_not_a_skipped_check() {
        let options = BackendOptions {
            backend: "gssapi".into(),
            check_ticket_target: true,
            ..BackendOptions::default()
        };
        let err = options.build(&ServerConfig::default(), "WEB").err();
        assert!(
            matches!(err, Some(BackendError::TicketTargetWithoutPolicy)),
            "{err:?}"
        );
    }
}
