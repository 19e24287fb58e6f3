//! The XML reader: `<site>`s with their bindings, and per scope the `system.webServer`
//! settings Extended Protection and client certificates depend on, from a roxmltree document
//! into [`super::ScopeSettings`] and [`super::Site`].

use super::*;
pub(super) fn read_site<'a>(
    site: Node<'a, '_>,
    err: &impl Fn(Node, String) -> XmlError,
    line: &impl Fn(Node) -> u32,
) -> Result<Site, XmlError> {
    let name = site
        .attribute("name")
        .ok_or_else(|| err(site, "<site> without a name".into()))?;
    let mut bindings = Vec::new();
    for list in site.children().filter(|n| n.has_tag_name("bindings")) {
        for b in list.children().filter(|n| n.has_tag_name("binding")) {
            let protocol = b
                .attribute("protocol")
                .ok_or_else(|| err(b, "<binding> without a protocol".into()))?;
            let information = b
                .attribute("bindingInformation")
                .ok_or_else(|| err(b, "<binding> without bindingInformation".into()))?;
            let ssl_flags = match b.attribute("sslFlags") {
                None => 0,
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| err(b, format!("binding sslFlags {v:?} is not a number")))?,
            };
            let binding = SiteBinding {
                protocol: protocol.to_ascii_lowercase(),
                information: information.to_owned(),
                ssl_flags,
                line: line(b),
            };
            if matches!(binding.protocol.as_str(), "http" | "https") && binding.parts().is_none() {
                return Err(err(
                    b,
                    format!("bindingInformation {information:?} is not IP:port:host"),
                ));
            }
            bindings.push(binding);
        }
    }
    Ok(Site {
        name: name.to_owned(),
        bindings,
        line: line(site),
    })
}

fn bool_attr(
    n: Node,
    name: &str,
    err: &impl Fn(Node, String) -> XmlError,
) -> Result<Option<bool>, XmlError> {
    match n.attribute(name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(err(n, format!("{name}={v:?} is not true or false"))),
        },
    }
}

pub(super) fn read_web_server(
    ws: Node,
    err: &impl Fn(Node, String) -> XmlError,
) -> Result<ScopeSettings, XmlError> {
    let mut s = ScopeSettings::default();
    let Some(security) = ws.children().find(|n| n.has_tag_name("security")) else {
        return Ok(s);
    };
    if let Some(access) = security.children().find(|n| n.has_tag_name("access"))
        && let Some(v) = access.attribute("sslFlags")
    {
        s.ssl_flags = Some(SslFlags::parse(v).map_err(|p| err(access, p))?);
    }
    let Some(auth) = security
        .children()
        .find(|n| n.has_tag_name("authentication"))
    else {
        return Ok(s);
    };
    for m in auth.children().filter(Node::is_element) {
        match m.tag_name().name() {
            "iisClientCertificateMappingAuthentication" => {
                s.iis_certificate_mapping = bool_attr(m, "enabled", err)?;
            }
            "clientCertificateMappingAuthentication" => {
                s.certificate_mapping = bool_attr(m, "enabled", err)?;
            }
            "windowsAuthentication" => {
                s.windows_authentication = bool_attr(m, "enabled", err)?;
                for c in m.children().filter(Node::is_element) {
                    match c.tag_name().name() {
                        "extendedProtection" => read_extended_protection(c, &mut s, err)?,
                        "providers" => {
                            let mut list = Vec::new();
                            for p in c.children().filter(Node::is_element) {
                                match p.tag_name().name() {
                                    "clear" => list.clear(),
                                    "add" => list.push(
                                        p.attribute("value")
                                            .ok_or_else(|| err(p, "<add> without a value".into()))?
                                            .to_owned(),
                                    ),
                                    "remove" => {
                                        let v = p.attribute("value").unwrap_or("");
                                        list.retain(|x: &String| !x.eq_ignore_ascii_case(v));
                                    }
                                    _ => {}
                                }
                            }
                            s.providers = Some(list);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

fn read_extended_protection(
    ep: Node,
    s: &mut ScopeSettings,
    err: &impl Fn(Node, String) -> XmlError,
) -> Result<(), XmlError> {
    if let Some(t) = ep.attribute("tokenChecking") {
        let parsed = t.trim().to_ascii_lowercase().parse::<TokenChecking>();
        let Ok(parsed) = parsed else {
            return Err(err(
                ep,
                format!("tokenChecking={t:?} (expected None, Allow or Require)"),
            ));
        };
        s.token_checking = Some(parsed);
    }
    if let Some(f) = ep.attribute("flags") {
        let mut check = epa_core::policy::IisFlags::default();
        for part in f.split(',').filter(|p| !p.trim().is_empty()) {
            check.set(part).map_err(|e| err(ep, e.to_string()))?;
        }
        s.flags = Some(f.trim().to_owned());
    }
    for c in ep.children().filter(Node::is_element) {
        let name = || {
            c.attribute("name")
                .map(str::to_owned)
                .ok_or_else(|| err(c, format!("<{}> without a name", c.tag_name().name())))
        };
        match c.tag_name().name() {
            "spn" => s.spn_edits.push(SpnEdit::Add(name()?)),
            "removeSpn" => s.spn_edits.push(SpnEdit::Remove(name()?)),
            "clearSpns" => s.spn_edits.push(SpnEdit::Clear),
            other => {
                return Err(err(
                    c,
                    format!(
                        "unexpected <{other}> in <extendedProtection> (expected spn, removeSpn, clearSpns)"
                    ),
                ));
            }
        }
    }
    Ok(())
}
