//! Kerberos handshake cost through the layer (feature `gssapi`): a new TLS connection + one
//! SPNEGO leg carrying a Kerberos AP-REQ with the channel binding + the CBT check, against a new
//! TLS connection + one plain request, in one run. `cargo bench --features gssapi --bench kerberos`.
//!
//! The bench starts its own throwaway KDC (tests/kdc/setup-kdc.sh), re-runs itself with the
//! realm's environment (so no environment is mutated in-process), and stops the KDC at the end.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa::decide::Profile;
use epa::hyper::ExtendedProtectionLayer;
use epa::hyper::gssapi::GssapiAcceptor;
use epa::hyper::gssapi::libgssapi::context::{ClientCtx, CtxFlags};
use epa::hyper::gssapi::libgssapi::name::Name;
use epa::hyper::gssapi::libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE};
use epa::{
    ExtendedProtectionPolicy, PolicyEnforcement, ProtectionScenario, ServerPolicy,
    ServiceNameCollection,
};
use http_body_util::{BodyExt as _, Empty};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/servers.rs"]
mod servers;
use servers::{spawn_plain, tls_config};

const CONNECTIONS: u32 = 200;
/// Alternating rounds of the Kerberos-only comparison.
const ROUNDS: usize = 7;

/// The median of `v` (non-empty).
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Tokens accepted in the server-only measurement.
const ACCEPTS: usize = 1_000;

/// The server's own cost of one Kerberos accept, without TLS or HTTP: `ACCEPTS` SPNEGO/Kerberos
/// tokens (each a fresh AP-REQ carrying the binding) are made first, then each is handed to a
/// new `GssapiContext` and stepped to completion. Returns (wall time, process CPU time) per
/// accept; the process is single-threaded during the loop, so CPU time is the server's.
fn accept_cost(binding: &epa::ChannelBinding) -> (Duration, Duration) {
    use epa::authenticator::{Authenticator as _, ExpectedBindings, Step};
    let app_data = binding.application_data();
    let tokens: Vec<Vec<u8>> = (0..ACCEPTS + 1)
        .map(|_| {
            let target =
                Name::new(b"HTTP@localhost", Some(GSS_NT_HOSTBASED_SERVICE)).expect("name");
            let mut ctx = ClientCtx::new(None, target, CtxFlags::empty(), Some(GSS_MECH_SPNEGO));
            ctx.step(None, Some(&app_data))
                .expect("init")
                .expect("token")
                .to_vec()
        })
        .collect();
    let backend = GssapiAcceptor::new();
    let expected = ExpectedBindings::new(binding.clone());
    let accept = |token: &[u8]| {
        let mut ctx = backend.new_context();
        match ctx.step(token, Some(&expected)) {
            Ok(Step::Complete(done)) => assert_eq!(done.channel_binding.name(), "match"),
            other => panic!("accept: {other:?}"),
        }
    };
    accept(&tokens[0]); // warm up
    let (wall, cpu) = (Instant::now(), cpu_time());
    for token in &tokens[1..] {
        accept(token);
    }
    (
        wall.elapsed() / ACCEPTS as u32,
        cpu_time().saturating_sub(cpu) / ACCEPTS as u32,
    )
}

/// This process's user + system CPU time (from /proc/self/stat, in clock ticks of 10 ms on
/// Linux; precise enough over a loop of `ACCEPTS`).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the comm field: state is index 0, utime 11, stime 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn spawn_kerberos(
    config: rustls::ServerConfig,
    mechanisms: epa::decide::Mechanisms,
) -> SocketAddr {
    let policy = ExtendedProtectionPolicy::new(
        PolicyEnforcement::Always,
        ProtectionScenario::TransportSelected,
        None,
    )
    .expect("policy");
    let names = ServiceNameCollection::new(["HTTP/localhost"]).expect("names");
    let policy = ServerPolicy::new(policy, &names, Profile::Documented)
        .expect("policy")
        .with_mechanisms(mechanisms);
    let backend = GssapiAcceptor::new();
    backend.check().expect("keytab");
    let layer = ExtendedProtectionLayer::new(backend, policy);
    servers::spawn_layered(config, layer).await
}

