//! `epa iis import` and `epa iis check`: every finding has a configuration that triggers it and
//! one that does not; the sample files give the expected findings; an imported policy decides
//! the http.sys matrix (docs/windows-semantics.md §6.2); malformed XML and netsh text give an error naming the
//! line.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa_cli::iis::{self, check::check};
use epa_config::lint::Severity;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/iis")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

fn epa(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_epa"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("epa-iis-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An applicationHost.config with one site `S` (binding `binding`, its sslFlags attribute
/// `binding_flags`) and a `<location path="S">` holding `security`.
fn app_host(binding: &str, binding_flags: u32, security: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<configuration>
  <system.applicationHost>
    <sites>
      <site name="S" id="1">
        <bindings>
          <binding protocol="https" bindingInformation="{binding}" sslFlags="{binding_flags}" />
        </bindings>
      </site>
    </sites>
  </system.applicationHost>
  <location path="S">
    <system.webServer>
      <security>
{security}
      </security>
    </system.webServer>
  </location>
</configuration>
"#
    )
}

fn windows_auth(ep: &str) -> String {
    format!(
        r#"<authentication><windowsAuthentication enabled="true">{ep}</windowsAuthentication></authentication>"#
    )
}

/// One netsh binding block with these overrides of the defaults.
fn netsh_block(key: &str, overrides: &[(&str, &str)]) -> String {
    let mut fields = vec![
        (
            "Certificate Hash",
            "00112233445566778899aabbccddeeff00112233",
        ),
        ("Application ID", "{4dc3e181-e14b-4a21-b022-59fc669b0914}"),
        ("Verify Client Certificate Revocation", "Enabled"),
        ("Ctl Identifier", "(null)"),
        ("Ctl Store Name", "(null)"),
        ("Negotiate Client Certificate", "Disabled"),
        ("Disable HTTP2", "Not Set"),
        ("Disable TLS1.3", "Not Set"),
    ];
    for (k, v) in overrides {
        match fields.iter_mut().find(|(n, _)| n == k) {
            Some(f) => f.1 = v,
            None => fields.push((k, v)),
        }
    }
    let mut s = format!("    {key}\n");
    for (k, v) in fields {
        s.push_str(&format!("    {k:<28} : {v}\n"));
    }
    s.push('\n');
    s
}

fn codes(xml: &str, netsh: Option<&str>) -> Vec<&'static str> {
    let mut files = vec![("applicationHost.config".to_owned(), xml.to_owned())];
    if let Some(n) = netsh {
        files.push(("sslcert.txt".to_owned(), n.to_owned()));
    }
    let inputs = iis::read(&files).unwrap();
    let mut c: Vec<&str> = check(&inputs.config, inputs.netsh.as_deref())
        .iter()
        .map(|f| f.code)
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

const SNI: &str = "*:443:www.example.com";
const SNI_KEY: &str = "Hostname:port                : www.example.com:443";
const REQUIRE_CERT: &str = r#"<access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />"#;

#[test]
fn client_certificate_findings_trigger_and_do_not() {
    let xml = app_host(SNI, 1, REQUIRE_CERT);
    let renegotiating = netsh_block(SNI_KEY, &[]);
    let c = codes(&xml, Some(&renegotiating));
    assert!(
        c.contains(&"tls13-renegotiation") && c.contains(&"client-certificate-http2"),
        "{c:?}"
    );
    // Negotiated in the first handshake: neither.
    let first = netsh_block(SNI_KEY, &[("Negotiate Client Certificate", "Enabled")]);
    let c = codes(&xml, Some(&first));
    assert!(
        !c.contains(&"tls13-renegotiation") && !c.contains(&"client-certificate-http2"),
        "{c:?}"
    );
    // TLS 1.3 disabled: not the TLS 1.3 finding (HTTP/2 still).
    let no13 = netsh_block(SNI_KEY, &[("Disable TLS1.3", "Enabled")]);
    let c = codes(&xml, Some(&no13));
    assert!(
        !c.contains(&"tls13-renegotiation") && c.contains(&"client-certificate-http2"),
        "{c:?}"
    );
    let no2 = netsh_block(SNI_KEY, &[("Disable HTTP2", "Set")]);
    assert!(!codes(&xml, Some(&no2)).contains(&"client-certificate-http2"));
    // No client certificate asked for: none of them, whatever the binding.
    let plain = app_host(SNI, 1, r#"<access sslFlags="Ssl" />"#);
    let c = codes(&plain, Some(&renegotiating));
    assert!(
        !c.iter()
            .any(|c| c.contains("renegotiation") || c.contains("http2")),
        "{c:?}"
    );
    // Without netsh output: the TLS 1.3 question cannot be answered, and says so.
    assert_eq!(codes(&xml, None), ["tls13-renegotiation-unknown"]);
    assert!(codes(&plain, None).is_empty());
    // netsh output without this site's binding.
    let other = netsh_block("Hostname:port                : other.example.com:443", &[]);
    assert!(codes(&xml, Some(&other)).contains(&"binding-not-in-netsh"));
    // A wildcard site binding is served by 0.0.0.0:port; SslNegotiateCert alone counts too.
    let wildcard = app_host(
        "*:8443:",
        0,
        r#"<access sslFlags="Ssl, SslNegotiateCert" />"#,
    );
    let ipport = netsh_block("IP:port                      : 0.0.0.0:8443", &[]);
    assert!(codes(&wildcard, Some(&ipport)).contains(&"tls13-renegotiation"));
    // A specific IP falls back to the wildcard binding on its port.
    let specific = app_host("10.1.2.3:8443:", 0, REQUIRE_CERT);
    assert!(codes(&specific, Some(&ipport)).contains(&"tls13-renegotiation"));
    // Central certificate store bindings.
    let ccs = app_host(SNI, 3, REQUIRE_CERT);
    let ccs_block = netsh_block("Central Certificate Store    : 443", &[]);
    assert!(codes(&ccs, Some(&ccs_block)).contains(&"tls13-renegotiation"));
}

#[test]
fn revocation_and_ca_list_findings_trigger_and_do_not() {
    let xml = app_host(SNI, 1, REQUIRE_CERT);
    let ok = [
        ("Negotiate Client Certificate", "Enabled"),
        ("Disable HTTP2", "Set"),
    ];
    let c = codes(&xml, Some(&netsh_block(SNI_KEY, &ok)));
    assert_eq!(c, ["revocation-outage-risk"]);
    let mut off = ok.to_vec();
    off.push(("Verify Client Certificate Revocation", "Disabled"));
    assert!(codes(&xml, Some(&netsh_block(SNI_KEY, &off))).is_empty());
    let mut root = off.clone();
    root.push(("Ctl Store Name", "Root"));
    assert_eq!(
        codes(&xml, Some(&netsh_block(SNI_KEY, &root))),
        ["ca-hint-list"]
    );
    let mut ctl = off.clone();
    ctl.push(("Ctl Identifier", "ContosoClientCAs"));
    let inputs = iis::read(&[
        ("a.config".into(), xml.clone()),
        ("s.txt".into(), netsh_block(SNI_KEY, &ctl)),
    ])
    .unwrap();
    let f = check(&inputs.config, inputs.netsh.as_deref());
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].code, f[0].severity), ("ca-hint-list", Severity::Info));
    assert!(f[0].why.contains("16 KiB"));
    // A binding without client certificates: neither finding.
    let plain = app_host(SNI, 1, r#"<access sslFlags="Ssl" />"#);
    assert!(codes(&plain, Some(&netsh_block(SNI_KEY, &root))).is_empty());
}

