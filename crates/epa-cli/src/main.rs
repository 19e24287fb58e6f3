//! `epa`: compute channel bindings, check service names, evaluate Extended Protection policies.

#![forbid(unsafe_code)]

mod cbt_connect;
mod logging;
mod serve;
mod serve_backend;
mod serve_demo;

use clap::{Args, Parser, Subcommand};
use epa_cli::scenario::{CaseResult, Expectation, Scenario};
use epa_core::cbt::{self, HashRule};
use epa_core::gss::GssChannelBindings;
use epa_core::prefix::{StaticResolver, default_service_names};
use epa_core::spn::{self, HostKind, ServiceNameCollection};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Extended Protection for Authentication: channel bindings (RFC 5929 / RFC 9266), service
/// names (SPNs) and policies that decide like .NET HttpListener and IIS.
#[derive(Parser)]
#[command(name = "epa", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the tls-server-end-point channel binding of a server certificate.
    ///
    /// Prints the hash (RFC 5929 §4.1: the certificate's signature hash, MD5 and SHA-1 replaced
    /// by SHA-256), the application data, the flattened GSS channel-bindings struct and its MD5
    /// (what NTLM carries in MsvAvChannelBindings and Kerberos in Bnd). Compare the MD5 with a
    /// client's token to see whether it was made for this certificate.
    Cbt(CbtArgs),
    /// Normalise or check service principal names with .NET ServiceNameCollection rules.
    #[command(subcommand)]
    Spn(SpnCommand),
    /// Evaluate an Extended Protection policy against cases in a TOML scenario file.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// IIS and http.sys configurations: import them as epa configuration, or check what breaks.
    #[command(subcommand)]
    Iis(IisCommand),
    /// Summarise who would break under an audited target policy, from the JSON decision log
    /// (`--log-format json` of the example server; tracing-subscriber JSON): would-be
    /// rejections by reason, by client address and by user, most affected first.
    AuditReport {
        /// The log file (JSON lines; other lines are counted and skipped).
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Serve the configuration file that `epa lint` checks: with `[upstream]` an Extended
    /// Protection reverse proxy (identity headers, per-route policies), otherwise a hello page.
    /// Prints `listening on https://ADDR` once it accepts; stops on SIGTERM/SIGINT; SIGHUP
    /// reloads the file and the user file (a broken file keeps the running configuration).
    Serve {
        /// The server configuration file (without it: the demo — generated certificate, one
        /// demo user it prints, the hello page, when-supported, on 127.0.0.1:8443).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The embedded NTLM backend's user file (`DOMAIN:user:password` lines).
        #[arg(long)]
        users: Option<PathBuf>,
        /// The NTLM domain the server announces.
        #[arg(long, default_value = "EPA")]
        domain: String,
        /// The NetBIOS computer name the server announces.
        #[arg(long, default_value = "EPA-SERVER")]
        computer: String,
        /// Listen on ADDR (e.g. 127.0.0.1:0) instead of `[listener] address`.
        #[arg(long, value_name = "ADDR")]
        address: Option<std::net::SocketAddr>,
    },
    /// Check a server configuration file (TOML; the example server's --config) for mistakes
    /// that cause outages or weaken security. Exit 1 when an error-level finding exists, 2 when
    /// the file cannot be read or parsed.
    Lint {
        /// The server configuration file.
        file: PathBuf,
        /// Print one JSON object: {"findings": [...], "errors": N, "warnings": N, "infos": N}.
        #[arg(long)]
        json: bool,
        /// The GSSAPI backend's keytab (MIT format): warns about non-HTTP principals, whose
        /// tickets the backend would accept too.
        #[arg(long)]
        keytab: Option<PathBuf>,
    },
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["file", "connect"]))]
struct CbtArgs {
    /// Certificate file, PEM or DER (detected automatically); the first certificate is used.
    file: Option<PathBuf>,
    /// Instead of a file: the certificate a live server presents at HOST:PORT (TLS 1.2/1.3,
    /// any certificate accepted — it is only read), e.g. an IIS server's, to compare with
    /// what a client computed. Also prints the certificate's subject, issuer and SHA-256.
    #[arg(long, value_name = "HOST:PORT")]
    connect: Option<String>,
    /// The SNI name sent with --connect (default: HOST).
    #[arg(long, value_name = "NAME", requires = "connect")]
    sni: Option<String>,
    /// Seconds for resolving, connecting and the TLS handshake together (with --connect).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10.0,
        requires = "connect"
    )]
    timeout: f64,
    /// `interoperable` (default) or `strict` (the same as --strict).
    #[arg(long, value_enum, default_value_t = RuleArg::Interoperable)]
    hash_rule: RuleArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Refuse certificates for which RFC 5929 defines no binding (Ed25519, Ed448, RSASSA-PSS
    /// with two different hashes) instead of using the interoperable choice (SHA-256, or the
    /// PSS parameters' hash), as .NET does.
    #[arg(long)]
    strict: bool,
}

