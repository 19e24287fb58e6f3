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
//!    production.
//!
//! Method (docs/benchmarks.md, "Load benchmark method"): every comparison is a series of
//! alternating pairs (A B, B A, A B, …; `EPA_LOAD_PAIRS`, default 9, each keep-alive run
//! `EPA_LOAD_RUN_MS`, default 3000 ms, after 500 ms of warm-up) and is reported as the median
//! and spread (IQR, min–max) of the per-pair ratios. Next to each wall-clock ratio stands the
//! server's CPU time per request: the servers run on their own runtime (one worker thread) whose
//! threads' CPU time is read from the scheduler, so it counts the server's work only (the
//! neighbours still move it a little, through caches and frequency). The client runs on the
//! main thread. `EPA_LOAD_COUNT=SIDE:N` runs one side for N operations, for instruction counts
//! under callgrind (`scripts/bench-load --callgrind`).
//!
//! Client and servers share the machine (loopback), so absolute numbers are low; the ratios are
//! the result. No assertion: this is a measurement. Without `--bench` (`cargo test
//! --all-targets`) every path runs once, briefly, as a smoke test.

use epa::decide::Profile;
use epa::hyper::ExtendedProtectionLayer;
use epa::hyper::ntlm::{NtlmAcceptor, UserDb};
use epa::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};
use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/servers.rs"]
mod servers;
use servers::{Sender, connect, tls_config};

#[path = "support/legs.rs"]
mod legs;
use legs::{authenticate, client_config, get, ntlm_legs};

#[path = "support/alternate.rs"]
mod alternate;
use alternate::{Goal, Measure, Run, alternate, report};

#[path = "support/server_cpu.rs"]
mod server_cpu;
use server_cpu::ServerRuntime;

// Live heap bytes, counted by the `stats_alloc` crate's instrumented system allocator.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn live_bytes() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

const CONNECTIONS: usize = 16;
/// Worker threads of the servers' runtime: one, so that on a 2-core machine the server and
/// the client (the main thread) each have a core when the machine is otherwise idle.
const SERVER_WORKERS: usize = 1;

/// How long and how often: the full benchmark, or the smoke test `cargo test` runs.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Alternating pairs per comparison.
    pairs: usize,
    /// Warm-up before each keep-alive window (connections open, first requests served).
    warmup: Duration,
    /// Length of each keep-alive window.
    run: Duration,
    /// New connections per run.
    connections: usize,
    /// Idle connections held for the memory figure.
    held: usize,
    /// Time given to connection teardowns (and the memory figure's connections) to settle.
    settle: Duration,
}

impl Plan {
    fn bench() -> Self {
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            pairs: env("EPA_LOAD_PAIRS", 9).max(1) as usize,
            warmup: Duration::from_millis(500),
            run: Duration::from_millis(env("EPA_LOAD_RUN_MS", 3000).max(100)),
            connections: env("EPA_LOAD_CONNECTIONS", 300).max(1) as usize,
            held: 200,
            settle: Duration::from_millis(100),
        }
    }

    fn smoke() -> Self {
        Self {
            pairs: 2,
            warmup: Duration::from_millis(50),
            run: Duration::from_millis(150),
            connections: 5,
            held: 10,
            settle: Duration::from_millis(20),
        }
    }
}

fn policy(pe: PolicyEnforcement) -> ServerPolicy {
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
}

fn layer(
    enforcement: PolicyEnforcement,
    target: Option<PolicyEnforcement>,
    every_request: bool,
) -> ExtendedProtectionLayer {
    let mut users = UserDb::default();
    for i in 0..CONNECTIONS * 4 {
        users.add_password("BENCH", &format!("user{i}"), "pw");
    }
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
    layer
}

/// One keep-alive run against `addr`: `CONNECTIONS` connections each run
/// `requests(i, sender, stop, count)`, which counts its requests until `stop`; the window of
/// `plan.run` opens after `plan.warmup`, and the server's CPU time is read at its edges.
async fn measure<F, Fut>(server: &ServerRuntime, addr: SocketAddr, plan: Plan, requests: F) -> Run
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
    tokio::time::sleep(plan.warmup).await;
    let (start_count, start_cpu, start) = (
        count.load(Ordering::Relaxed),
        server.cpu_ns(),
        Instant::now(),
    );
    tokio::time::sleep(plan.run).await;
    let (end_count, end_cpu, secs) = (
        count.load(Ordering::Relaxed),
        server.cpu_ns(),
        start.elapsed().as_secs_f64(),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("client task");
    }
    Run {
        ops: (end_count - start_count).max(1),
        secs,
        server_cpu_ns: start_cpu.zip(end_cpu).map(|(s, e)| e.saturating_sub(s)),
    }
}

