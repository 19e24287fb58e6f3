//! The demo application's page: what it received from epa, as text (curl) or HTML (a browser).
//! Every value shown came from a request header, so all of it is escaped for HTML.

use super::verify::Checked;
use http::HeaderMap;
use std::fmt::Write as _;

/// The identity headers epa sets (default names), in the order the page lists them.
const IDENTITY: &[&str] = &[
    "x-remote-user",
    "x-remote-principal",
    "x-remote-domain",
    "x-auth-mechanism",
    "x-epa-binding",
    "x-epa-service-name",
    "x-remote-user-sid",
    "x-remote-groups",
    "x-client-cert-subject",
    "x-client-cert-sha256",
];

/// The forwarding headers epa writes (RFC 7239 and the X-Forwarded family).
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// The signed identity assertion's header (its default name).
pub(crate) const ASSERTION: &str = "x-epa-assertion";

/// What the application received, header by header.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Identity headers present, `(name, value)`.
    pub(crate) identity: Vec<(&'static str, String)>,
    /// Forwarding headers present.
    pub(crate) forwarding: Vec<(&'static str, String)>,
    /// The signed assertion, when the route sends one.
    pub(crate) assertion: Option<String>,
    /// The client's Negotiate/NTLM `Authorization` reached the application (never should).
    pub(crate) authorization_leaked: bool,
}

impl Received {
    /// Reads the headers of interest (non-UTF-8 bytes shown as U+FFFD).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let pick = |names: &[&'static str]| {
            names
                .iter()
                .flat_map(|&n| {
                    headers
                        .get_all(n)
                        .iter()
                        .map(move |v| (n, String::from_utf8_lossy(v.as_bytes()).into_owned()))
                })
                .collect::<Vec<_>>()
        };
        Self {
            identity: pick(IDENTITY),
            forwarding: pick(FORWARDING),
            assertion: headers
                .get(ASSERTION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            authorization_leaked: headers.contains_key(http::header::AUTHORIZATION),
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.identity
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a binding verdict (an accepting decision's reason code) means, in one sentence.
fn verdict(code: &str) -> &'static str {
    match code {
        "binding-verified" => {
            "your client bound its login to the TLS certificate epa presented: a relayed login would have been refused"
        }
        "binding-absent-allowed" => {
            "your client sent no channel binding; the policy (when-supported) lets such clients in — `always` would refuse them"
        }
        "kerberos-validates-service-name" | "service-name-matched" => {
            "the service name the client asked for is one this server answers to"
        }
        "ep-disabled" => "Extended Protection is off (enforcement = never): nothing was checked",
        _ => "see docs/windows-semantics.md for this reason code",
    }
}

/// The page as text.
pub(crate) fn render_text(r: &Received, checked: Option<&Checked>) -> String {
    let mut s = String::new();
    let who = r.value("x-remote-user").unwrap_or("(anonymous)");
    let _ = writeln!(s, "hello {who}\n");
    let _ = writeln!(
        s,
        "This is the demo application behind `epa serve`. From epa it received:\n"
    );
    for (n, v) in r.identity.iter().chain(&r.forwarding) {
        let _ = writeln!(s, "  {n}: {v}");
    }
    if let Some(code) = r.value("x-epa-binding") {
        let _ = writeln!(s, "\nbinding: {code}: {}", verdict(code));
    }
    match (&r.assertion, checked) {
        (Some(_), Some(c)) => {
            let _ = writeln!(s, "\n{ASSERTION}: {}", c.summary());
            if let Some(h) = &c.header {
                let _ = writeln!(s, "  header: {h}");
            }
            if let Some(claims) = &c.claims {
                let pretty = serde_json::to_string_pretty(claims).unwrap_or_default();
                let _ = writeln!(s, "  claims: {}", pretty.replace('\n', "\n  "));
            }
        }
        (Some(_), None) => {
            let _ = writeln!(s, "\n{ASSERTION}: present, not checked here");
        }
        (None, _) => {
            let _ = writeln!(s, "\n{ASSERTION}: none on this route");
        }
    }
    let _ = writeln!(
        s,
        "\nNot received: {}",
        if r.authorization_leaked {
            "— WARNING: the client's Authorization header reached the application"
        } else {
            "the client's Authorization header (epa never forwards Negotiate/NTLM credentials), and any X-Remote-* header the client sent itself (removed in every spelling)"
        }
    );
    s
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// The page as HTML (no script, no external resource).
pub(crate) fn render_html(r: &Received, checked: Option<&Checked>) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=en><meta charset=utf-8><title>epa demo</title>\
         <style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}\
         td,th{text-align:left;padding:.2em .8em .2em 0;vertical-align:top}code,pre{font-size:13px}\
         .ok{color:#075}.bad{color:#a00}</style>",
    );
    let who = r.value("x-remote-user").unwrap_or("(anonymous)");
    let _ = write!(
        s,
        "<h1>hello {}</h1><p>This is the demo application behind <code>epa serve</code>. \
         This is what it received from epa:</p><table><tr><th>header<th>value",
        esc(who)
    );
    for (n, v) in r.identity.iter().chain(&r.forwarding) {
        let _ = write!(s, "<tr><td><code>{n}</code><td><code>{}</code>", esc(v));
    }
    s.push_str("</table>");
    if let Some(code) = r.value("x-epa-binding") {
        let _ = write!(
            s,
            "<h2>Binding</h2><p><code>{}</code>: {}</p>",
            esc(code),
            esc(verdict(code))
        );
    }
    s.push_str("<h2>Signed assertion</h2>");
    match (&r.assertion, checked) {
        (Some(_), Some(c)) => {
            let class = if c.result.is_ok() { "ok" } else { "bad" };
            let _ = write!(
                s,
                "<p class={class}><code>{ASSERTION}</code>: {}</p>",
                esc(&c.summary())
            );
            for (label, v) in [("header", &c.header), ("claims", &c.claims)] {
                if let Some(v) = v {
                    let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                    let _ = write!(s, "<p>{label}:</p><pre>{}</pre>", esc(&pretty));
                }
            }
        }
        (Some(_), None) => s.push_str("<p>present, not checked here</p>"),
        (None, _) => s.push_str("<p>none on this route</p>"),
    }
    if r.authorization_leaked {
        s.push_str(
            "<p class=bad>WARNING: the client's Authorization header reached the application.</p>",
        );
    } else {
        s.push_str(
            "<p>Not received: your <code>Authorization</code> header (epa never forwards \
             Negotiate/NTLM credentials), and any <code>X-Remote-*</code> header your client \
             sent itself (removed in every spelling).</p>",
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn text_names_the_user_and_the_verdict() {
        let r = Received::from_headers(&headers(&[
            ("x-remote-user", "EPA\\demo"),
            ("x-epa-binding", "binding-verified"),
            ("x-forwarded-for", "127.0.0.1"),
        ]));
        let t = render_text(&r, None);
        assert!(t.starts_with("hello EPA\\demo\n"), "{t}");
        assert!(
            t.contains("binding: binding-verified: your client bound"),
            "{t}"
        );
        assert!(t.contains("x-forwarded-for: 127.0.0.1"), "{t}");
        assert!(t.contains("none on this route"), "{t}");
    }

    #[test]
    fn html_escapes_every_received_value() {
        let r = Received::from_headers(&headers(&[(
            "x-remote-user",
            "EPA\\<script>alert(1)</script>",
        )]));
        let h = render_html(&r, None);
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
    }

    #[test]
    fn a_leaked_authorization_is_called_out() {
        let r = Received::from_headers(&headers(&[("authorization", "NTLM TlRMTVNTUAAB")]));
        assert!(render_text(&r, None).contains("WARNING"));
    }
}