/// `--hash-rule`: what to do where RFC 5929 defines no binding.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RuleArg {
    /// Ed25519/Ed448 → SHA-256, RSASSA-PSS → the parameters' hash (what requests-ntlm does).
    Interoperable,
    /// Refuse those certificates, as .NET does.
    Strict,
}

#[derive(Subcommand)]
enum SpnCommand {
    /// Print each NAME as a ServiceNameCollection stores it (IDN A-labels become U-labels; case,
    /// ports and trailing dots are kept).
    Normalize {
        /// Service names, e.g. HTTP/www.contoso.com:8080.
        #[arg(required = true)]
        names: Vec<String>,
        /// Print a JSON array with each name's parts.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when SPN is in the collection built from --name and --prefix, 1 when it is not
    /// (2 on invalid input).
    Check {
        /// An acceptable service name (repeatable).
        #[arg(long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// A listener prefix whose default names are acceptable (repeatable), e.g.
        /// http://www.contoso.com:80/.
        #[arg(long = "prefix", value_name = "PREFIX")]
        prefixes: Vec<String>,
        /// What wildcard and IP-literal prefixes resolve to.
        #[arg(long)]
        machine_name: Option<String>,
        /// The client's service name.
        spn: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Decide every case in FILE and print the outcomes.
    Eval {
        /// The scenario file (TOML: a [policy] table and [[case]] entries).
        file: PathBuf,
        /// Print a JSON array, one object per case in file order.
        #[arg(long)]
        json: bool,
    },
    /// Decide every case in FILE and compare with its expect* keys; exit 0 only if all hold.
    Test {
        /// The scenario file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum IisCommand {
    /// Print each location's settings as epa configuration: the [policy] table (IIS form, and
    /// the .NET form commented) and the client-certificate mode. Exit 1 on unreadable input.
    Import {
        /// applicationHost.config, web.config (XML) and `netsh http show sslcert` output (text).
        #[arg(required_unless_present = "web_configs")]
        files: Vec<PathBuf>,
        /// Only this location (e.g. "Default Web Site/app"); its output is a scenario file.
        #[arg(long)]
        location: Option<String>,
        /// A web.config and where it lives: 'Default Web Site/app=path/to/web.config'
        /// (repeatable). A web.config among FILE applies at every site's root.
        #[arg(long = "web-config", value_name = "LOCATION=FILE")]
        web_configs: Vec<String>,
    },
    /// Findings with severity, reason and fix: client certificates under TLS 1.3 and HTTP/2,
    /// revocation, the acceptable-CA list, Extended Protection settings. Exit 1 when an
    /// error-level finding exists, 2 on unreadable input.
    Check {
        /// applicationHost.config, web.config (XML) and `netsh http show sslcert` output (text).
        #[arg(required_unless_present = "web_configs")]
        files: Vec<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// A web.config and where it lives: 'Default Web Site/app=path/to/web.config'
        /// (repeatable).
        #[arg(long = "web-config", value_name = "LOCATION=FILE")]
        web_configs: Vec<String>,
    },
}

/// An error the command reports as one `error:` line.
struct Failure {
    message: String,
    code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cbt(args) => run_cbt(&args),
        Command::Spn(SpnCommand::Normalize { names, json }) => run_normalize(&names, json),
        Command::Spn(SpnCommand::Check {
            names,
            prefixes,
            machine_name,
            spn,
        }) => run_check(&names, &prefixes, machine_name, &spn),
        Command::Policy(PolicyCommand::Eval { file, json }) => run_eval(&file, json),
        Command::Policy(PolicyCommand::Test { file }) => run_test(&file),
        Command::Lint { file, json, keytab } => run_lint(&file, keytab.as_deref(), json),
        Command::Serve {
            config,
            users,
            domain,
            computer,
            address,
        } => serve::run(&serve::ServeArgs {
            config,
            users,
            domain,
            computer,
            address,
        })
        .map_err(|message| Failure { message, code: 1 }),
        Command::AuditReport { file, json } => run_audit_report(&file, json),
        Command::Iis(IisCommand::Import {
            files,
            location,
            web_configs,
        }) => run_iis_import(&files, &web_configs, location.as_deref()),
        Command::Iis(IisCommand::Check {
            files,
            json,
            web_configs,
        }) => run_iis_check(&files, &web_configs, json),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
}

fn read_iis(
    files: &[PathBuf],
    web_configs: &[String],
    code: u8,
) -> Result<epa_cli::iis::Inputs, Failure> {
    let fail = |message: String| Failure { message, code };
    let mut placed: Vec<(PathBuf, Option<String>)> =
        files.iter().map(|f| (f.clone(), None)).collect();
    for w in web_configs {
        let (at, file) = w.split_once('=').ok_or_else(|| {
            fail(format!(
                "--web-config {w:?}: expected LOCATION=FILE, e.g. 'Default Web Site/app=web.config'"
            ))
        })?;
        placed.push((PathBuf::from(file), Some(at.to_owned())));
    }
    let mut texts = Vec::new();
    for (f, at) in placed {
        let bytes =
            std::fs::read(&f).map_err(|e| fail(format!("cannot read {}: {e}", f.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(format!(
                "{}: not UTF-8 (byte {})",
                f.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        texts.push((f.display().to_string(), text, at));
    }
    epa_cli::iis::read_at(&texts).map_err(|e| fail(e.to_string()))
}

fn run_iis_import(
    files: &[PathBuf],
    web_configs: &[String],
    location: Option<&str>,
) -> Result<u8, Failure> {
    let inputs = read_iis(files, web_configs, 1)?;
    let config = &inputs.config;
    let locations = config.locations();
    let chosen: Vec<String> = match location {
        Some(l) => {
            let l = l.trim_matches('/');
            if !locations.iter().any(|x| x.eq_ignore_ascii_case(l)) && config.site_of(l).is_none() {
                return Err(Failure::from(format!(
                    "no site or location {l:?} (known: {})",
                    locations.join(", ")
                )));
            }
            vec![l.to_owned()]
        }
        None => locations,
    };
    if chosen.is_empty() {
        return Err(Failure::from("no site or location in the input".to_owned()));
    }
    let docs: Vec<String> = chosen
        .iter()
        .map(|l| epa_cli::iis::import::import(config, l))
        .collect();
    print!("{}", docs.join("\n# ---\n\n"));
    Ok(0)
}

fn run_iis_check(files: &[PathBuf], web_configs: &[String], json: bool) -> Result<u8, Failure> {
    let inputs = read_iis(files, web_configs, 2)?;
    let findings = epa_cli::iis::check::check(&inputs.config, inputs.netsh.as_deref());
    let lines = findings.iter().map(|f| {
        let mut text = format!("{}[{}] {}: {}", f.severity.name(), f.code, f.subject, f.why);
        for fix in &f.fix {
            text.push_str(&format!("\n  fix: {fix}"));
        }
        (f.severity, text)
    });
    print_findings(&findings, lines.collect(), None, json)
}

/// Prints findings as one JSON object (`findings`, `errors`, `warnings`, `infos`, and `file`
/// when given) or as their text lines and a summary; the exit status is 1 when an error-level
/// finding exists.
fn print_findings<T: Serialize>(
    findings: &[T],
    lines: Vec<(epa_core::lint::Severity, String)>,
    file: Option<&Path>,
    json: bool,
) -> Result<u8, Failure> {
    use epa_core::lint::Severity;
    let count = |s| lines.iter().filter(|(sev, _)| *sev == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    if json {
        let mut report = serde_json::json!({
            "findings": findings,
            "errors": errors,
            "warnings": warnings,
            "infos": infos,
        });
        if let Some(f) = file {
            report["file"] = serde_json::Value::String(f.display().to_string());
        }
        println!("{report}");
    } else {
        for (_, text) in &lines {
            println!("{text}");
        }
        let prefix = file
            .map(|f| format!("{}: ", f.display()))
            .unwrap_or_default();
        println!("{prefix}{errors} error(s), {warnings} warning(s), {infos} info");
    }
    Ok(u8::from(errors > 0))
}

fn run_audit_report(path: &Path, json: bool) -> Result<u8, Failure> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let report = epa_cli::audit_report::AuditReport::from_log(&text);
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(0);
    }
    println!(
        "{} would-be rejection(s) in {} decision(s), {} of them audited ({} line(s), {} not JSON)",
        report.would_reject, report.decisions, report.audited, report.lines, report.not_json
    );
    for (title, rows) in [
        ("by reason", &report.by_reason),
        ("by client address", &report.by_client),
        ("by user", &report.by_user),
    ] {
        if rows.is_empty() {
            continue;
        }
        println!("{title}:");
        for row in rows {
            println!("  {:>7}  {}", row.count, row.key);
        }
    }
    Ok(0)
}

fn run_lint(path: &Path, keytab: Option<&Path>, json: bool) -> Result<u8, Failure> {
    use epa_core::lint::lint;
    let unusable = |message: String| Failure { message, code: 2 };
    let text = std::fs::read_to_string(path)
        .map_err(|e| unusable(format!("cannot read {}: {e}", path.display())))?;
    let mut config: epa_core::config::ServerConfig = toml::from_str(&text).map_err(|e| {
        unusable(format!(
            "{}: invalid server configuration: {}",
            path.display(),
            epa_cli::scenario::located(&text, &e)
        ))
    })?;
    config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    let ca = ca_files(&config.client_certificates);
    let mut findings = lint(&config, ca.as_ref());
    // `--keytab`, or the `[backend] keytab` the file names: the file that is linted is the
    // file that runs.
    let named = config.backend.as_ref().and_then(|b| b.keytab.clone());
    if let Some(keytab) = keytab.map(Path::to_path_buf).or(named) {
        let bytes = std::fs::read(&keytab)
            .map_err(|e| unusable(format!("cannot read {}: {e}", keytab.display())))?;
        findings.extend(epa_core::lint::keytab(&bytes));
    }
    if let Some(pinned) = &config.listener.proxy_certificate_file {
        let read =
            std::fs::read(pinned).map_err(|e| format!("cannot read {}: {e}", pinned.display()));
        findings.extend(epa_core::lint::proxy_certificate(
            read.as_deref().map_err(Clone::clone),
        ));
    }
    let lines = findings.iter().map(|f| {
        (
            f.severity,
            format!(
                "{}[{}]: {}\n  fix: {}",
                f.severity.name(),
                f.code,
                f.why,
                f.fix
            ),
        )
    });
    print_findings(&findings, lines.collect(), Some(path), json)
}

/// Reads the CA files a configuration names and sizes the acceptable-CA list they make.
fn ca_files(table: &epa_core::config::ClientCertificateTable) -> Option<epa_core::lint::CaFiles> {
    use epa_core::client_cert::{ca_hint_size, certificate_subject};
    use epa_core::config::HintChoice;
    use epa_core::lint::CaFiles;
    if table.ca_files.is_empty() {
        return None;
    }
    let load = |files: &[PathBuf]| -> Result<Vec<Vec<u8>>, String> {
        let mut subjects = Vec::new();
        for file in files {
            let bytes =
                std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let certs = cbt::certificates_from_pem(&bytes)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            for (i, der) in certs.iter().enumerate() {
                let subject = certificate_subject(der)
                    .map_err(|e| format!("{}: certificate #{}: {e}", file.display(), i + 1))?;
                subjects.push(subject.to_vec());
            }
        }
        Ok(subjects)
    };
    if let Err(e) = load(&table.ca_files) {
        return Some(CaFiles::Unreadable(e));
    }
    let hinted = match table.hints {
        HintChoice::All => load(&table.ca_files),
        HintChoice::None => Ok(Vec::new()),
        HintChoice::Subset => load(&table.hint_ca_files),
    };
    Some(match hinted {
        Err(e) => CaFiles::Unreadable(e),
        Ok(subjects) => match ca_hint_size(subjects.iter().map(Vec::as_slice)) {
            Ok(size) => CaFiles::Hints(size),
            Err(e) => CaFiles::HintError(e),
        },
    })
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::from(format!("cannot read {}: {e}", path.display())))
}

#[derive(Serialize)]
struct CbtReport {
    binding_type: &'static str,
    hash_algorithm: &'static str,
    hash_basis: &'static str,
    hash_hex: String,
    application_data_hex: String,
    gss_channel_bindings_hex: String,
    channel_bindings_md5_hex: String,
}

/// What `--connect` adds to the report: where the certificate came from and what it is.
#[derive(Serialize)]
struct ServerReport {
    connected_to: String,
    sni: Option<String>,
    tls_version: String,
    chain_length: usize,
    subject: String,
    issuer: String,
    sha256_fingerprint_hex: String,
}

fn run_cbt(args: &CbtArgs) -> Result<u8, Failure> {
    let rule = if args.strict || args.hash_rule == RuleArg::Strict {
        HashRule::Strict
    } else {
        HashRule::Interoperable
    };
    let (input, origin, server) = match (&args.file, &args.connect) {
        (Some(file), _) => (read(file)?, file.display().to_string(), None),
        (None, Some(target)) => {
            let deadline = std::time::Duration::try_from_secs_f64(args.timeout)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| Failure::from("--timeout must be a positive number of seconds"))?;
            let fetched = cbt_connect::fetch(target, args.sni.as_deref(), deadline)
                .map_err(|e| Failure::from(e.to_string()))?;
            let leaf = &fetched.chain[0];
            let described = epa_hyper::client_cert::ClientCertificate::from_chain(leaf, &[])
                .ok_or_else(|| {
                    Failure::from(format!(
                        "{}: the server's certificate is not readable X.509",
                        fetched.peer
                    ))
                })?;
            let report = ServerReport {
                connected_to: fetched.peer.to_string(),
                sni: fetched.sni.clone(),
                tls_version: fetched.protocol.clone(),
                chain_length: fetched.chain.len(),
                subject: described.subject.clone(),
                issuer: described.issuer.clone(),
                sha256_fingerprint_hex: described.fingerprint(),
            };
            (leaf.to_vec(), fetched.peer.to_string(), Some(report))
        }
        (None, None) => return Err(Failure::from("give a certificate file or --connect")),
    };
    let (_, ep) = cbt::tls_server_end_point_auto(&input, rule)
        .map_err(|e| Failure::from(format!("{origin}: {e}")))?;
    let gss = GssChannelBindings::from(&ep.binding);
    let report = CbtReport {
        binding_type: ep.binding.binding_type().name(),
        hash_algorithm: ep.hash_algorithm().name(),
        hash_basis: ep.basis().name(),
        hash_hex: hex::encode(ep.binding.payload()),
        application_data_hex: hex::encode(ep.binding.application_data()),
        gss_channel_bindings_hex: hex::encode(gss.to_bytes()?),
        channel_bindings_md5_hex: hex::encode(gss.md5()?.as_bytes()),
    };
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        if let (Some(server), Some(object)) = (&server, json.as_object_mut()) {
            object.insert("server".into(), serde_json::to_value(server)?);
        }
        println!("{json}");
    } else {
        if let Some(s) = &server {
            println!("connected to:          {}", s.connected_to);
            println!(
                "sni:                   {}",
                s.sni.as_deref().unwrap_or("(none)")
            );
            println!("tls version:           {}", s.tls_version);
            println!("subject:               {}", s.subject);
            println!("issuer:                {}", s.issuer);
            println!("sha-256 fingerprint:   {}", s.sha256_fingerprint_hex);
            println!("chain length:          {}", s.chain_length);
        }
        println!("binding type:          {}", report.binding_type);
        println!(
            "hash algorithm:        {} ({})",
            report.hash_algorithm,
            basis_text(report.hash_basis)
        );
        println!("certificate hash:      {}", report.hash_hex);
        println!("application data:      {}", report.application_data_hex);
        println!("gss channel bindings:  {}", report.gss_channel_bindings_hex);
        println!("MD5 (NTLM/Kerberos):   {}", report.channel_bindings_md5_hex);
    }
    Ok(0)
}

fn basis_text(basis: &str) -> &'static str {
    match basis {
        "rfc5929" => "the signature's hash, RFC 5929 §4.1",
        "rfc5929-upgraded" => "MD5/SHA-1 signature upgraded to SHA-256, RFC 5929 §4.1",
        _ => "RFC 5929 defines no binding here; interoperable choice, see --strict",
    }
}

#[derive(Serialize)]
struct NormalizedName<'a> {
    input: &'a str,
    normalized: String,
    service_class: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
    distinguisher: Option<&'a str>,
    host_kind: Option<&'static str>,
    dotless: bool,
}

fn run_normalize(names: &[String], json: bool) -> Result<u8, Failure> {
    let mut out = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let sn = spn::ServiceName::new(name).map_err(|_| Failure {
            message: format!(
                "service name #{index} is empty: a service name must not be null or empty"
            ),
            code: 2,
        })?;
        let p = spn::parts(name);
        out.push(NormalizedName {
            input: name,
            normalized: sn.as_str().to_owned(),
            service_class: p.as_ref().map(|p| p.service_class),
            host: p.as_ref().map(|p| p.host),
            port: p.as_ref().and_then(|p| p.port),
            distinguisher: p.as_ref().and_then(|p| p.distinguisher),
            host_kind: p.as_ref().map(|p| match p.host_kind {
                HostKind::Dns => "dns",
                HostKind::Ipv4 => "ipv4",
                HostKind::Ipv6 => "ipv6",
                HostKind::Unknown => "unknown",
            }),
            dotless: sn.is_dotless(),
        });
    }
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for n in &out {
            println!("{}", n.normalized);
        }
    }
    Ok(0)
}

