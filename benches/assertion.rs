//! Signed identity assertions (issue #23): what a login pays to mint one, and what keep-alive
//! requests pay with one (goal: ≥ 0.97 of the requests/s without).
//!
//! * `assertion/mint/ES256`, `assertion/mint/EdDSA` (criterion): one assertion minted (claims,
//!   JSON, JWS with ring) — the cost per login.
//! * Keep-alive ratio (run when `EPA_BIN` names a release `epa`, e.g. `EPA_BIN=target/release/epa
//!   cargo bench --bench assertion`): `epa serve` (embedded NTLM backend, `[policy] always`) in
//!   front of a one-thread hyper upstream in this process; `BENCH_CONNECTIONS` (4) connections
//!   per side log in once (NTLM with the certificate's binding), then send keep-alive GETs for
//!   `BENCH_RUN_MS` (1000) ms: side `plain` on a route without assertion, side `assertion` on a
//!   route with one (ES256). `BENCH_ROUNDS` (7) rounds alternate the order; printed: medians of
//!   req/s and of epa's CPU per request (`/proc`), and the median per-round ratio.

#![allow(clippy::unwrap_used)] // a bench: a panic is the report

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../tests/proxy_support/mod.rs"]
mod proxy_support;

#[path = "support/proc_cpu.rs"]
#[allow(dead_code)]
mod proc_cpu;

use criterion::Criterion;
use epa_core::authenticator::Identity;
use epa_core::decide::{ClientServiceName, Mechanism, Reason};
use epa_server::assertion::{KeySet, Minter, SigningKey};
use std::hint::black_box;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn minter(pem: &str) -> Minter {
    let table: epa_config::IdentityAssertionTable = toml::from_str(
        "signing_key_file = \"k\"\nissuer = \"https://epa.example.com\"\naudience = \"my-app\"\n",
    )
    .unwrap();
    let current = SigningKey::from_pem(pem.as_bytes(), Path::new("k")).unwrap();
    Minter::new(
        &table,
        KeySet {
            current,
            previous: vec![],
        },
        http::HeaderName::from_static("x-epa-assertion"),
    )
}

fn user() -> epa_hyper::Authenticated {
    epa_hyper::Authenticated {
        identity: Identity::ntlm("EPA", "alice"),
        mechanism: Mechanism::Kerberos,
        service_name: ClientServiceName::Value("HTTP/web.epa.test".into()),
        reason: Reason::BindingVerified,
        user_sid: Some(
            "S-1-5-21-1004336348-1177238915-682003330-1105"
                .parse()
                .unwrap(),
        ),
        groups: (0..8)
            .map(|i| {
                format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1200 + i)
                    .parse()
                    .unwrap()
            })
            .collect(),
        group_names: (0..8).map(|i| format!("EPA\\Group{i}")).collect(),
    }
}

fn mint_bench(c: &mut Criterion) {
    let user = user();
    for (name, alg) in [
        ("ES256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("EdDSA", &rcgen::PKCS_ED25519),
    ] {
        let m = minter(&rcgen::KeyPair::generate_for(alg).unwrap().serialize_pem());
        c.bench_function(&format!("assertion/mint/{name}"), |b| {
            b.iter(|| black_box(m.mint(black_box(&user)).unwrap()))
        });
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A one-thread hyper upstream answering `ok`; its port.
fn upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
                });
            }
        });
    });
    port
}