#[test]
fn sibling_differences_trigger_and_do_not() {
    let xml = app_host(SNI, 1, r#"<access sslFlags="Ssl" />"#);
    let sib = |host: &str, rev: &str| {
        netsh_block(
            &format!("Hostname:port                : {host}:443"),
            &[("Verify Client Certificate Revocation", rev)],
        )
    };
    let same = [
        sib("a.example", "Disabled"),
        sib("b.example", "Disabled"),
        sib("c.example", "Disabled"),
    ]
    .concat();
    assert!(codes(&xml, Some(&same)).is_empty());
    let reset = [
        sib("a.example", "Disabled"),
        sib("b.example", "Disabled"),
        sib("c.example", "Enabled"),
    ]
    .concat();
    let inputs = iis::read(&[("a.config".into(), xml.clone()), ("s.txt".into(), reset)]).unwrap();
    let f = check(&inputs.config, inputs.netsh.as_deref());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, "binding-differs-from-siblings");
    assert!(f[0].subject.contains("c.example"));
    assert!(
        f[0].fix[0].contains("verifyclientcertrevocation=disable"),
        "{:?}",
        f[0].fix
    );
    // Two bindings alone are not a majority.
    let two = [sib("a.example", "Disabled"), sib("c.example", "Enabled")].concat();
    assert!(codes(&xml, Some(&two)).is_empty());
}