fn run_check(
    names: &[String],
    prefixes: &[String],
    machine_name: Option<String>,
    spn: &str,
) -> Result<u8, Failure> {
    let as_usage = |e: &dyn std::fmt::Display| Failure {
        message: e.to_string(),
        code: 2,
    };
    if names.is_empty() && prefixes.is_empty() {
        return Err(as_usage(&"give at least one --name or --prefix"));
    }
    let resolver = StaticResolver {
        machine: machine_name,
        ..StaticResolver::default()
    };
    let defaults = default_service_names(prefixes, &resolver).map_err(|e| as_usage(&e))?;
    let collection = ServiceNameCollection::new(names)
        .and_then(|c| c.merge(defaults.iter().map(|n| n.as_str())))
        .map_err(|e| as_usage(&e))?;
    if collection.contains(spn) {
        let normalized = spn::fold_case(&spn::normalize(spn));
        let found = collection
            .iter()
            .find(|n| n.key() == normalized)
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        println!("match: '{spn}' is in the collection (as '{found}')");
        Ok(0)
    } else {
        let listed: Vec<&str> = collection.iter().map(|n| n.as_str()).collect();
        println!(
            "no match: '{spn}' (normalised '{}') is not among: {}",
            spn::normalize(spn),
            listed.join(", ")
        );
        Ok(1)
    }
}