/// Keep-alive GETs on logged-in connections for `run`: (requests, epa CPU ns).
fn side(
    addr: std::net::SocketAddr,
    path: &str,
    conns: usize,
    run: Duration,
    pid: u32,
) -> (u64, u64) {
    let mut clients: Vec<_> = (0..conns)
        .map(|_| {
            let mut c = proxy_support::RawConn::open(addr);
            let warm = if path == "/anon" {
                c.get(path, &[])
            } else {
                c.login(path, "alice", "userpw", &[])
            };
            assert_eq!(warm.status, 200);
            c
        })
        .collect();
    let cpu0 = proc_cpu::tree_cpu_ns(&[pid]).unwrap();
    let end = Instant::now() + run;
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .map(|c| {
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < end {
                        assert_eq!(c.get(path, &[]).status, 200);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let cpu = proc_cpu::tree_cpu_ns(&[pid]).unwrap() - cpu0;
    (counts.iter().sum(), cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn keep_alive_ratio(bin: &Path) {
    let (cert, key, _) = support::cert_files();
    let dir = support::workdir();
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let key_file = dir.join("bench-assertion.pem");
    std::fs::write(&key_file, pem).unwrap();
    let users = dir.join("bench-users");
    std::fs::write(&users, "TESTDOM:alice:userpw\n").unwrap();
    let config = dir.join("bench-assertion.toml");
    std::fs::write(
        &config,
        format!(
            "[listener]\ncertificate_file = {cert:?}\nkey_file = {key:?}\n\
             [policy]\nenforcement = \"always\"\nprefixes = [\"https://localhost/\"]\n\
             [upstream]\nurl = \"http://127.0.0.1:{}\"\n\
             [identity_assertion]\nsigning_key_file = {key_file:?}\nissuer = \"https://epa\"\naudience = \"app\"\n\
             [[route]]\npath = \"/assertion\"\nidentity_assertion = true\n\
             [[route]]\npath = \"/anon\"\nanonymous = true\n",
            upstream()
        ),
    )
    .unwrap();
    let mut child = support::ChildGuard(
        Command::new(bin)
            .args([
                "serve",
                "--domain",
                "TESTDOM",
                "--address",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config)
            .arg("--users")
            .arg(&users)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let out = child.0.stdout.take().unwrap();
    let addr: std::net::SocketAddr = std::io::BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on https://").map(str::to_owned))
        .unwrap()
        .parse()
        .unwrap();
    let conns = env("BENCH_CONNECTIONS", 4) as usize;
    let run = Duration::from_millis(env("BENCH_RUN_MS", 1000));
    let rounds = env("BENCH_ROUNDS", 7);
    const PATHS: [&str; 3] = ["/plain", "/assertion", "/anon"];
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut cpus: [Vec<f64>; 3] = Default::default();
    let (mut ratios, mut cpu_ratios, mut auth_ratios) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let mut got = [(0.0, 0.0); 3];
        // The order reverses every round: a drift of the shared machine favours no side.
        let order: [usize; 3] = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for i in order {
            let (n, cpu) = side(addr, PATHS[i], conns, run, pid);
            got[i] = (n as f64 / run.as_secs_f64(), cpu as f64 / n as f64 / 1000.0);
        }
        for i in 0..3 {
            rates[i].push(got[i].0);
            cpus[i].push(got[i].1);
        }
        ratios.push(got[1].0 / got[0].0);
        cpu_ratios.push(got[1].1 / got[0].1);
        auth_ratios.push(got[0].0 / got[2].0);
    }
    println!(
        "keep-alive, {conns} connections, {rounds} rounds of {} ms per side:",
        run.as_millis()
    );
    for (i, name) in ["plain (authenticated)", "assertion", "anonymous"]
        .iter()
        .enumerate()
    {
        println!(
            "  {name:22} {:.0} req/s, epa CPU {:.1} µs/req",
            median(rates[i].clone()),
            median(cpus[i].clone())
        );
    }
    println!(
        "  req/s assertion / plain (median of per-round ratios): {:.3}  (goal >= 0.97)\n  CPU/req assertion / plain: {:.3}\n  req/s plain authenticated / anonymous: {:.3}",
        median(ratios),
        median(cpu_ratios),
        median(auth_ratios),
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches and runs them without --bench: nothing to measure.
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    mint_bench(&mut c);
    c.final_summary();
    match std::env::var_os("EPA_BIN") {
        Some(bin) => keep_alive_ratio(Path::new(&bin)),
        None => println!(
            "keep-alive ratio: set EPA_BIN to a release epa (cargo build --release -p epa-cli)"
        ),
    }
}
