//! `epa cbt`: a certificate's (or a live server's) channel binding, by every hash rule.

use crate::{Failure, read};
use clap::Args;
use epa_core::cbt::{self, HashRule};
use epa_core::gss::GssChannelBindings;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["file", "connect"]))]
pub(crate) struct CbtArgs {
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

pub(crate) fn run_cbt(args: &CbtArgs) -> Result<u8, Failure> {
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
            let fetched = crate::cbt_connect::fetch(target, args.sni.as_deref(), deadline)
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
