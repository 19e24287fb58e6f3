//! IIS XML configuration (`applicationHost.config`, `web.config`), read with a real XML parser
//! (roxmltree) into what Extended Protection and client certificates depend on:
//!
//! * sites and their `<bindings>` (`applicationHost.config`);
//! * per scope — the server level, each `<location path>`, a `web.config`'s root —
//!   `system.webServer/security/access/@sslFlags`, `windowsAuthentication/@enabled`, its
//!   `<extendedProtection tokenChecking flags>` with `<spn>`, `<clearSpns>`, `<removeSpn>`,
//!   `<providers>`, and the two client-certificate mapping modules' `@enabled`.
//!
//! Settings inherit as IIS applies them: the server level, then every location whose path is a
//! prefix of the one asked about (by path segments, case-insensitively), shortest first. A
//! `web.config` applies where it lives: give that with [`IisConfig::add_file_at`] (`epa iis
//! --web-config 'Site/app=web.config'`); given on its own it applies at the root of every site
//! (its folder is not in the file), after `applicationHost.config`.

mod xml;

use epa_core::policy::TokenChecking;
use roxmltree::{Document, Node};
use thiserror::Error;
use xml::{read_site, read_web_server};

/// XML that cannot be read, with the file and line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}, line {line}: {problem}")]
pub struct XmlError {
    /// The file.
    pub file: String,
    /// The line (from 1).
    pub line: u32,
    /// What is wrong.
    pub problem: String,
}

/// `access/@sslFlags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SslFlags {
    /// `Ssl`: HTTPS required.
    pub ssl: bool,
    /// `SslNegotiateCert`: a client certificate is asked for (accepted if sent).
    pub negotiate_cert: bool,
    /// `SslRequireCert`: a client certificate is required.
    pub require_cert: bool,
    /// `Ssl128`.
    pub ssl128: bool,
}

