//! `epa`: compute channel bindings, check service names, evaluate Extended Protection policies.

#![forbid(unsafe_code)]

mod cbt_connect;
mod cmd_cbt;
mod cmd_generate;
mod cmd_iis;
mod cmd_lint;
mod cmd_policy;
mod cmd_serve;
mod cmd_spn;
mod serve_demo;

use clap::{CommandFactory as _, Parser, Subcommand};
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
    Cbt(cmd_cbt::CbtArgs),
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
    /// rejections by reason, mechanism, client address and user, most affected first; and
    /// every accepted NTLM login by user and client address (who still uses NTLM, from where).
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
    /// Write the manual pages or shell completions (for packaging; see scripts/package-deb).
    #[command(subcommand, hide = true)]
    Generate(cmd_generate::GenerateCommand),
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
    /// Print the exhaustive decision table (docs/decision-table.md), computed by the core.
    Table {
        /// Filters COLUMN=VALUE (e.g. profile=iis transport=http); a row matches when its cell
        /// is VALUE or `*`.
        filters: Vec<String>,
        /// Print CSV, the format of docs/decision-table.csv.
        #[arg(long)]
        csv: bool,
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
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            message: e.to_string(),
            code: 1,
        }
    }
}

/// The file's bytes, or a failure naming it.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::from(format!("cannot read {}: {e}", path.display())))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cbt(args) => cmd_cbt::run_cbt(&args),
        Command::Spn(SpnCommand::Normalize { names, json }) => cmd_spn::run_normalize(&names, json),
        Command::Spn(SpnCommand::Check {
            names,
            prefixes,
            machine_name,
            spn,
        }) => cmd_spn::run_check(&names, &prefixes, machine_name, &spn),
        Command::Policy(PolicyCommand::Eval { file, json }) => cmd_policy::run_eval(&file, json),
        Command::Policy(PolicyCommand::Test { file }) => cmd_policy::run_test(&file),
        Command::Policy(PolicyCommand::Table { filters, csv }) => {
            cmd_policy::run_table(&filters, csv)
        }
        Command::Lint { file, json, keytab } => cmd_lint::run_lint(&file, keytab.as_deref(), json),
        Command::Serve {
            config,
            users,
            domain,
            computer,
            address,
        } => cmd_serve::run(cmd_serve::ServeArgs {
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
        }) => cmd_iis::run_iis_import(&files, &web_configs, location.as_deref()),
        Command::Iis(IisCommand::Check {
            files,
            json,
            web_configs,
        }) => cmd_iis::run_iis_check(&files, &web_configs, json),
        Command::Generate(what) => cmd_generate::run(&what, Cli::command()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
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
    let ntlm = format!(
        "NTLM logins ({}), by user and client address",
        report.ntlm_logins
    );
    for (title, rows) in [
        ("by reason", &report.by_reason),
        ("by mechanism", &report.by_mechanism),
        ("by client address", &report.by_client),
        ("by user", &report.by_user),
        ("audit warnings outside decisions", &report.audit_warnings),
        (ntlm.as_str(), &report.ntlm_by_user_and_client),
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