#[test]
fn extended_protection_findings_trigger_and_do_not() {
    let ep = |inner: &str| app_host(SNI, 1, &windows_auth(inner));
    assert_eq!(codes(&ep(""), None), ["ep-token-checking-none"]);
    assert!(codes(&ep(r#"<extendedProtection tokenChecking="Allow" />"#), None).is_empty());
    // Windows authentication off: Extended Protection is moot.
    let off = app_host(
        SNI,
        1,
        r#"<authentication><windowsAuthentication enabled="false" /></authentication>"#,
    );
    assert!(codes(&off, None).is_empty());
    assert_eq!(
        codes(
            &ep(r#"<extendedProtection tokenChecking="Require" flags="Proxy" />"#),
            None
        ),
        ["ep-proxy-require-without-spn"]
    );
    assert!(codes(&ep(r#"<extendedProtection tokenChecking="Require" flags="Proxy"><spn name="HTTP/www.example.com" /></extendedProtection>"#), None).is_empty());
    // #11 item 8: under Allow, Proxy without <spn> refuses every client that names a service.
    assert_eq!(
        codes(
            &ep(r#"<extendedProtection tokenChecking="Allow" flags="Proxy" />"#),
            None
        ),
        ["ep-proxy-allow-without-spn"]
    );
    assert!(codes(&ep(r#"<extendedProtection tokenChecking="Allow" flags="Proxy"><spn name="HTTP/www.example.com" /></extendedProtection>"#), None).is_empty());
    // NoServiceNameCheck: no name is compared, so no list is needed.
    for tc in ["Allow", "Require"] {
        assert!(
            codes(
                &ep(&format!(
                    r#"<extendedProtection tokenChecking="{tc}" flags="Proxy, NoServiceNameCheck" />"#
                )),
                None
            )
            .is_empty()
        );
    }
    // ProxyCohosting without Proxy: invalid (http.sys refuses it too).
    let c = codes(
        &ep(
            r#"<extendedProtection tokenChecking="Allow" flags="ProxyCohosting"><spn name="HTTP/www.example.com" /></extendedProtection>"#,
        ),
        None,
    );
    assert!(c.contains(&"ep-proxy-cohosting-without-proxy"), "{c:?}");
    assert!(codes(&ep(r#"<extendedProtection tokenChecking="Allow" flags="Proxy, ProxyCohosting"><spn name="HTTP/www.example.com" /></extendedProtection>"#), None).is_empty());
    assert_eq!(
        codes(
            &ep(
                r#"<extendedProtection tokenChecking="Allow" flags="Proxy, AllowDotlessSpn"><spn name="HTTP/web01" /></extendedProtection>"#
            ),
            None
        ),
        ["ep-allow-dotless-spn"]
    );
    // A dotless name without the flag: http.sys refuses the configuration.
    assert_eq!(
        codes(
            &ep(
                r#"<extendedProtection tokenChecking="Allow" flags="Proxy"><spn name="HTTP/web01" /></extendedProtection>"#
            ),
            None
        ),
        ["ep-invalid"]
    );
    assert_eq!(
        codes(
            &ep(
                r#"<extendedProtection tokenChecking="Allow" flags="Proxy"><spn name="HOST/www.example.com" /></extendedProtection>"#
            ),
            None
        ),
        ["ep-spn-not-http"]
    );
    // clearSpns / removeSpn are applied in order: the HOST/ name is gone again.
    assert!(codes(&ep(r#"<extendedProtection tokenChecking="Allow" flags="Proxy"><spn name="HOST/www.example.com" /><removeSpn name="host/WWW.example.com" /><spn name="HTTP/www.example.com" /></extendedProtection>"#), None).is_empty());
    assert_eq!(
        codes(
            &ep(
                r#"<extendedProtection tokenChecking="Require" flags="Proxy"><spn name="HTTP/www.example.com" /><clearSpns /></extendedProtection>"#
            ),
            None
        ),
        ["ep-proxy-require-without-spn"]
    );
}

#[test]
fn the_sample_files_give_the_documented_findings() {
    let (code, out, err) = epa(&[
        "iis",
        "check",
        "--json",
        &data("applicationHost.config"),
        &data("sslcert.txt"),
    ]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let mut got: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let want = [
        (
            "binding-differs-from-siblings",
            "Hostname:port www.contoso.com:443",
        ),
        (
            "binding-differs-from-siblings",
            "Hostname:port www.contoso.com:443",
        ),
        ("ca-hint-list", "Hostname:port www.contoso.com:443"),
        ("client-certificate-http2", "Contoso/secure"),
        ("ep-token-checking-none", "Intranet"),
        (
            "revocation-outage-risk",
            "Hostname:port www.contoso.com:443",
        ),
        ("tls13-renegotiation", "Contoso/secure"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert_eq!(v["errors"], 1);
    let tls13 = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tls13-renegotiation")
        .unwrap();
    let fixes: Vec<&str> = tls13["fix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(fixes[0].contains("netsh http update sslcert hostnameport=www.contoso.com:443 certhash=0c8e2b6f1a9d3e7c5b4a2f1e0d9c8b7a6f5e4d3c appid={4dc3e181-e14b-4a21-b022-59fc669b0914} clientcertnegotiation=enable"), "{fixes:?}");
    assert!(
        fixes[1].contains("disabletls13=enable") && fixes[1].contains("security cost"),
        "{fixes:?}"
    );
    assert!(tls13["why"].as_str().unwrap().contains("0x80070032"));

    // Text output: one line per finding, its fixes, a summary.
    let (code, out, _) = epa(&[
        "iis",
        "check",
        &data("applicationHost.config"),
        &data("sslcert.txt"),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("error[tls13-renegotiation] Contoso/secure: "),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("1 error(s), 5 warning(s), 1 info"),
        "{out}"
    );
}

#[test]
fn import_prints_both_forms_and_the_client_certificate_mode() {
    let (code, out, err) = epa(&[
        "iis",
        "import",
        &data("applicationHost.config"),
        "--location",
        "Contoso/secure",
    ]);
    assert_eq!(code, 0, "{err}");
    let toml: toml::Value = toml::from_str(&out).unwrap();
    let p = &toml["policy"];
    assert_eq!(p["token_checking"].as_str(), Some("allow"));
    assert_eq!(p["profile"].as_str(), Some("iis"));
    assert_eq!(p["spns"].as_array().unwrap().len(), 2);
    assert!(out.contains("# enforcement = \"when-supported\""), "{out}");
    assert!(out.contains("# mode = \"require\""), "{out}");
    assert!(out.contains("required_paths = [\"/secure\"]"), "{out}");
    // All locations without --location.
    let (code, out, _) = epa(&["iis", "import", &data("applicationHost.config")]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("[policy]").count(), 3);
    // An unknown location names the known ones.
    let (code, _, err) = epa(&[
        "iis",
        "import",
        &data("applicationHost.config"),
        "--location",
        "Nope",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("Contoso/secure"),
        "{err}"
    );
}

/// The http.sys matrix (docs/windows-semantics.md §6.2), through `epa iis import` then `epa policy test`.
#[test]
fn imported_policies_decide_the_http_sys_matrix() {
    // (tokenChecking, flags, [M, X, A, Z] accepted over HTTPS, SPN checked)
    let matrix: [(&str, &str, [bool; 4], bool); 7] = [
        ("None", "None", [true; 4], false),
        ("Allow", "None", [true, false, true, false], false),
        ("Require", "None", [true, false, false, false], false),
        ("Allow", "Proxy", [true, true, true, false], true),
        ("Require", "Proxy", [true, true, false, false], true),
        (
            "Allow",
            "Proxy, ProxyCohosting",
            [true, true, true, true],
            true,
        ),
        (
            "Require",
            "Proxy, ProxyCohosting",
            [true, true, false, true],
            true,
        ),
    ];
    for (tc, flags, outcomes, spn_checked) in matrix {
        let xml = app_host(
            SNI,
            1,
            &windows_auth(&format!(
                r#"<extendedProtection tokenChecking="{tc}" flags="{flags}"><spn name="HTTP/www.example.com" /></extendedProtection>"#
            )),
        );
        let file = scratch(
            &format!("m-{tc}-{}.config", flags.replace([',', ' '], "")),
            &xml,
        );
        let (code, imported, err) =
            epa(&["iis", "import", file.to_str().unwrap(), "--location", "S"]);
        assert_eq!(code, 0, "{err}");
        let mut scenario = imported.clone();
        for (obs, accept) in ["match", "mismatch", "absent", "unbound"]
            .iter()
            .zip(outcomes)
        {
            scenario.push_str(&format!(
                "\n[[case]]\nname = \"{tc} {flags} {obs}\"\ntransport = \"https\"\nchannel_binding = \"{obs}\"\nclient_spn = \"HTTP/www.example.com\"\nexpect = \"{}\"\n",
                if accept { "accept" } else { "reject" }
            ));
        }
        // The SPN check: a name not in the list is refused exactly when http.sys checks names.
        let legacy = tc == "None";
        scenario.push_str(&format!(
            "\n[[case]]\nname = \"{tc} {flags} other SPN\"\ntransport = \"https\"\nchannel_binding = \"match\"\nclient_spn = \"HTTP/evil.example\"\nexpect = \"{}\"\n",
            if spn_checked && !legacy { "reject" } else { "accept" }
        ));
        let path = scratch(
            &format!("m-{tc}-{}.toml", flags.replace([',', ' '], "")),
            &scenario,
        );
        let (code, out, err) = epa(&["policy", "test", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{tc} {flags}:\n{out}{err}\n{scenario}");
        assert!(out.contains("5 passed, 0 failed"), "{out}");
    }
}

/// #11 item 8: http.sys checks only `<spn>` entries, never names derived from the site's
/// bindings. `Proxy` without `<spn>` refuses every SPN, including the binding's host name, and
/// the imported policy must say exactly that.
#[test]
fn imported_proxy_without_spn_entries_refuses_every_spn() {
    for tc in ["Allow", "Require"] {
        let xml = app_host(
            SNI,
            1,
            &windows_auth(&format!(
                r#"<extendedProtection tokenChecking="{tc}" flags="Proxy" />"#
            )),
        );
        let file = scratch(&format!("proxy-no-spn-{tc}.config"), &xml);
        let (code, imported, err) =
            epa(&["iis", "import", file.to_str().unwrap(), "--location", "S"]);
        assert_eq!(code, 0, "{err}");
        let toml: toml::Value = toml::from_str(&imported).unwrap();
        let policy = toml["policy"].as_table().unwrap();
        assert!(policy.get("spns").is_none(), "{imported}");
        // The binding's host name is listed only for the .NET form, commented.
        assert!(policy.get("prefixes").is_none(), "{imported}");
        assert!(
            imported.contains("# prefixes = [\"https://www.example.com:443/\"]"),
            "{imported}"
        );
        let mut scenario = imported.clone();
        for (transport, obs, spn) in [
            ("http", "mismatch", "HTTP/www.example.com"),
            ("https", "match", "HTTP/www.example.com"),
            ("http", "match", "http/WWW.EXAMPLE.COM"),
            ("http", "mismatch", "HTTP/localhost"),
            ("http", "mismatch", "HTTP/evil.example"),
        ] {
            scenario.push_str(&format!(
                "\n[[case]]\nname = \"{tc} {transport} {obs} {spn}\"\ntransport = \"{transport}\"\nchannel_binding = \"{obs}\"\nclient_spn = \"{spn}\"\nexpect = \"reject\"\nexpect_reason = \"service-name-not-in-list\"\n"
            ));
        }
        let path = scratch(&format!("proxy-no-spn-{tc}.toml"), &scenario);
        let (code, out, err) = epa(&["policy", "test", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{tc}:\n{out}{err}\n{scenario}");
        assert!(out.contains("5 passed, 0 failed"), "{out}");
        // `epa policy eval --json` says the same, case by case.
        let (code, out, err) = epa(&["policy", "eval", "--json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let results: Value = serde_json::from_str(&out).unwrap();
        for r in results.as_array().unwrap() {
            assert_eq!(
                r["reason"].as_str(),
                Some("service-name-not-in-list"),
                "{r}"
            );
        }
    }
}

#[test]
fn malformed_inputs_give_errors_naming_the_line() {
    // XML: broken, wrong root, bad attribute values — check exits 2, import 1.
    for (name, text, mentions) in [
        (
            "broken.config",
            "<configuration>\n  <system.webServer>\n    <security>\n</configuration>\n",
            "line ",
        ),
        (
            "root.config",
            "<?xml version=\"1.0\"?>\n<settings/>\n",
            "line 2",
        ),
        (
            "flags.config",
            &app_host(SNI, 1, "<access sslFlags=\"Ssl, SslMaybeCert\" />"),
            "SslMaybeCert",
        ),
        (
            "token.config",
            &app_host(
                SNI,
                1,
                &windows_auth("<extendedProtection tokenChecking=\"Sometimes\" />"),
            ),
            "Sometimes",
        ),
        (
            "epflag.config",
            &app_host(
                SNI,
                1,
                &windows_auth("<extendedProtection flags=\"Proxxy\" />"),
            ),
            "Proxxy",
        ),
        (
            "enabled.config",
            &app_host(
                SNI,
                1,
                "<authentication><windowsAuthentication enabled=\"yes\" /></authentication>",
            ),
            "line 15",
        ),
        (
            "binding.config",
            &app_host("not-a-binding", 1, ""),
            "line 7",
        ),
    ] {
        let path = scratch(name, text);
        let (code, out, err) = epa(&["iis", "check", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(out.is_empty());
        assert!(
            err.starts_with("error: ") && err.contains(mentions),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        let (code, _, _) = epa(&["iis", "import", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}");
    }
    // netsh: a line that is not "Name : Value", a switch with a strange value.
    let netsh = scratch(
        "bad.txt",
        "\nSSL Certificate bindings:\n-------------------------\n\n    IP:port : 0.0.0.0:443\n    Negotiate Client Certificate : Perhaps\n",
    );
    let (code, _, err) = epa(&["iis", "check", netsh.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line 6") && err.contains("Perhaps"), "{err}");
    let (code, _, err) = epa(&[
        "iis",
        "check",
        scratch("bin.txt", "").to_str().unwrap(),
        "/nonexistent.config",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn a_web_config_applies_where_it_lives() {
    let placed = format!("Contoso/api={}", data("web.config"));
    let (code, out, err) = epa(&[
        "iis",
        "import",
        &data("applicationHost.config"),
        "--web-config",
        &placed,
        "--location",
        "Contoso/api/admin",
    ]);
    assert_eq!(code, 0, "{err}");
    let toml: toml::Value = toml::from_str(&out).unwrap();
    // tokenChecking from the web.config; its <clearSpns/> dropped the site's two names.
    assert_eq!(toml["policy"]["token_checking"].as_str(), Some("require"));
    assert_eq!(toml["policy"]["spns"].as_array().unwrap().len(), 1);
    assert!(out.contains("# mode = \"request\""), "{out}");
    // The site itself is untouched by it.
    let (_, out, _) = epa(&[
        "iis",
        "import",
        &data("applicationHost.config"),
        "--web-config",
        &placed,
        "--location",
        "Contoso",
    ]);
    assert!(out.contains("token_checking = \"allow\""), "{out}");
    // check sees the web.config's client-certificate location too.
    let (code, out, _) = epa(&[
        "iis",
        "check",
        "--json",
        &data("applicationHost.config"),
        &data("sslcert.txt"),
        "--web-config",
        &placed,
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "tls13-renegotiation" && f["subject"] == "Contoso/api/admin"),
        "{out}"
    );
    // A malformed placement is one error line.
    let (code, _, err) = epa(&["iis", "check", "--web-config", "no-equals-sign"]);
    assert_eq!(code, 2);
    assert!(err.contains("LOCATION=FILE"), "{err}");
}

#[test]
fn ssl_flags_in_every_spelling() {
    use epa_cli::iis::config::SslFlags;
    let f = SslFlags::parse("Ssl, SslNegotiateCert, SslMapCert").unwrap();
    assert!(f.ssl && f.negotiate_cert && !f.require_cert);
    assert_eq!(
        SslFlags::parse("ssl,sslrequirecert")
            .unwrap()
            .to_iis_string(),
        "Ssl, SslRequireCert"
    );
    assert_eq!(
        SslFlags::parse("104").unwrap(),
        SslFlags::parse("Ssl, SslNegotiateCert, SslRequireCert").unwrap()
    );
    assert_eq!(SslFlags::parse("None").unwrap().to_iis_string(), "None");
    assert!(SslFlags::parse("1").is_err());
    assert!(SslFlags::parse("Ssl, Tls").unwrap_err().contains("Tls"));
}