impl SslFlags {
    /// Parses `None`, `Ssl`, `Ssl, SslNegotiateCert`, … (comma list, any case, or the number).
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Ok(n) = value.trim().parse::<u32>() {
            if n & !(8 | 32 | 64 | 128 | 256) != 0 {
                return Err(format!("sslFlags {n} has unknown bits"));
            }
            return Ok(Self {
                ssl: n & 8 != 0,
                negotiate_cert: n & 32 != 0,
                require_cert: n & 64 != 0,
                ssl128: n & 256 != 0,
            });
        }
        let mut f = Self::default();
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "none" => {}
                "ssl" => f.ssl = true,
                "sslnegotiatecert" => f.negotiate_cert = true,
                "sslrequirecert" => f.require_cert = true,
                "ssl128" => f.ssl128 = true,
                // Client-certificate mapping by the Directory Service mapper: no effect on
                // what is asked for in the handshake.
                "sslmapcert" => {}
                _ => {
                    return Err(format!(
                        "unknown sslFlags value {part:?} (expected None, Ssl, SslNegotiateCert, SslRequireCert, SslMapCert, Ssl128)"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether a client certificate is asked for at all.
    pub fn wants_certificate(&self) -> bool {
        self.negotiate_cert || self.require_cert
    }

    /// As IIS writes it.
    pub fn to_iis_string(&self) -> String {
        let mut parts = Vec::new();
        if self.ssl {
            parts.push("Ssl");
        }
        if self.negotiate_cert {
            parts.push("SslNegotiateCert");
        }
        if self.require_cert {
            parts.push("SslRequireCert");
        }
        if self.ssl128 {
            parts.push("Ssl128");
        }
        if parts.is_empty() {
            "None".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One edit of the SPN collection, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpnEdit {
    /// `<spn name>`.
    Add(String),
    /// `<removeSpn name>`.
    Remove(String),
    /// `<clearSpns/>`.
    Clear,
}

/// What one scope sets (unset = inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSettings {
    /// `access/@sslFlags`.
    pub ssl_flags: Option<SslFlags>,
    /// `windowsAuthentication/@enabled`.
    pub windows_authentication: Option<bool>,
    /// `extendedProtection/@tokenChecking` (None | Allow | Require, any case).
    pub token_checking: Option<TokenChecking>,
    /// `extendedProtection/@flags` as written.
    pub flags: Option<String>,
    /// `<spn>`, `<removeSpn>`, `<clearSpns>`.
    pub spn_edits: Vec<SpnEdit>,
    /// `<providers>`: `Some` when the element has `<clear/>` or `<add>`s.
    pub providers: Option<Vec<String>>,
    /// `iisClientCertificateMappingAuthentication/@enabled`.
    pub iis_certificate_mapping: Option<bool>,
    /// `clientCertificateMappingAuthentication/@enabled`.
    pub certificate_mapping: Option<bool>,
}

/// A `<location>` (or the server level, path ""), from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The file it came from.
    pub file: String,
    /// The location path (`Default Web Site/app`); "" for the server level.
    pub path: String,
    /// The line of its element.
    pub line: u32,
    /// Whether the file is a `web.config` (applies to every site's root).
    pub web_config: bool,
    /// What it sets.
    pub settings: ScopeSettings,
}

/// A site binding (`<binding protocol bindingInformation sslFlags>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteBinding {
    /// `http` or `https` (others are kept, e.g. `net.tcp`).
    pub protocol: String,
    /// `IP:port:host` as written.
    pub information: String,
    /// `@sslFlags` of the binding: 1 = SNI, 2 = central certificate store.
    pub ssl_flags: u32,
    /// The line.
    pub line: u32,
}

impl SiteBinding {
    /// (ip, port, host) of `bindingInformation`; IPv6 addresses are in brackets.
    pub fn parts(&self) -> Option<(&str, &str, &str)> {
        let info = self.information.as_str();
        let (ip, rest) = if let Some(rest) = info.strip_prefix('[') {
            let (ip, rest) = rest.split_once(']')?;
            (ip, rest.strip_prefix(':')?)
        } else {
            info.split_once(':')?
        };
        let (port, host) = rest.split_once(':')?;
        Some((ip, port, host))
    }
}

/// A `<site>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `@name`.
    pub name: String,
    /// Its bindings.
    pub bindings: Vec<SiteBinding>,
    /// The line.
    pub line: u32,
}

/// Everything read from the XML files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IisConfig {
    /// Sites (from `applicationHost.config`).
    pub sites: Vec<Site>,
    /// Scopes in file order.
    pub scopes: Vec<Scope>,
}

/// The effective settings of a location, after inheritance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// `sslFlags` (default None).
    pub ssl_flags: SslFlags,
    /// Windows authentication (default off).
    pub windows_authentication: bool,
    /// `tokenChecking` (default `None`).
    pub token_checking: TokenChecking,
    /// `flags` (default `None`).
    pub flags: String,
    /// The SPN list after every edit.
    pub spns: Vec<String>,
    /// The providers (default Negotiate, NTLM).
    pub providers: Vec<String>,
    /// Either certificate mapping module enabled.
    pub certificate_mapping: bool,
    /// Where each setting came from (`file:line`), for reports.
    pub sources: Vec<String>,
}