fn load(file: &Path) -> Result<Scenario, Failure> {
    let bytes = read(file)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Failure::from(format!("{}: not UTF-8: {e}", file.display())))?;
    Scenario::parse(&text).map_err(|e| Failure::from(format!("{}: {e}", file.display())))
}

fn run_eval(file: &Path, json: bool) -> Result<u8, Failure> {
    let scenario = load(file)?;
    let results = scenario.evaluate();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(0);
    }
    println!(
        "policy: {} (profile {})",
        scenario.server.policy(),
        scenario.server.profile().name()
    );
    if let Some(target) = &scenario.target {
        println!("audit target: {}", target.policy());
    }
    for r in &results {
        println!("{}", human(r));
    }
    Ok(0)
}

fn human(r: &CaseResult) -> String {
    let outcome = match (r.decision, r.status) {
        (Expectation::Accept, _) => "accept".to_owned(),
        (Expectation::Reject, Some(s)) => format!("reject {s}"),
        (Expectation::Reject, None) => "reject".to_owned(),
    };
    let name = match &r.service_name {
        None => "none".to_owned(),
        Some(s) => format!("{s:?}"),
    };
    let mut text = format!(
        "{:<10} {}\n           reason {}: {}\n           service name: {}",
        outcome, r.name, r.reason, r.message, name
    );
    if let Some(t) = &r.target {
        text.push_str(&format!(
            "\n           target: {} ({}){}",
            match t.decision {
                Expectation::Accept => "accept",
                Expectation::Reject => "reject",
            },
            t.reason,
            if t.would_reject {
                " — would-be rejection"
            } else {
                ""
            }
        ));
    }
    text
}

fn run_test(file: &Path) -> Result<u8, Failure> {
    let scenario = load(file)?;
    if let Some(case) = scenario.cases_without_expectation().next() {
        return Err(Failure::from(format!(
            "{}: case '{}' has no expect, expect_service_name, expect_no_service_name, expect_reason, expect_status or expect_target*",
            file.display(),
            case.name
        )));
    }
    if scenario.cases.is_empty() {
        return Err(Failure::from(format!(
            "{}: no [[case]] entries",
            file.display()
        )));
    }
    let results = scenario.evaluate();
    let mut failed = 0;
    for (case, r) in scenario.cases.iter().zip(&results) {
        let failures = case.failures(r);
        if failures.is_empty() {
            println!("ok   {}", case.name);
        } else {
            failed += 1;
            println!("FAIL {}: {}", case.name, failures.join("; "));
        }
    }
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed == 0 { 0 } else { 1 })
}
