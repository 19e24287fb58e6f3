//! The backend a configuration names: `[backend]` (embedded | winbind | gssapi), or the
//! embedded NTLMv2 acceptor over a user file when there is no table. One backend is built per
//! application and shared by every route's layer (one credential, one failure-throttle table).

use epa_config::lockout::LockoutMode;
use epa_config::{BackendKind, BackendTable, ServerConfig};
use epa_core::authenticator::Authenticator;
use epa_hyper::ntlm::{NtlmAcceptor, ThrottleSettings, UserDb};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why no backend could be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The `[backend]` table has keys that do not fit its kind.
    #[error(transparent)]
    Table(#[from] epa_config::backend::BackendError),
    /// The embedded backend has no user file.
    #[error(
        "the listener runs Negotiate with the embedded backend: give the user file ([backend] users or --users)"
    )]
    NoUsers,
    /// The `[policy]` table is invalid (needed to check ticket targets).
    #[error(transparent)]
    Policy(#[from] epa_config::ConfigError),
    /// The GSSAPI backend cannot accept (no keytab, no credentials).
    #[error("[backend] {0}")]
    Gssapi(#[source] epa_core::authenticator::AuthError),
    /// Ticket targets are to be checked but there is no `[policy]` to name the service names.
    #[error("check_ticket_target needs a [policy] table with the acceptable service names")]
    TicketTargetWithoutPolicy,
    /// A backend this build does not have.
    #[error("this epa was built without {what} (cargo build --features {feature})")]
    NotBuilt {
        /// What is missing.
        what: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
}

/// The environment variable MIT GSSAPI reads the acceptor keytab from.
const KTNAME: &str = "KRB5_KTNAME";

/// What the command line says about the backend (flags that predate `[backend]`).
#[derive(Debug)]
pub struct BackendArgs<'a> {
    /// The user file already read (`[backend] users` or `--users`), for the embedded backend.
    pub users: Option<UserDb>,
    /// `--domain`.
    pub domain: &'a str,
    /// `--computer`.
    pub computer: &'a str,
}

/// The backend table in force: the file's, or the embedded default.
pub fn table(config: &ServerConfig) -> BackendTable {
    config
        .backend
        .clone()
        .unwrap_or_else(BackendTable::embedded)
}

/// The acceptor with the table's failed-logon throttling (smart lockout), or none.
fn throttled(a: NtlmAcceptor, t: &BackendTable) -> NtlmAcceptor {
    let l = &t.lockout;
    if l.lockout == LockoutMode::Off {
        return a.without_throttle();
    }
    let secs = |v: f64| Duration::from_secs_f64(v.clamp(0.001, 366.0 * 86_400.0));
    a.throttle(ThrottleSettings {
        extranet_lockout_threshold: l.extranet_lockout_threshold,
        familiar_lockout_threshold: l.familiar_lockout_threshold,
        observation_window: secs(l.lockout_observation_window),
        familiar_for: secs(l.familiar_for),
        address_threshold: l.address_lockout_threshold,
        address_account_threshold: l.address_account_lockout_threshold,
        window: Duration::from_secs(60),
        base_cooldown: secs(l.lockout_cooldown),
        max_cooldown: secs(l.lockout_max_cooldown),
        capacity: l.lockout_capacity,
    })
    .max_in_flight_per_address(t.max_in_flight_per_address)
}

/// For `kind = "gssapi"` with a `keytab`: the value `KRB5_KTNAME` must have. MIT reads the keytab
/// from the environment, which a running process may not change safely; `epa serve` re-executes
/// itself with it set before it starts any thread (see `main`).
pub fn required_ktname(config: &ServerConfig) -> Option<String> {
    let t = config.backend.as_ref()?;
    if t.kind != BackendKind::Gssapi {
        return None;
    }
    let want = format!("FILE:{}", t.keytab.as_ref()?.display());
    (std::env::var(KTNAME).ok().as_deref() != Some(want.as_str())).then_some(want)
}

/// Builds the backend.
pub fn build(
    config: &ServerConfig,
    args: &BackendArgs<'_>,
) -> Result<Arc<dyn Authenticator>, BackendError> {
    let t = table(config);
    t.validate(args.users.is_some())?;
    let domain = t.domain.as_deref().unwrap_or(args.domain);
    let computer = t.computer.as_deref().unwrap_or(args.computer);
    let dns = |a: NtlmAcceptor| match (&t.dns_domain, &t.dns_computer) {
        (None, None) => a,
        (d, c) => a.dns_names(
            d.as_deref().unwrap_or(domain),
            c.as_deref().unwrap_or(computer),
        ),
    };
    match t.kind {
        BackendKind::Embedded => {
            let users = args.users.clone().ok_or(BackendError::NoUsers)?;
            Ok(Arc::new(throttled(
                dns(NtlmAcceptor::new(users, domain, computer)),
                &t,
            )))
        }
        BackendKind::Winbind => {
            winbind(&t, domain, computer).map(|a| Arc::new(throttled(dns(a), &t)) as _)
        }
        BackendKind::Gssapi => gssapi(config, &t),
    }
}

#[cfg(feature = "winbind")]
fn winbind_verifier(t: &BackendTable) -> epa_winbind::WinbindVerifier {
    use epa_winbind::{WinbindSettings, WinbindVerifier};
    let verifier = WinbindVerifier::new(WinbindSettings {
        timeout: t.timeout(),
        max_in_flight: t.max_in_flight,
        domains: t.domains.clone(),
        ..WinbindSettings::default()
    });
    // Not fatal: the domain controller may come back; logons get 503 meanwhile.
    if let Err(e) = verifier.check() {
        eprintln!("warning: {e}; logons are answered 503 until winbind answers");
    }
    verifier
}

#[cfg(feature = "winbind")]
fn winbind(t: &BackendTable, domain: &str, computer: &str) -> Result<NtlmAcceptor, BackendError> {
    Ok(NtlmAcceptor::with_verifier(
        winbind_verifier(t),
        domain,
        computer,
    ))
}

#[cfg(not(feature = "winbind"))]
fn winbind(_: &BackendTable, _: &str, _: &str) -> Result<NtlmAcceptor, BackendError> {
    Err(BackendError::NotBuilt {
        what: "the winbind backend",
        feature: "winbind",
    })
}

#[cfg(feature = "gssapi")]
fn gssapi(config: &ServerConfig, t: &BackendTable) -> Result<Arc<dyn Authenticator>, BackendError> {
    let backend = gssapi_acceptor(config, t.check_ticket_target)?;
    if t.winbind_groups {
        return with_winbind_groups(backend, t);
    }
    Ok(Arc::new(backend))
}

#[cfg(all(feature = "gssapi", feature = "winbind"))]
fn with_winbind_groups(
    backend: epa_hyper::gssapi::GssapiAcceptor,
    t: &BackendTable,
) -> Result<Arc<dyn Authenticator>, BackendError> {
    Ok(Arc::new(epa_winbind::WithWinbindGroups::new(
        backend,
        winbind_verifier(t),
    )))
}

#[cfg(all(feature = "gssapi", not(feature = "winbind")))]
fn with_winbind_groups(
    _: epa_hyper::gssapi::GssapiAcceptor,
    _: &BackendTable,
) -> Result<Arc<dyn Authenticator>, BackendError> {
    Err(BackendError::NotBuilt {
        what: "the winbind backend (winbind_groups)",
        feature: "winbind",
    })
}

#[cfg(not(feature = "gssapi"))]
fn gssapi(_: &ServerConfig, _: &BackendTable) -> Result<Arc<dyn Authenticator>, BackendError> {
    Err(BackendError::NotBuilt {
        what: "the gssapi backend",
        feature: "gssapi",
    })
}

/// The GSSAPI acceptor for `config`, checked (its credential acquired) before it is returned.
/// With `check_ticket_target`, Kerberos tickets must name one of the `[policy]` table's
/// acceptable service names (MIT and Windows accept a ticket for any key in the keytab); no
/// `[policy]` is then an error, never a check silently skipped.
#[cfg(feature = "gssapi")]
pub fn gssapi_acceptor(
    config: &ServerConfig,
    check_ticket_target: bool,
) -> Result<epa_hyper::gssapi::GssapiAcceptor, BackendError> {
    let weak = config
        .backend
        .as_ref()
        .map(|b| b.weak_enctypes)
        .unwrap_or_default();
    let mut backend = epa_hyper::gssapi::GssapiAcceptor::new().weak_enctypes(weak);
    if check_ticket_target {
        let policy = config
            .policy
            .as_ref()
            .ok_or(BackendError::TicketTargetWithoutPolicy)?
            .build()?;
        backend = backend.check_ticket_target(policy.acceptable_service_names().clone());
    }
    backend.check().map_err(BackendError::Gssapi)?;
    Ok(backend)
}

#[cfg(all(test, feature = "gssapi"))]
mod tests {
    use super::*;

    #[test]
    fn ticket_targets_without_a_policy_are_an_error_not_a_skipped_check() {
        let err = gssapi_acceptor(&ServerConfig::default(), true).err();
        assert!(
            matches!(err, Some(BackendError::TicketTargetWithoutPolicy)),
            "{err:?}"
        );
    }
}
