//! The page itself: the [`Diagnosis`] the layer attached, as JSON (`Accept: application/json`
//! or `?format=json`) or as HTML in which every string is escaped (client-chosen ones were
//! already made printable and capped by [`epa_hyper::telemetry::ClientText`]).

use super::{Diagnosis, KerberosReport, NtlmReport, RouteReport};
use epa_hyper::body::ProxyBody;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::task::{Context, Poll};

/// The inner service of the page's layer: renders the report, or 500 when there is none
/// (which the layer never lets happen).
#[derive(Debug, Clone, Copy)]
pub struct Page;

impl<B> tower_service::Service<Request<B>> for Page {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(d) = req.extensions().get::<Diagnosis>() else {
            return std::future::ready(Ok(respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                String::new(),
            )));
        };
        let (kind, body) = if wants_json(&req) {
            (
                "application/json",
                serde_json::to_string_pretty(d).unwrap_or_else(|_| "{}".to_owned()),
            )
        } else {
            ("text/html; charset=utf-8", html(d))
        };
        std::future::ready(Ok(respond(StatusCode::OK, kind, body)))
    }
}

fn respond(status: StatusCode, kind: &'static str, body: String) -> Response<ProxyBody> {
    let mut r = Response::new(
        http_body_util::Full::new(bytes::Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    r
}

/// `?format=json` wins (`?format=html` too); otherwise `Accept` naming `application/json`.
fn wants_json<B>(req: &Request<B>) -> bool {
    let format = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("format="))
            .map(str::to_ascii_lowercase)
    });
    match format.as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("application/json")),
    }
}

/// HTML text: `&`, `<`, `>`, `"` and `'` escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn row(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(key), esc(value));
}

fn opt(v: Option<&str>) -> &str {
    v.unwrap_or("(none)")
}

/// The readable page.
fn html(d: &Diagnosis) -> String {
    let mut o = String::with_capacity(8 * 1024);
    o.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>epa: client diagnostics</title>\
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}\
        th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}.no{color:#a00}.yes{color:#070}\
        .this{font-weight:bold}</style></head><body><h1>Client diagnostics</h1>");
    let _ = write!(
        o,
        "<p>This route {} this login: <strong>{}</strong> ({}). This page admits nothing.</p>",
        if d.outcome.accepted {
            "accepts"
        } else {
            "refuses"
        },
        esc(&d.outcome.reason),
        esc(&d.outcome.message),
    );
    o.push_str("<h2>The login</h2><table>");
    row(&mut o, "transport", d.transport);
    row(&mut o, "mechanism", opt(d.mechanism));
    row(&mut o, "backend", d.backend);
    row(&mut o, "user", opt(d.user.as_deref()));
    row(&mut o, "binding observation", opt(d.observation));
    row(&mut o, "client SPN", opt(d.client_spn.as_deref()));
    o.push_str("</table>");
    if let Some(n) = &d.ntlm {
        ntlm_section(&mut o, n);
    }
    if let Some(k) = &d.kerberos {
        kerberos_section(&mut o, k);
    }
    if let Some(route) = &d.route {
        route_section(&mut o, route);
    }
    if !d.table.is_empty() {
        table_section(&mut o, &d.table);
    }
    o.push_str("<h2>Notes</h2><ul>");
    for n in &d.notes {
        let _ = write!(o, "<li>{}</li>", esc(n));
    }
    o.push_str("</ul></body></html>\n");
    o
}

/// What the NTLM AUTHENTICATE carried, and the candidate binding values.
fn ntlm_section(o: &mut String, n: &NtlmReport) {
    o.push_str("<h2>NTLM AUTHENTICATE</h2><table>");
    row(o, "response", n.facts.response.name());
    row(o, "user sent", &n.facts.user_sent);
    row(
        o,
        "negotiate flags",
        &format!("{} ({})", n.facts.flags_hex, n.facts.flags.join(", ")),
    );
    row(o, "MsvAvFlags", &n.facts.av_flags.join(", "));
    row(
        o,
        "MIC present",
        if n.facts.mic_present { "yes" } else { "no" },
    );
    row(o, "MsvAvTargetName", opt(n.facts.target_name.as_deref()));
    row(o, "MsvAvChannelBindings", n.channel_bindings);
    row(o, "value (MD5)", opt(n.channel_bindings_md5.as_deref()));
    let equals = if n.equals.is_empty() {
        "none of the candidates below".to_owned()
    } else {
        n.equals.join("; ")
    };
    if n.channel_bindings_md5.is_some() {
        row(o, "equals", &equals);
    }
    o.push_str("</table>");
    if !n.candidates.is_empty() {
        o.push_str("<h3>Candidates</h3><table><tr><th>struct</th><th>MD5</th><th>equal</th></tr>");
        for c in &n.candidates {
            let _ = write!(
                o,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.md5),
                if c.equals_client { "yes" } else { "" }
            );
        }
        o.push_str("</table>");
    }
}

/// What the Kerberos exchange showed.
fn kerberos_section(o: &mut String, k: &KerberosReport) {
    o.push_str("<h2>Kerberos</h2><table>");
    row(
        o,
        "channel-bound",
        if k.channel_bound { "yes" } else { "no" },
    );
    row(o, "ticket service", opt(k.ticket_service.as_deref()));
    row(o, "session key", opt(k.session_enctype));
    o.push_str("</table>");
}

/// This route's policy.
fn route_section(o: &mut String, route: &RouteReport) {
    o.push_str("<h2>This route's policy</h2><table>");
    row(o, "enforcement", route.enforcement);
    row(o, "scenario", route.scenario);
    row(o, "profile", route.profile);
    row(o, "service names", &route.service_names.join(", "));
    row(o, "binding handed to the backend", route.expected_binding);
    row(o, "audit target", opt(route.audit_target));
    o.push_str("</table>");
}

/// What each policy would decide, this route's row in bold.
fn table_section(o: &mut String, table: &[super::table::Row]) {
    o.push_str(
        "<h2>What each policy would decide</h2><table><tr><th>enforcement</th><th>scenario</th>\
        <th>profile</th><th>observation</th><th>outcome</th><th>reason</th></tr>",
    );
    for r in table {
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            if r.this_route { " class=\"this\"" } else { "" },
            esc(r.enforcement),
            esc(r.scenario),
            esc(r.profile),
            esc(r.observation),
            if r.accepted { "yes" } else { "no" },
            if r.accepted {
                "accept".to_owned()
            } else {
                format!("refuse {}", r.status)
            },
            esc(&r.reason)
        );
    }
    o.push_str("</table><p>The bold row is this route's policy.</p>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything() {
        assert_eq!(
            esc("<script>\"a\"&'b'"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;"
        );
    }

    #[test]
    fn format_query_wins_over_accept() {
        let r = |uri: &str, accept: &str| {
            Request::builder()
                .uri(uri)
                .header("accept", accept)
                .body(())
                .unwrap()
        };
        assert!(wants_json(&r("/d?format=json", "text/html")));
        assert!(!wants_json(&r("/d?format=html", "application/json")));
        assert!(wants_json(&r("/d", "text/html, application/json;q=0.9")));
        assert!(!wants_json(&r("/d", "*/*")));
    }
}
