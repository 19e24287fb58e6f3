//! `allow_users` / `allow_groups` (issue #14): a backend that reports group SIDs and names, the
//! proxy's route table over real sockets (200, 403 with its reason, the metric), and the layer
//! alone (`ExtendedProtectionLayer::allow`).
//!
//! The backend is a stand-in: its token is the user name, and it reports the groups a table
//! gives that user, as winbind or the PAC would (nested membership already expanded). Real
//! backends' groups are tested where they are built.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epa_config::proxy::UpstreamTarget;
use epa_core::allow::AllowList;
use epa_core::authenticator::{
    AuthError, Authenticator, Completion, ExpectedBindings, Identity, Scheme, SecurityContext, Step,
};
use epa_core::decide::{BindingObservation, ClientServiceName, Mechanism, Profile};
use epa_core::path::NormalizedPath;
use epa_core::{ExtendedProtectionPolicy, ServerPolicy, ServiceNameCollection, Sid};
use epa_hyper::{AuthenticatedUser, ChannelFacts, ExtendedProtectionLayer};
use epa_server::proxy::{IdentityHeaders, Proxy, Route, Router, Upstream};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const DOMAIN_SID: &str = "S-1-5-21-1004336348-1177238915-682003330";
const WEB_USERS_RID: u32 = 1105;
const OTHER_RID: u32 = 1106;

fn sid(rid: u32) -> Sid {
    DOMAIN_SID.parse::<Sid>().unwrap().with_rid(rid).unwrap()
}

/// Token = user name; groups by user.
struct Directory;

struct Context;

impl SecurityContext for Context {
    fn step(&mut self, token: &[u8], _: Option<&ExpectedBindings>) -> Result<Step, AuthError> {
        let user =
            std::str::from_utf8(token).map_err(|_| AuthError::InvalidToken("utf-8".into()))?;
        let (groups, group_names) = match user {
            // A member of WebUsers through a nested group: the backend reports both.
            "alice" => (vec![sid(513), sid(1200), sid(WEB_USERS_RID)], vec![]),
            "bob" => (vec![sid(513), sid(OTHER_RID)], vec![]),
            // A backend that resolved names (winbind).
            "carol" => (vec![sid(513)], vec!["epa\\webusers".to_owned()]),
            _ => (vec![sid(513)], vec![]),
        };
        Ok(Step::Complete(Completion {
            identity: Identity::ntlm("EPA", user),
            mechanism: Mechanism::Ntlm,
            channel_binding: BindingObservation::NotChecked,
            client_spn: ClientServiceName::Missing,
            supports_extended_protection: true,
            response_token: None,
            user_sid: Some(sid(2000)),
            groups,
            group_names,
            session_enctype: None,
        }))
    }
}

impl Authenticator for Directory {
    fn schemes(&self) -> &[Scheme] {
        &[Scheme::Negotiate]
    }
    fn new_context(&self) -> Box<dyn SecurityContext> {
        Box::new(Context)
    }
}

fn layer() -> ExtendedProtectionLayer {
    let policy = ServerPolicy::new(
        ExtendedProtectionPolicy::never(),
        &ServiceNameCollection::default(),
        Profile::Documented,
    )
    .unwrap();
    ExtendedProtectionLayer::new(Directory, policy)
}

fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static METRICS: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    METRICS.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap()
    })
}

/// The tests share the process's counters: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn denied(reason: &str) -> u64 {
    let text = metrics().render();
    let key = format!("epa_authorization_denied_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// An upstream that answers every request `200 upstream`.
async fn upstream() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nupstream";
                        if s.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Serves `router` over TCP, one `serve_connection` per connection.
async fn serve(router: Router) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, peer)) = l.accept().await {
            let router = router.clone();
            tokio::spawn(epa_hyper::serve_connection(
                s,
                ChannelFacts::plain(peer),
                router,
            ));
        }
    });
    addr
}