/// One new connection; with `binding`, one SPNEGO leg (Kerberos AP-REQ carrying it).
async fn one_connection(addr: SocketAddr, binding: Option<&[u8]>) {
    let config = Arc::new(
        epa::hyper::testing::insecure_client_config(rustls::DEFAULT_VERSIONS)
            .expect("client config"),
    );
    let mut sender = servers::connect(addr, config).await;
    let mut req = http::Request::get("/").header("host", "localhost");
    if let Some(app_data) = binding {
        let target = Name::new(b"HTTP@localhost", Some(GSS_NT_HOSTBASED_SERVICE)).expect("name");
        let mut ctx = ClientCtx::new(None, target, CtxFlags::empty(), Some(GSS_MECH_SPNEGO));
        let token = ctx
            .step(None, Some(app_data))
            .expect("init")
            .expect("token");
        req = req.header(
            "authorization",
            format!("Negotiate {}", STANDARD.encode(&*token)),
        );
    }
    sender.ready().await.expect("ready");
    let resp = sender
        .send_request(req.body(Empty::<bytes::Bytes>::new()).expect("req"))
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await;
}

async fn cost(addr: SocketAddr, binding: Option<&[u8]>) -> Duration {
    // Warm up (and get the service ticket into the cache once).
    one_connection(addr, binding).await;
    let start = Instant::now();
    for _ in 0..CONNECTIONS {
        one_connection(addr, binding).await;
    }
    start.elapsed() / CONNECTIONS
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` mode: nothing to measure.
    }
    let Ok(realm) = std::env::var("EPA_BENCH_REALM") else {
        // Parent: start a KDC, re-run with its environment, stop it.
        let dir = std::env::temp_dir().join(format!("epa-bench-realm-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kdc/setup-kdc.sh");
        let port = 30_000 + (std::process::id() % 20_000);
        let ok = Command::new("bash")
            .arg(script)
            .arg(&dir)
            .arg(port.to_string())
            .status()
            .expect("bash");
        assert!(
            ok.success(),
            "KDC set-up failed (krb5-kdc installed? ./scripts/test installs it)"
        );
        let d = dir.display();
        let status = Command::new(std::env::current_exe().expect("exe"))
            .args(std::env::args().skip(1))
            .env("EPA_BENCH_REALM", &dir)
            .env("KRB5_CONFIG", format!("{d}/krb5.conf"))
            .env("KRB5CCNAME", format!("FILE:{d}/ccache"))
            .env("KRB5_KTNAME", format!("FILE:{d}/http.keytab"))
            .env("KRB5RCACHEDIR", format!("{d}"))
            .status()
            .expect("re-run");
        if let Ok(pid) = std::fs::read_to_string(dir.join("kdc.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        std::process::exit(status.code().unwrap_or(1));
    };
    let _ = realm;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (config, der) = tls_config();
    let cbt = epa::tls_server_end_point(&der).expect("cbt").binding;
    let (wall, cpu) = accept_cost(&cbt);
    println!(
        "kerberos/accept                   {wall:>10.2?} wall, {cpu:>10.2?} CPU per accept (server only: GssapiContext::step on a fresh SPNEGO/Kerberos token with the binding)"
    );
    rt.block_on(async {
        let binding = epa::tls_server_end_point(&der).expect("cbt").binding.application_data();
        let kerberos = spawn_kerberos(config.clone(), epa::decide::Mechanisms::ALL).await;
        let kerberos_only =
            spawn_kerberos(config.clone(), epa::decide::Mechanisms::KERBEROS).await;
        let plain = spawn_plain(config).await;
        let plain_cost = cost(plain, None).await;
        let kerberos_cost = cost(kerberos, Some(&binding)).await;
        println!("kerberos/new_connection/plain     {plain_cost:>10.2?} (TLS + 1 request)");
        println!("kerberos/new_connection/negotiate {kerberos_cost:>10.2?} (TLS + SPNEGO/Kerberos leg with channel binding + CBT check; client token made in-process)");
        println!(
            "ratio kerberos/new_connection: negotiate / plain = {:.3}",
            kerberos_cost.as_secs_f64() / plain_cost.as_secs_f64()
        );
        // Issue #22: a Kerberos-only route (the first-leg mechanism check, the SPNEGO-restricted
        // credential) against the default route, alternating, medians.
        let (mut both, mut only) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            both.push(cost(kerberos, Some(&binding)).await);
            only.push(cost(kerberos_only, Some(&binding)).await);
        }
        let (both, only) = (median(both), median(only));
        println!("kerberos/new_connection/default   {both:>10.2?} (median of {ROUNDS}, mechanisms = kerberos, ntlm)");
        println!("kerberos/new_connection/krb-only  {only:>10.2?} (median of {ROUNDS}, mechanisms = kerberos)");
        println!(
            "ratio kerberos/new_connection: kerberos-only / default = {:.3}",
            only.as_secs_f64() / both.as_secs_f64()
        );
    });
}
