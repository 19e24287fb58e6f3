//! Issue #20 items 2, 11 and 16 against a real `epa serve`: identity headers spelt with `_`
//! behind wsgiref and gunicorn `--header-map dangerous` (servers that give `X_Remote_User`
//! and `X-Remote-User` one CGI variable), `forwarded = "append"` only from a trusted proxy,
//! and non-ASCII names read back the way WSGI and Node read header values (latin-1).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod proxy_support;
mod support;

use proxy_support::{Epa, RawConn};

const USERS: &str = "TESTDOM:alice:userpw\nTESTDOM:jos\u{e9}:pw\n";
const ROUTES: &str = "[[route]]\npath = \"/health\"\nanonymous = true\n";

/// Every identity, forwarding and path claim a CGI-folding server reads as ours.
const FORGED: &[(&str, &str)] = &[
    ("X_Remote_User", "TESTDOM\\admin"),
    ("X_Remote_Groups", "S-1-5-32-544"),
    ("X_Remote_User_Sid", "S-1-5-21-1-2-3-500"),
    ("X_Remote_Domain", "EVIL"),
    ("X_Auth_Mechanism", "kerberos"),
    ("X_Forwarded_For", "203.0.113.9"),
    ("X_Real_IP", "203.0.113.9"),
    ("X_Original_URL", "/admin"),
    ("x_forwarded_proto", "https"),
    ("X_App_Token", "client"),
];

/// What the WSGI application saw: its `HTTP_*` variables.
fn environ(r: &proxy_support::Reply) -> serde_json::Map<String, serde_json::Value> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["environ"].as_object().unwrap().clone()
}

fn check_only_ours(env: &serde_json::Map<String, serde_json::Value>, user: Option<&str>) {
    let get = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    assert_eq!(get("HTTP_X_REMOTE_USER").as_deref(), user, "{env:?}");
    assert_eq!(
        get("HTTP_X_REMOTE_DOMAIN").as_deref(),
        user.map(|_| "TESTDOM")
    );
    assert_eq!(
        get("HTTP_X_AUTH_MECHANISM").as_deref(),
        user.map(|_| "ntlm")
    );
    for gone in [
        "HTTP_X_REMOTE_GROUPS",
        "HTTP_X_REMOTE_USER_SID",
        "HTTP_X_ORIGINAL_URL",
        "HTTP_X_APP_TOKEN",
    ] {
        assert!(
            get(gone).is_none(),
            "{gone} reached the application: {env:?}"
        );
    }
    assert_eq!(get("HTTP_X_FORWARDED_FOR").as_deref(), Some("127.0.0.1"));
    assert_eq!(get("HTTP_X_REAL_IP").as_deref(), Some("127.0.0.1"));
    assert_eq!(get("HTTP_X_FORWARDED_PROTO").as_deref(), Some("https"));
}

#[test]
fn underscore_identity_headers_never_reach_wsgiref_or_gunicorn() {
    for (name, (_up, port)) in [
        ("wsgiref", proxy_support::wsgiref()),
        ("gunicorn", proxy_support::gunicorn()),
    ] {
        let epa = Epa::start("", port, ROUTES, USERS);
        // Anonymous route: no identity at all, whatever the client spells.
        let mut c = RawConn::open(epa.addr);
        let env = environ(&c.get("/health", FORGED));
        check_only_ours(&env, None);
        // Authenticated: only epa's identity, no group or SID claimed by the client.
        let mut c = RawConn::open(epa.addr);
        let r = c.login("/app", "alice", "userpw", FORGED);
        let env = environ(&r);
        check_only_ours(&env, Some("TESTDOM\\alice"));
        assert!(
            epa.log().is_empty() || !epa.log().contains("panic"),
            "{name}"
        );
    }
}

#[test]
fn allowed_underscores_still_drop_spellings_of_reserved_names() {
    let (_up, port) = proxy_support::wsgiref();
    let epa = Epa::start(
        "",
        port,
        &format!("allow_underscores_in_headers = true\n{ROUTES}"),
        USERS,
    );
    let mut c = RawConn::open(epa.addr);
    let r = c.login("/app", "alice", "userpw", FORGED);
    let env = environ(&r);
    assert_eq!(env["HTTP_X_REMOTE_USER"], "TESTDOM\\alice");
    assert!(env.get("HTTP_X_REMOTE_GROUPS").is_none(), "{env:?}");
    assert!(env.get("HTTP_X_ORIGINAL_URL").is_none(), "{env:?}");
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "127.0.0.1");
    // An application header with '_' passes when allowed.
    assert_eq!(env["HTTP_X_APP_TOKEN"], "client");
}

#[test]
fn forwarded_append_keeps_claims_only_from_trusted_proxies() {
    let (_up, port) = proxy_support::wsgiref();
    let claims: &[(&str, &str)] = &[
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("True-Client-IP", "203.0.113.9"),
    ];
    let append = format!("{ROUTES}[identity_headers]\nforwarded = \"append\"\n");
    // No trusted proxy: the client's claims are not evidence, append or not.
    let epa = Epa::start("", port, &append, USERS);
    let env = environ(&RawConn::open(epa.addr).get("/health", claims));
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "127.0.0.1");
    assert_eq!(
        env["HTTP_FORWARDED"],
        "for=127.0.0.1;proto=https;host=\"localhost\""
    );
    assert!(env.get("HTTP_TRUE_CLIENT_IP").is_none(), "{env:?}");
    drop(epa);
    // The peer is the trusted front proxy: its claims are kept, ours appended.
    let epa = Epa::start("trusted_proxies = [\"127.0.0.1\"]", port, &append, USERS);
    let env = environ(&RawConn::open(epa.addr).get("/health", claims));
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "203.0.113.9, 127.0.0.1");
    assert_eq!(env["HTTP_TRUE_CLIENT_IP"], "203.0.113.9");
}

#[test]
fn non_ascii_names_read_back_by_wsgiref_gunicorn_and_node() {
    let want = "TESTDOM\\jos\u{e9}";
    for (name, (_up, port)) in [
        ("wsgiref", proxy_support::wsgiref()),
        ("gunicorn", proxy_support::gunicorn()),
        ("node", proxy_support::node()),
    ] {
        let epa = Epa::start("", port, ROUTES, USERS);
        let mut c = RawConn::open(epa.addr);
        let r = c.login("/app", "jos\u{e9}", "pw", &[]);
        assert_eq!(
            r.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let seen = r.json();
        let (raw, decoded) = if name == "node" {
            (seen["user"].clone(), seen["decoded"].clone())
        } else {
            (
                seen["environ"]["HTTP_X_REMOTE_USER"].clone(),
                seen["user_decoded"].clone(),
            )
        };
        // ASCII on the wire, whatever the reader's charset; percent-decoding gives the name.
        assert_eq!(raw, "TESTDOM\\jos%C3%A9", "{name}: {seen}");
        assert_eq!(decoded, want, "{name}: {seen}");
    }
}