/// One request on a fresh connection (`Connection: close`): status and body.
async fn get(addr: std::net::SocketAddr, path: &str, user: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\nauthorization: Negotiate {}\r\n\r\n",
        STANDARD.encode(user)
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_table_allow_groups_and_users() {
    let _serial = SERIAL.lock().await;
    metrics();
    let up = upstream().await;
    let proxy = Proxy::new(
        Upstream::new(
            &UpstreamTarget::Http {
                host: "127.0.0.1".into(),
                port: up.port(),
            },
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .unwrap(),
        IdentityHeaders::new(&Default::default()).unwrap(),
    );
    let web = format!("{DOMAIN_SID}-{WEB_USERS_RID}");
    let none: [&str; 0] = [];
    let routes = vec![
        // Groups only: the SID, and a name for backends that resolve names.
        (
            NormalizedPath::parse("/web").unwrap(),
            Route::protected(
                &layer(),
                proxy.clone(),
                AllowList::new(&none, &[web.as_str(), "EPA\\WebUsers"]).unwrap(),
            ),
        ),
        // Users only.
        (
            NormalizedPath::parse("/admin").unwrap(),
            Route::protected(
                &layer(),
                proxy.clone(),
                AllowList::new(&["EPA\\dave"], &none).unwrap(),
            ),
        ),
        // Both: either suffices.
        (
            NormalizedPath::parse("/both").unwrap(),
            Route::protected(
                &layer(),
                proxy.clone(),
                AllowList::new(&["epa\\DAVE"], &[web.as_str()]).unwrap(),
            ),
        ),
    ];
    let default = Route::protected(&layer(), proxy.clone(), AllowList::default());
    let addr = serve(Router::new(default, routes)).await;

    let (groups_before, users_before) = (denied("group-not-allowed"), denied("user-not-allowed"));
    assert_eq!(get(addr, "/web/x", "alice").await, (200, "upstream".into()));
    assert_eq!(
        get(addr, "/web/x", "carol").await,
        (200, "upstream".into()),
        "by name"
    );
    let (status, body) = get(addr, "/web/x", "bob").await;
    assert_eq!(
        (status, body.as_str()),
        (403, "forbidden: group-not-allowed\n")
    );
    assert_eq!(get(addr, "/web/x", "dave").await.0, 403);
    assert_eq!(denied("group-not-allowed"), groups_before + 2);

    assert_eq!(get(addr, "/admin", "dave").await, (200, "upstream".into()));
    let (status, body) = get(addr, "/admin", "alice").await;
    assert_eq!(
        (status, body.as_str()),
        (403, "forbidden: user-not-allowed\n")
    );
    assert_eq!(denied("user-not-allowed"), users_before + 1);

    assert_eq!(get(addr, "/both", "dave").await.0, 200, "by user");
    assert_eq!(get(addr, "/both", "alice").await.0, 200, "by group");
    assert_eq!(get(addr, "/both", "bob").await.0, 403);
    assert_eq!(
        get(addr, "/other", "bob").await.0,
        200,
        "no lists on the default"
    );
    assert_eq!(denied("group-not-allowed"), groups_before + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_alone_allow() {
    let _serial = SERIAL.lock().await;
    metrics();
    let none: [&str; 0] = [];
    let allow = epa_hyper::authorize::RequireAllowedLayer::new(
        AllowList::new(&none, &[format!("{DOMAIN_SID}-{WEB_USERS_RID}")]).unwrap(),
    );
    let layer = layer();
    let app = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let u = req
            .extensions()
            .get::<AuthenticatedUser>()
            .cloned()
            .unwrap();
        let body = format!("{} {}", u.identity, u.groups.len());
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from(body),
        )))
    });
    let svc = tower::Layer::layer(&layer, tower::Layer::layer(&allow, app));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, peer)) = l.accept().await {
            tokio::spawn(epa_hyper::serve_connection(
                s,
                ChannelFacts::plain(peer),
                svc.clone(),
            ));
        }
    });
    let before = denied("group-not-allowed");
    assert_eq!(get(addr, "/", "alice").await, (200, "EPA\\alice 3".into()));
    let (status, body) = get(addr, "/", "bob").await;
    assert_eq!(
        (status, body.as_str()),
        (403, "forbidden: group-not-allowed\n"),
        "the route table's body"
    );
    assert_eq!(denied("group-not-allowed"), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_table_from_the_configuration_file() {
    let _serial = SERIAL.lock().await;
    let up = upstream().await;
    let text = format!(
        "[policy]\nenforcement = \"never\"\n[upstream]\nurl = \"http://127.0.0.1:{}\"\n\
         [[route]]\npath = \"/web\"\nallow_groups = [\"{DOMAIN_SID}-{WEB_USERS_RID}\"]\n",
        up.port()
    );
    let config: epa_config::ServerConfig = toml::from_str(&text).unwrap();
    let proxy = Proxy::new(
        Upstream::from_table(config.upstream.as_ref().unwrap()).unwrap(),
        IdentityHeaders::new(&config.identity_headers).unwrap(),
    );
    let router = Router::from_config(&config, &proxy, |_| Ok(layer())).unwrap();
    let addr = serve(router).await;
    assert_eq!(get(addr, "/web", "alice").await.0, 200);
    assert_eq!(get(addr, "/web", "bob").await.0, 403);
    assert_eq!(get(addr, "/", "bob").await.0, 200);

    // A SID that does not parse is refused when the table is built.
    let bad: epa_config::ServerConfig =
        toml::from_str(&text.replace(DOMAIN_SID, "S-1-5-21-007")).unwrap();
    let err = Router::from_config(&bad, &proxy, |_| Ok(layer())).unwrap_err();
    assert!(err.to_string().contains("allow_groups entry 0"), "{err}");
}
