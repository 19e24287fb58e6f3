//! `epa serve`'s log: decisions, refusals (with their reason: `account-disabled`, a relayed
//! binding, ...), accept errors and reloads, one line each on stderr. `RUST_LOG` filters
//! (default `epa=info`); `EPA_LOG_FORMAT=json` writes JSON lines. Client-chosen text is escaped
//! where it is logged (`epa_hyper::telemetry`).

/// Installs the subscriber (once; a second call is a no-op).
pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("epa=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if std::env::var("EPA_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
