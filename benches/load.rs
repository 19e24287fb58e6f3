//! Load benchmark of the adapter, against its physical limit measured in the same run: the same
//! hyper + rustls server without the layer. `cargo bench --bench load`.
//!
//! Reports:
//! 1. requests/s on authenticated keep-alive connections, with the layer / without (goal ≥ 0.90);
//! 2. the cost of a full new connection — TLS + the NTLM exchange (anonymous 401, NEGOTIATE,
//!    AUTHENTICATE) + the channel-binding check — against TLS + one plain request;
//! 3. memory retained per connection by the authentication state (a counting allocator: live
//!    bytes with N idle authenticated connections minus N idle plain ones, over N);
//! 4. the cost of audit mode (observe `always` while enforcing `when-supported`: two decisions
//!    and the would-be-rejection counting per decision) against one decision, on keep-alive
//!    connections where every request authenticates (NEGOTIATE + AUTHENTICATE legs, the layer's
//!    `authenticate_every_request`), which is where audit has the most to do (goal < 1.02).
//!    A Prometheus recorder is installed for the whole run, so counters cost what they cost in
//!    production. Runs alternate (plain, audit, plain, audit, …) and the medians are compared.
//!
//! Client and servers share the machine (loopback), so absolute numbers are low; the ratios are
//! the result. No assertion: this is a measurement.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::decide::Profile;
use epa::hyper::ExtendedProtectionLayer;
use epa::hyper::ntlm::client::{ClientBinding, NtlmClient};
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};
use http_body_util::{BodyExt as _, Empty};
use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/servers.rs"]
mod servers;
use servers::{Sender, connect, spawn_plain, tls_config};

// Live heap bytes, counted by the `stats_alloc` crate's instrumented system allocator.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn live_bytes() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

const CONNECTIONS: usize = 16;
const RUN: Duration = Duration::from_secs(5);

async fn spawn_layered(config: rustls::ServerConfig) -> SocketAddr {
    spawn_layered_with(config, PolicyEnforcement::Always, None, false).await
}

async fn spawn_layered_with(
    config: rustls::ServerConfig,
    enforcement: PolicyEnforcement,
    target: Option<PolicyEnforcement>,
    every_request: bool,
) -> SocketAddr {
    let mut users = UserDb::default();
    for i in 0..CONNECTIONS * 4 {
        users.add_password("BENCH", &format!("user{i}"), "pw");
    }
    let policy = |pe| {
        let policy = ExtendedProtectionPolicy::with_service_names(
            pe,
            ProtectionScenario::TransportSelected,
            ["HTTP/localhost"],
        )
        .expect("policy");
        ServerPolicy::new(
            policy,
            &ServiceNameCollection::default(),
            Profile::Documented,
        )
        .expect("policy")
    };
    let mut layer = ExtendedProtectionLayer::new(
        NtlmAcceptor::new(users, "BENCH", "SRV"),
        policy(enforcement),
    );
    if let Some(t) = target {
        layer = layer.audit(policy(t));
    }
    if every_request {
        layer = layer.authenticate_every_request();
    }
    servers::spawn_layered(config, layer).await
}

fn client_config() -> Arc<rustls::ClientConfig> {
    Arc::new(
        epa::hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS)
            .expect("client config"),
    )
}

