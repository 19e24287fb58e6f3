//! The cost of client-certificate verification in the first handshake, against the same
//! handshake without it, in memory (no sockets), ECDSA P-256 everywhere, TLS 1.3.
//!
//! Names: `handshake/no_client_auth` (the limit), `handshake/client_cert` (request mode: the
//! certificate's signature checked in the handshake, the chain judged after it, as
//! `TlsAcceptor` does), `handshake/client_cert_crl_10k` (the same with revocation `check`
//! against a 10,000-entry CRL), `handshake/require_crl_10k` (require mode: the chain verified
//! in the handshake, the verdict reused after it), `handshake/client_cert_crl_10k_repeat`
//! (one client reconnecting: its verdict of the last second reused). Every case but the last
//! cycles through 4,096 distinct client certificates, so no verdict is reused across
//! handshakes. `handshake/crl_sha256` is the floor of what the CRL adds: webpki re-checks the
//! CRL's signature on each verification, hashing the whole list. Ratios are printed at the end;
//! there is no goal beyond reporting.

use criterion::Criterion;
use epa::client_cert::{CertificateStatus, ClientCertificateMode, RevocationMode};
use epa::hyper::testing::{TestCa, Validity, insecure_client_config_with_cert};
use epa::hyper::{ClientCertificateSettings, ClientCertificateVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use std::hint::black_box;
use std::sync::Arc;

#[path = "support/ratio.rs"]
mod ratio;

type Chain = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// One full handshake between fresh connections, bytes passed in memory.
fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    verifier: Option<&ClientCertificateVerifier>,
) -> Option<CertificateStatus> {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = ClientConnection::new(client.clone(), name).expect("client");
    let mut s = ServerConnection::new(server.clone()).expect("server");
    let mut buf = Vec::with_capacity(16 * 1024);
    while c.is_handshaking() || s.is_handshaking() {
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client write");
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read");
            s.process_new_packets().expect("server handshake");
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server write");
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client read");
            c.process_new_packets().expect("client handshake");
        }
    }
    verifier.map(|v| v.status(s.peer_certificates()).status)
}

fn server_config(
    server: &Chain,
    verifier: Option<Arc<ClientCertificateVerifier>>,
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions");
    let b = match verifier {
        Some(v) => b.with_client_cert_verifier(v),
        None => b.with_no_client_auth(),
    };
    let mut config = b
        .with_single_cert(server.0.clone(), server.1.clone_key())
        .expect("server config");
    // Every iteration is a full handshake.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

fn bench(c: &mut Criterion) {
    let ca = TestCa::new("Bench Client CA").expect("ca");
    let server_ca = TestCa::new("Bench Server CA").expect("ca");
    let server = server_ca
        .issue("localhost", 1, Validity::Current)
        .expect("server cert");
    let tls13 = [&rustls::version::TLS13];
    let clients: Vec<Arc<ClientConfig>> = (0..4096u64)
        .map(|i| {
            let chain = ca
                .issue(&format!("client{i}"), 20_000 + i, Validity::Current)
                .expect("client cert");
            Arc::new(insecure_client_config_with_cert(&tls13, Some(chain)).expect("client"))
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("epa-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let crl = dir.join("10k.crl");
    std::fs::write(&crl, ca.crl(1..=10_000).expect("crl")).expect("write crl");
    println!(
        "10,000-entry CRL: {} bytes",
        std::fs::metadata(&crl).map(|m| m.len()).unwrap_or(0)
    );

    let verifier = |mode, revocation, crls: Vec<std::path::PathBuf>| {
        let mut s = ClientCertificateSettings::new(mode, vec![ca.der()]);
        s.revocation = revocation;
        s.crl_files = crls;
        s.build().expect("verifier")
    };
    let plain_client = Arc::new(insecure_client_config_with_cert(&tls13, None).expect("client"));
    let request = verifier(ClientCertificateMode::Request, RevocationMode::Off, vec![]);
    let request_crl = verifier(
        ClientCertificateMode::Request,
        RevocationMode::Check,
        vec![crl.clone()],
    );
    let require_crl = verifier(
        ClientCertificateMode::Require,
        RevocationMode::Check,
        vec![crl],
    );
    // The CRL is in force: a listed client is revoked.
    let revoked = ca
        .issue("revoked", 5_000, Validity::Current)
        .expect("revoked cert");
    assert_eq!(
        request_crl.status(Some(&revoked.0)).status,
        CertificateStatus::Revoked
    );
    type Case = (
        &'static str,
        Vec<Arc<ClientConfig>>,
        Option<Arc<ClientCertificateVerifier>>,
    );
    let cases: [Case; 5] = [
        ("no_client_auth", vec![plain_client], None),
        ("client_cert", clients.clone(), Some(request)),
        (
            "client_cert_crl_10k",
            clients.clone(),
            Some(request_crl.clone()),
        ),
        ("require_crl_10k", clients.clone(), Some(require_crl)),
        (
            "client_cert_crl_10k_repeat",
            vec![clients[0].clone()],
            Some(request_crl),
        ),
    ];
    let mut group = c.benchmark_group("handshake");
    // What a 10,000-entry CRL costs at least per verification: webpki checks the CRL's
    // signature on every path it builds, which hashes the whole list.
    let crl_der = std::fs::read(dir.join("10k.crl")).expect("crl");
    group.bench_function("crl_sha256", |b| {
        b.iter(|| {
            use sha2::Digest as _;
            sha2::Sha256::digest(black_box(&crl_der))
        })
    });
    for (name, clients, verifier) in cases {
        let config = server_config(&server, verifier.clone());
        // Each case must do what it says before it is timed.
        for client in [&clients[0], &clients[clients.len() - 1]] {
            let status = handshake(client, &config, verifier.as_deref());
            assert_eq!(status.is_some(), verifier.is_some());
            assert!(
                status.is_none() || status == Some(CertificateStatus::Valid),
                "{name}: {status:?}"
            );
        }
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % clients.len();
                black_box(handshake(&clients[i], &config, verifier.as_deref()))
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for case in [
        "client_cert",
        "client_cert_crl_10k",
        "require_crl_10k",
        "client_cert_crl_10k_repeat",
    ] {
        ratio::report(
            &format!("handshake/{case}"),
            &format!("handshake/{case}"),
            "handshake/no_client_auth",
            f64::INFINITY,
        );
    }
    if let (Some(with), Some(without), Some(hash)) = (
        ratio::median_ns("handshake/client_cert_crl_10k"),
        ratio::median_ns("handshake/client_cert"),
        ratio::median_ns("handshake/crl_sha256"),
    ) {
        println!(
            "ratio handshake/crl_overhead: {:.1} ns added by the 10,000-entry CRL / SHA-256 of the CRL {hash:.1} ns = {:.3}",
            with - without,
            (with - without) / hash
        );
    }
}