/// Requests/s on keep-alive connections, authenticated once first when `binding` is given.
async fn keepalive(
    server: &ServerRuntime,
    addr: SocketAddr,
    binding: Option<[u8; 16]>,
    plan: Plan,
) -> Run {
    measure(
        server,
        addr,
        plan,
        move |i, mut sender, stop, count| async move {
            if let Some(b) = binding {
                authenticate(&mut sender, i, b).await;
            }
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = get(&mut sender, None).await;
                assert_eq!(status, 200);
                count.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await
}

/// Requests/s on keep-alive connections where every request authenticates (NEGOTIATE, then
/// AUTHENTICATE carrying the binding; the second leg is the counted request).
async fn reauthenticating(
    server: &ServerRuntime,
    addr: SocketAddr,
    binding: [u8; 16],
    plan: Plan,
) -> Run {
    measure(
        server,
        addr,
        plan,
        move |i, mut sender, stop, count| async move {
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(ntlm_legs(&mut sender, i, binding).await, 200);
                count.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await
}

/// `plan.connections` new connections one after the other, each authenticated when `binding`
/// is given or making one plain request otherwise. The server's CPU time is read once the last
/// connection's teardown has had time to run, so that each run pays for its own closes.
async fn new_connections(
    server: &ServerRuntime,
    addr: SocketAddr,
    binding: Option<[u8; 16]>,
    plan: Plan,
) -> Run {
    let settle = plan.settle;
    let config = client_config();
    tokio::time::sleep(settle).await;
    let start_cpu = server.cpu_ns();
    let start = Instant::now();
    for i in 0..plan.connections {
        let mut sender = connect(addr, config.clone()).await;
        match binding {
            Some(b) => authenticate(&mut sender, i % (CONNECTIONS * 4), b).await,
            None => assert_eq!(get(&mut sender, None).await.0, 200),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let end_cpu = server.cpu_ns();
    Run {
        ops: plan.connections as u64,
        secs,
        server_cpu_ns: start_cpu.zip(end_cpu).map(|(s, e)| e.saturating_sub(s)),
    }
}

async fn retained_per_connection(addr: SocketAddr, binding: Option<[u8; 16]>, plan: Plan) -> f64 {
    let n = plan.held;
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
    tokio::time::sleep(2 * plan.settle).await;
    let after = live_bytes();
    drop(held);
    tokio::time::sleep(2 * plan.settle).await;
    (after - before) as f64 / n as f64
}

/// `EPA_LOAD_COUNT=SIDE:N`: one side of one comparison for exactly `N` operations, nothing
/// else, for instruction counting under callgrind (`scripts/bench-load --callgrind` runs each
/// side with two values of N and divides the difference, so connection set-up cancels out).
/// Keep-alive and re-authenticating sides spread `N` over `CONNECTIONS` connections.
async fn counted(
    server: &ServerRuntime,
    side: &str,
    n: usize,
    config: rustls::ServerConfig,
    binding: [u8; 16],
) -> Result<(), String> {
    let (layer, kind) = match side {
        "keepalive-plain" => (None, "keepalive"),
        "keepalive-layer" => (
            Some(layer(PolicyEnforcement::Always, None, false)),
            "keepalive",
        ),
        "conn-plain" => (None, "conn"),
        "conn-layer" => (Some(layer(PolicyEnforcement::Always, None, false)), "conn"),
        "reauth-one" => (
            Some(layer(PolicyEnforcement::WhenSupported, None, true)),
            "reauth",
        ),
        "reauth-audit" => (
            Some(layer(
                PolicyEnforcement::WhenSupported,
                Some(PolicyEnforcement::Always),
                true,
            )),
            "reauth",
        ),
        other => return Err(format!("unknown side {other:?}")),
    };
    let layered = layer.is_some();
    let addr = server
        .handle()
        .spawn(async move {
            match layer {
                Some(l) => servers::spawn_layered(config, l).await,
                None => servers::spawn_plain(config).await,
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    if kind == "conn" {
        let plan = Plan {
            connections: n,
            ..Plan::smoke()
        };
        new_connections(server, addr, layered.then_some(binding), plan).await;
        return Ok(());
    }
    let client = client_config();
    let per_connection = n / CONNECTIONS;
    let mut tasks = Vec::new();
    for i in 0..CONNECTIONS {
        let mut sender = connect(addr, client.clone()).await;
        let reauth = kind == "reauth";
        tasks.push(tokio::spawn(async move {
            if layered && !reauth {
                authenticate(&mut sender, i, binding).await;
            }
            for _ in 0..per_connection {
                let status = if reauth {
                    ntlm_legs(&mut sender, i, binding).await
                } else {
                    get(&mut sender, None).await.0
                };
                assert_eq!(status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The machine's load average, as `/proc/loadavg` gives it (its first three fields).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it:
    // then every path runs once, briefly (a smoke test of the benchmark, not a measurement).
    let plan = if std::env::args().any(|a| a == "--bench") {
        Plan::bench()
    } else {
        Plan::smoke()
    };
    let server = ServerRuntime::new(SERVER_WORKERS).expect("server runtime");
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Counters cost what they cost in production: a real recorder for the whole run.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    if let Ok(spec) = std::env::var("EPA_LOAD_COUNT") {
        let (side, n) = spec.split_once(':').unwrap_or((spec.as_str(), "1600"));
        let n: usize = n.parse().expect("EPA_LOAD_COUNT=SIDE:N with N a number");
        let (config, der) = tls_config();
        let binding =
            epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).expect("cbt").binding)
                .md5()
                .expect("md5")
                .0;
        if let Err(e) = client.block_on(counted(&server, side, n, config, binding)) {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
        println!("load: {side} {n} operations done");
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "load: {} alternating pairs per ratio, keep-alive runs of {:?} after {:?} warm-up, {} new connections per run; {cpus} CPUs, load average {} at start",
        plan.pairs,
        plan.run,
        plan.warmup,
        plan.connections,
        load_average()
    );
    client.block_on(async {
        let (config, der) = tls_config();
        let binding = epa::GssChannelBindings::from(&epa::tls_server_end_point(&der).expect("cbt").binding)
            .md5()
            .expect("md5")
            .0;
        let spawn = |layer: Option<ExtendedProtectionLayer>| {
            let config = config.clone();
            server.handle().spawn(async move {
                match layer {
                    Some(l) => servers::spawn_layered(config, l).await,
                    None => servers::spawn_plain(config).await,
                }
            })
        };
        let plain = spawn(None).await.expect("plain server");
        let layered = spawn(Some(layer(PolicyEnforcement::Always, None, false)))
            .await
            .expect("layered server");
        let s = &server;

        let pairs = alternate(
            plan.pairs,
            || keepalive(s, plain, None, plan),
            || keepalive(s, layered, Some(binding), plan),
        )
        .await;
        report(
            "load/keepalive",
            ("plain", "layer"),
            "req",
            Measure::Throughput,
            &pairs,
            Some(Goal::AtLeast(0.90)),
        );

        let pairs = alternate(
            plan.pairs,
            || new_connections(s, plain, None, plan),
            || new_connections(s, layered, Some(binding), plan),
        )
        .await;
        println!(
            "load/new_connection: plain = TLS + 1 request; layer = TLS + anonymous 401 + NEGOTIATE + AUTHENTICATE + CBT check"
        );
        report(
            "load/new_connection",
            ("plain", "layer"),
            "conn",
            Measure::TimePerOp,
            &pairs,
            None,
        );

        let plain_mem = retained_per_connection(plain, None, plan).await;
        let layer_mem = retained_per_connection(layered, Some(binding), plan).await;
        println!("load/memory/plain           {plain_mem:>10.0} bytes per idle connection (client and server)");
        println!("load/memory/layer           {layer_mem:>10.0} bytes per idle authenticated connection");
        println!("load/memory/auth_state      {:>10.0} bytes per connection attributable to the layer", layer_mem - plain_mem);

        let one = spawn(Some(layer(PolicyEnforcement::WhenSupported, None, true)))
            .await
            .expect("one-decision server");
        let audited = spawn(Some(layer(
            PolicyEnforcement::WhenSupported,
            Some(PolicyEnforcement::Always),
            true,
        )))
        .await
        .expect("audited server");
        let pairs = alternate(
            plan.pairs,
            || reauthenticating(s, one, binding, plan),
            || reauthenticating(s, audited, binding, plan),
        )
        .await;
        println!(
            "load/reauth: every request authenticates; one_decision = enforce when-supported, audit = also observe always"
        );
        report(
            "load/audit",
            ("one_decision", "audit"),
            "req",
            Measure::TimePerOp,
            &pairs,
            Some(Goal::Below(1.02)),
        );
        // The run counted what it did: every audited request was decided twice and none of
        // them (all send the right binding) is a would-be rejection.
        let text = metrics.render();
        assert!(text.contains("epa_decisions_total"), "{text}");
        assert!(!text.contains("epa_audit_would_reject_total{"), "{text}");
    });
    println!("load: load average {} at end", load_average());
}
