//! `epa spn normalize` and `epa spn check`.

use crate::Failure;
use epa_core::prefix::{StaticResolver, default_service_names};
use epa_core::spn::{self, HostKind, ServiceNameCollection};
use serde::Serialize;

#[derive(Serialize)]
struct NormalizedName<'a> {
    input: &'a str,
    normalized: String,
    service_class: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
    distinguisher: Option<&'a str>,
    host_kind: Option<&'static str>,
    dotless: bool,
}

pub(crate) fn run_normalize(names: &[String], json: bool) -> Result<u8, Failure> {
    let mut out = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let sn = spn::ServiceName::new(name).map_err(|_| Failure {
            message: format!(
                "service name #{index} is empty: a service name must not be null or empty"
            ),
            code: 2,
        })?;
        let p = spn::parts(name);
        out.push(NormalizedName {
            input: name,
            normalized: sn.as_str().to_owned(),
            service_class: p.as_ref().map(|p| p.service_class),
            host: p.as_ref().map(|p| p.host),
            port: p.as_ref().and_then(|p| p.port),
            distinguisher: p.as_ref().and_then(|p| p.distinguisher),
            host_kind: p.as_ref().map(|p| match p.host_kind {
                HostKind::Dns => "dns",
                HostKind::Ipv4 => "ipv4",
                HostKind::Ipv6 => "ipv6",
                HostKind::Unknown => "unknown",
            }),
            dotless: sn.is_dotless(),
        });
    }
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for n in &out {
            println!("{}", n.normalized);
        }
    }
    Ok(0)
}

pub(crate) fn run_check(
    names: &[String],
    prefixes: &[String],
    machine_name: Option<String>,
    spn: &str,
) -> Result<u8, Failure> {
    let as_usage = |e: &dyn std::fmt::Display| Failure {
        message: e.to_string(),
        code: 2,
    };
    if names.is_empty() && prefixes.is_empty() {
        return Err(as_usage(&"give at least one --name or --prefix"));
    }
    let resolver = StaticResolver {
        machine: machine_name,
        ..StaticResolver::default()
    };
    let defaults = default_service_names(prefixes, &resolver).map_err(|e| as_usage(&e))?;
    let collection = ServiceNameCollection::new(names)
        .and_then(|c| c.merge(defaults.iter().map(|n| n.as_str())))
        .map_err(|e| as_usage(&e))?;
    if collection.contains(spn) {
        let normalized = spn::fold_case(&spn::normalize(spn));
        let found = collection
            .iter()
            .find(|n| n.key() == normalized)
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        println!("match: '{spn}' is in the collection (as '{found}')");
        Ok(0)
    } else {
        let listed: Vec<&str> = collection.iter().map(|n| n.as_str()).collect();
        println!(
            "no match: '{spn}' (normalised '{}') is not among: {}",
            spn::normalize(spn),
            listed.join(", ")
        );
        Ok(1)
    }
}