impl IisConfig {
    /// Reads one file's text into this configuration.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), XmlError> {
        self.add_file_at(file, text, None)
    }

    /// Reads a `web.config` that lives at `at` (a location path, `Site/app`): its settings and
    /// its `<location>`s apply there and below.
    pub fn add_file_at(
        &mut self,
        file: &str,
        text: &str,
        at: Option<&str>,
    ) -> Result<(), XmlError> {
        let doc = Document::parse(text).map_err(|e| XmlError {
            file: file.to_owned(),
            line: e.pos().row,
            problem: e.to_string(),
        })?;
        let root = doc.root_element();
        let line = |n: Node| doc.text_pos_at(n.range().start).row;
        if root.tag_name().name() != "configuration" {
            return Err(XmlError {
                file: file.to_owned(),
                line: line(root),
                problem: format!(
                    "the root element is <{}>, not <configuration>",
                    root.tag_name().name()
                ),
            });
        }
        let web_config = !root
            .children()
            .any(|c| c.has_tag_name("system.applicationHost"));
        let err = |n: Node, problem: String| XmlError {
            file: file.to_owned(),
            line: line(n),
            problem,
        };
        for child in root.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "system.applicationHost" => {
                    for sites in child.children().filter(|n| n.has_tag_name("sites")) {
                        for site in sites.children().filter(|n| n.has_tag_name("site")) {
                            self.sites.push(read_site(site, &err, &line)?);
                        }
                    }
                }
                "system.webServer" => {
                    let settings = read_web_server(child, &err)?;
                    self.scopes.push(Scope {
                        file: file.to_owned(),
                        path: at
                            .map(|a| a.trim_matches('/').to_owned())
                            .unwrap_or_default(),
                        line: line(child),
                        web_config,
                        settings,
                    });
                }
                "location" => {
                    let path = child.attribute("path").unwrap_or("").trim_matches('/');
                    let path = match at.map(|a| a.trim_matches('/')) {
                        Some(base) if !path.is_empty() => format!("{base}/{path}"),
                        Some(base) => base.to_owned(),
                        None => path.to_owned(),
                    };
                    for ws in child
                        .children()
                        .filter(|n| n.has_tag_name("system.webServer"))
                    {
                        let settings = read_web_server(ws, &err)?;
                        self.scopes.push(Scope {
                            file: file.to_owned(),
                            path: path.clone(),
                            line: line(child),
                            web_config,
                            settings,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every location worth reporting: each site, and each location path below it.
    pub fn locations(&self) -> Vec<String> {
        let mut out: Vec<String> = self.sites.iter().map(|s| s.name.clone()).collect();
        for scope in &self.scopes {
            if !scope.path.is_empty() && !out.iter().any(|p| p.eq_ignore_ascii_case(&scope.path)) {
                out.push(scope.path.clone());
            }
        }
        out
    }

    /// The site a location path belongs to (its first segment, or the longest site name that
    /// prefixes it: site names may contain spaces but not '/').
    pub fn site_of(&self, path: &str) -> Option<&Site> {
        let first = path.split('/').next().unwrap_or(path);
        self.sites
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(first))
    }

    /// The settings in force at `path`.
    pub fn effective(&self, path: &str) -> Effective {
        let mut e = Effective {
            flags: "None".into(),
            providers: vec!["Negotiate".into(), "NTLM".into()],
            ..Effective::default()
        };
        let mut scopes: Vec<&Scope> = self
            .scopes
            .iter()
            .filter(|s| s.path.is_empty() || is_prefix(&s.path, path))
            .collect();
        // The server level of applicationHost.config, then web.config roots, then longer
        // paths; applicationHost before web.config among equals; file order within (stable).
        scopes.sort_by_key(|s| (!s.path.is_empty(), s.path.split('/').count(), s.web_config));
        let mut mapping = false;
        for s in scopes {
            let st = &s.settings;
            let src = format!("{}:{}", s.file, s.line);
            if let Some(f) = st.ssl_flags {
                e.ssl_flags = f;
                e.sources.push(format!("sslFlags from {src}"));
            }
            if let Some(w) = st.windows_authentication {
                e.windows_authentication = w;
            }
            if let Some(t) = st.token_checking {
                e.token_checking = t;
                e.sources.push(format!("tokenChecking from {src}"));
            }
            if let Some(f) = &st.flags {
                e.flags = f.clone();
            }
            for edit in &st.spn_edits {
                match edit {
                    SpnEdit::Add(n) => {
                        if !e.spns.iter().any(|x| x.eq_ignore_ascii_case(n)) {
                            e.spns.push(n.clone());
                        }
                    }
                    SpnEdit::Remove(n) => e.spns.retain(|x| !x.eq_ignore_ascii_case(n)),
                    SpnEdit::Clear => e.spns.clear(),
                }
            }
            if let Some(p) = &st.providers {
                e.providers = p.clone();
            }
            for m in [st.iis_certificate_mapping, st.certificate_mapping]
                .into_iter()
                .flatten()
            {
                mapping |= m;
            }
        }
        e.certificate_mapping = mapping;
        e
    }
}

/// Whether location `prefix` covers `path` (whole segments, case-insensitive).
fn is_prefix(prefix: &str, path: &str) -> bool {
    let (p, q) = (prefix.to_ascii_lowercase(), path.to_ascii_lowercase());
    q == p || q.starts_with(&format!("{p}/"))
}