async fn get(sender: &mut Sender, auth: Option<String>) -> (u16, Option<String>) {
    let mut req = http::Request::get("/").header("host", "localhost");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    sender.ready().await.expect("connection ready");
    let resp = sender
        .send_request(req.body(Empty::new()).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _ = resp.into_body().collect().await;
    (status, www)
}

/// Anonymous request, NEGOTIATE, AUTHENTICATE: the three legs a browser makes.
async fn authenticate(sender: &mut Sender, user: usize, binding: [u8; 16]) {
    let (status, _) = get(sender, None).await;
    assert_eq!(status, 401);
    let mut client = NtlmClient::new("BENCH", &format!("user{user}"), "pw")
        .binding(ClientBinding::Hash(binding))
        .target_name(Some("HTTP/localhost"));
    let (_, www) = get(
        sender,
        Some(format!("NTLM {}", STANDARD.encode(client.negotiate()))),
    )
    .await;
    let challenge = STANDARD
        .decode(www.expect("challenge").trim_start_matches("NTLM "))
        .expect("base64");
    let auth = client.authenticate(&challenge).expect("authenticate");
    let (status, _) = get(sender, Some(format!("NTLM {}", STANDARD.encode(auth)))).await;
    assert_eq!(status, 200);
}

/// Requests/s over `CONNECTIONS` keep-alive connections for `run` (after 0.5 s of warm-up):
/// each connection runs `requests(i, sender, stop, count)`, which counts its requests until
/// `stop`.
async fn measure<F, Fut>(addr: SocketAddr, run: Duration, requests: F) -> f64
where
    F: Fn(usize, Sender, Arc<AtomicBool>, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let config = client_config();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        let sender = connect(addr, config.clone()).await;
        tasks.push(tokio::spawn(requests(
            i,
            sender,
            stop.clone(),
            count.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_count = count.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(run).await;
    let done = count.load(Ordering::Relaxed) - start_count;
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    done as f64 / secs
}

/// Requests/s on keep-alive connections where every request authenticates (NEGOTIATE, then
/// AUTHENTICATE carrying the binding; the second leg is the counted request).
async fn reauthenticating_throughput(addr: SocketAddr, binding: [u8; 16]) -> f64 {
    measure(
        addr,
        AUDIT_RUN,
        move |i, mut sender, stop, count| async move {
            while !stop.load(Ordering::Relaxed) {
                let mut client = NtlmClient::new("BENCH", &format!("user{i}"), "pw")
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
                let (status, _) =
                    get(&mut sender, Some(format!("NTLM {}", STANDARD.encode(auth)))).await;
                assert_eq!(status, 200);
                count.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await
}

const AUDIT_RUN: Duration = Duration::from_secs(3);
const AUDIT_ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Requests/s on keep-alive connections, authenticated once first when `binding` is given.
async fn throughput(addr: SocketAddr, binding: Option<[u8; 16]>) -> f64 {
    measure(addr, RUN, move |i, mut sender, stop, count| async move {
        if let Some(b) = binding {
            authenticate(&mut sender, i, b).await;
        }
        while !stop.load(Ordering::Relaxed) {
            let (status, _) = get(&mut sender, None).await;
            assert_eq!(status, 200);
            count.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await
}

async fn new_connection_cost(addr: SocketAddr, binding: Option<[u8; 16]>, n: usize) -> Duration {
    let config = client_config();
    let start = Instant::now();
    for i in 0..n {
        let mut sender = connect(addr, config.clone()).await;
        match binding {
            Some(b) => authenticate(&mut sender, i % (CONNECTIONS * 4), b).await,
            None => assert_eq!(get(&mut sender, None).await.0, 200),
        }
    }
    start.elapsed() / n as u32
}

async fn retained_per_connection(addr: SocketAddr, binding: Option<[u8; 16]>, n: usize) -> f64 {
    let config = client_config();
    let before = live_bytes();
    let mut held = Vec::new();
    for i in 0..n {
        let mut sender = connect(addr, config.clone()).await;
        match binding {
            Some(b) => authenticate(&mut sender, i % (CONNECTIONS * 4), b).await,
            None => {
                // The same three requests with headers of the same sizes as the NTLM legs, so
                // that connection buffers grow alike and only the layer's state differs.
                for header in [None, Some("x".repeat(60)), Some("x".repeat(600))] {
                    assert_eq!(
                        get(&mut sender, header.map(|h| format!("Dummy {h}")))
                            .await
                            .0,
                        200
                    );
                }
            }
        }
        held.push(sender);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = live_bytes();
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    (after - before) as f64 / n as f64
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test` runs benches once in test mode: nothing to measure there.
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Counters cost what they cost in production: a real recorder for the whole run.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    rt.block_on(async {
        let (config, der) = tls_config();
        let binding = epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).expect("cbt").binding)
            .md5()
            .expect("md5")
            .0;
        let layered = spawn_layered(config.clone()).await;
        let plain = spawn_plain(config.clone()).await;

        let without = throughput(plain, None).await;
        let with = throughput(layered, Some(binding)).await;
        println!("load/keepalive/plain        {without:>10.0} req/s ({CONNECTIONS} connections, {RUN:?})");
        println!("load/keepalive/layer        {with:>10.0} req/s");
        println!("ratio load/keepalive: layer / plain = {:.3} (goal >= 0.90)", with / without);

        let n = 300;
        let plain_conn = new_connection_cost(plain, None, n).await;
        let layer_conn = new_connection_cost(layered, Some(binding), n).await;
        println!("load/new_connection/plain   {plain_conn:>10.2?} (TLS + 1 request)");
        println!("load/new_connection/layer   {layer_conn:>10.2?} (TLS + anonymous 401 + NEGOTIATE + AUTHENTICATE + CBT check)");
        println!(
            "ratio load/new_connection: layer / plain = {:.3}",
            layer_conn.as_secs_f64() / plain_conn.as_secs_f64()
        );

        let n = 200;
        let plain_mem = retained_per_connection(plain, None, n).await;
        let layer_mem = retained_per_connection(layered, Some(binding), n).await;
        println!("load/memory/plain           {plain_mem:>10.0} bytes per idle connection (client and server)");
        println!("load/memory/layer           {layer_mem:>10.0} bytes per idle authenticated connection");
        println!("load/memory/auth_state      {:>10.0} bytes per connection attributable to the layer", layer_mem - plain_mem);

        let one = spawn_layered_with(config.clone(), PolicyEnforcement::WhenSupported, None, true).await;
        let audited = spawn_layered_with(
            config.clone(),
            PolicyEnforcement::WhenSupported,
            Some(PolicyEnforcement::Always),
            true,
        )
        .await;
        let (mut single, mut double) = (Vec::new(), Vec::new());
        for _ in 0..AUDIT_ROUNDS {
            single.push(reauthenticating_throughput(one, binding).await);
            double.push(reauthenticating_throughput(audited, binding).await);
        }
        let (single, double) = (median(single), median(double));
        println!("load/reauth/one_decision    {single:>10.0} req/s (each request authenticates; median of {AUDIT_ROUNDS} runs of {AUDIT_RUN:?})");
        println!("load/reauth/audit           {double:>10.0} req/s (observe always, enforce when-supported)");
        let cost = single / double;
        println!(
            "ratio load/audit: time per request with audit / with one decision = {cost:.3} ({} goal < 1.02)",
            if cost < 1.02 { "meets" } else { "MISSES" }
        );
        // The run counted what it did: every audited request was decided twice and none of
        // them (all send the right binding) is a would-be rejection.
        let text = metrics.render();
        assert!(text.contains("epa_decisions_total"), "{text}");
        assert!(!text.contains("epa_audit_would_reject_total{"), "{text}");
    });
}
