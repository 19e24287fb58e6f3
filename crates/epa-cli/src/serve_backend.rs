//! `epa serve`'s backend, from the `[backend]` table (or the embedded backend with `--users` when
//! there is none). One backend is built per process and shared by every route's layer (one
//! credential, one failure-throttle table).

use epa_config::lockout::LockoutMode;
use epa_config::{BackendKind, BackendTable, ServerConfig};
use epa_core::authenticator::Authenticator;
use epa_hyper::ntlm::{NtlmAcceptor, ThrottleSettings, UserDb};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable MIT GSSAPI reads the acceptor keytab from.
const KTNAME: &str = "KRB5_KTNAME";

/// What the command line says about the backend (flags that predate `[backend]`).
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

/// Builds the backend. Errors are messages for the operator.
pub fn build(
    config: &ServerConfig,
    args: &BackendArgs<'_>,
) -> Result<Arc<dyn Authenticator>, String> {
    let t = table(config);
    t.validate(args.users.is_some())
        .map_err(|e| e.to_string())?;
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
            let users = match &args.users {
                Some(db) => db.clone(),
                None => {
                    return Err(
                        "the listener runs Negotiate with the embedded backend: give the user file ([backend] users or --users)".into(),
                    );
                }
            };
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
fn winbind(t: &BackendTable, domain: &str, computer: &str) -> Result<NtlmAcceptor, String> {
    Ok(NtlmAcceptor::with_verifier(
        winbind_verifier(t),
        domain,
        computer,
    ))
}

#[cfg(not(feature = "winbind"))]
fn winbind(_: &BackendTable, _: &str, _: &str) -> Result<NtlmAcceptor, String> {
    Err("this epa was built without the winbind backend (cargo build --features winbind)".into())
}

#[cfg(feature = "gssapi")]
fn gssapi(config: &ServerConfig, t: &BackendTable) -> Result<Arc<dyn Authenticator>, String> {
    let backend = epa_hyper::server::gssapi_acceptor(config, t.check_ticket_target)
        .map_err(|e| format!("[backend] {e}"))?;
    if t.winbind_groups {
        return with_winbind_groups(backend, t);
    }
    Ok(Arc::new(backend))
}

#[cfg(all(feature = "gssapi", feature = "winbind"))]
fn with_winbind_groups(
    backend: epa_hyper::gssapi::GssapiAcceptor,
    t: &BackendTable,
) -> Result<Arc<dyn Authenticator>, String> {
    Ok(Arc::new(epa_winbind::WithWinbindGroups::new(
        backend,
        winbind_verifier(t),
    )))
}

#[cfg(all(feature = "gssapi", not(feature = "winbind")))]
fn with_winbind_groups(
    _: epa_hyper::gssapi::GssapiAcceptor,
    _: &BackendTable,
) -> Result<Arc<dyn Authenticator>, String> {
    Err("winbind_groups needs an epa built with the winbind backend (--features winbind)".into())
}

#[cfg(not(feature = "gssapi"))]
fn gssapi(_: &ServerConfig, _: &BackendTable) -> Result<Arc<dyn Authenticator>, String> {
    Err("this epa was built without the gssapi backend (cargo build --features gssapi)".into())
}
