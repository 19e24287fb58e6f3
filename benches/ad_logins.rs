//! NTLM logins per second and latency per login: the embedded backend with a local user file
//! against the winbind backend (the NTLMv2 proof verified by an AD domain controller), both
//! `epa serve` processes started by `scripts/bench-ad`, measured in one run as alternating pairs.
//!
//! A login is what a browser does on a new connection: TLS, the anonymous 401, NEGOTIATE,
//! AUTHENTICATE with the channel binding. `EPA_AD_CONCURRENCY` clients (default 8) log in
//! back to back for `EPA_AD_RUN_MS` (default 3000) per run, `EPA_AD_PAIRS` pairs (default 7).
//!
//! Inputs (environment, set by the script): `EPA_AD_LOCAL` and `EPA_AD_WINBIND` (addresses),
//! `EPA_AD_CERT` (the servers' certificate, PEM), `EPA_AD_USER` (`DOMAIN:user:password`).
//! Without them (as under `cargo test --all-targets`) it prints how to run it and exits.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[path = "support/servers.rs"]
#[allow(dead_code)]
mod servers;
use servers::connect;

#[path = "support/legs.rs"]
#[allow(dead_code)]
mod legs;
use legs::{client_config, get};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Target {
    name: &'static str,
    addr: SocketAddr,
}

struct Credentials {
    domain: String,
    user: String,
    password: String,
}

/// One login on a new connection; its latency.
async fn login(addr: SocketAddr, who: &Credentials, binding: [u8; 16]) -> Duration {
    let start = Instant::now();
    let mut sender = connect(addr, client_config()).await;
    let (status, _) = get(&mut sender, None).await;
    assert_eq!(status, 401, "anonymous request");
    let mut client = NtlmClient::new(&who.domain, &who.user, &who.password)
        .binding(ClientBinding::Hash(binding))
        .target_name(Some("HTTP/localhost"));
    let (_, www) = get(
        &mut sender,
        Some(format!("NTLM {}", STANDARD.encode(client.negotiate()))),
    )
    .await;
    let challenge = STANDARD
        .decode(www.expect("challenge").trim_start_matches("NTLM "))
        .expect("base64");
    let auth = client.authenticate(&challenge).expect("authenticate");
    let (status, _) = get(&mut sender, Some(format!("NTLM {}", STANDARD.encode(auth)))).await;
    assert_eq!(status, 200, "login refused");
    start.elapsed()
}

/// `concurrency` clients logging in back to back for `run`: logins/s and every latency.
async fn measure(
    addr: SocketAddr,
    who: &std::sync::Arc<Credentials>,
    binding: [u8; 16],
    concurrency: u64,
    run: Duration,
) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let who = who.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < run {
                lat.push(login(addr, &who, binding).await);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let secs = start.elapsed().as_secs_f64();
    (all.len() as f64 / secs, all)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let (Some(local), Some(winbind), Some(cert), Some(user)) = (
        env("EPA_AD_LOCAL"),
        env("EPA_AD_WINBIND"),
        env("EPA_AD_CERT"),
        env("EPA_AD_USER"),
    ) else {
        println!(
            "ad_logins: needs a domain controller and two epa serve processes: run scripts/bench-ad"
        );
        return;
    };
    let mut parts = user.splitn(3, ':');
    let who = std::sync::Arc::new(Credentials {
        domain: parts.next().unwrap_or_default().to_owned(),
        user: parts.next().unwrap_or_default().to_owned(),
        password: parts.next().unwrap_or_default().to_owned(),
    });
    let pem = std::fs::read(&cert).expect("certificate file");
    let der = epa::cbt::certificates_from_pem(&pem)
        .expect("PEM certificate")
        .into_iter()
        .next()
        .expect("one certificate");
    let binding =
        epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).expect("cbt").binding)
            .md5()
            .expect("md5")
            .0;
    let targets = [
        Target {
            name: "local user file",
            addr: local.parse().expect("EPA_AD_LOCAL"),
        },
        Target {
            name: "winbind (domain controller)",
            addr: winbind.parse().expect("EPA_AD_WINBIND"),
        },
    ];
    let pairs = number("EPA_AD_PAIRS", 7);
    let run = Duration::from_millis(number("EPA_AD_RUN_MS", 3000));
    let concurrency = number("EPA_AD_CONCURRENCY", 8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Warm-up: connections, winbind's context pool, the DC's caches.
        for t in &targets {
            let _ = measure(t.addr, &who, binding, concurrency, Duration::from_millis(500)).await;
        }
        let mut rates = [Vec::new(), Vec::new()];
        let mut lats = [Vec::new(), Vec::new()];
        let mut ratios = Vec::new();
        for pair in 0..pairs {
            let order: [usize; 2] = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut this = [0.0; 2];
            for &i in &order {
                let (rate, lat) = measure(targets[i].addr, &who, binding, concurrency, run).await;
                this[i] = rate;
                rates[i].push(rate);
                lats[i].extend(lat);
            }
            ratios.push(this[1] / this[0]);
        }
        println!(
            "NTLM logins (new TLS connection + 3 legs, {concurrency} clients, {pairs} alternating pairs of {} ms)",
            run.as_millis()
        );
        for (i, t) in targets.iter().enumerate() {
            let mut l = std::mem::take(&mut lats[i]);
            l.sort();
            println!(
                "  {:<28} {:>8.1} logins/s (median)   latency p50 {:>6.2} ms  p99 {:>6.2} ms  ({} logins)",
                t.name,
                median(rates[i].clone()),
                percentile(&l, 0.50),
                percentile(&l, 0.99),
                l.len()
            );
            lats[i] = l;
        }
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "  winbind / local: {:.3} (median of pairs; min {:.3}, max {:.3})",
            median(ratios),
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN)
        );
        println!(
            "  added latency per login: p50 {:+.2} ms, p99 {:+.2} ms",
            percentile(&lats[1], 0.50) - percentile(&lats[0], 0.50),
            percentile(&lats[1], 0.99) - percentile(&lats[0], 0.99)
        );
    });
}
