//! IIS and http.sys configurations: read `applicationHost.config` / `web.config` (XML) and the
//! output of `netsh http show sslcert` (text), then import them as epa configuration
//! ([`import`]) or check them for what breaks ([`check`]).

pub mod check;
pub mod config;
pub mod import;
pub mod netsh;

use thiserror::Error;

/// An input file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IisError {
    /// Malformed or unexpected XML.
    #[error(transparent)]
    Xml(#[from] config::XmlError),
    /// Malformed netsh output.
    #[error("{file}: {source}")]
    Netsh {
        /// The file.
        file: String,
        /// Where and what.
        source: netsh::NetshError,
    },
}

/// What the inputs held.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The XML configuration.
    pub config: config::IisConfig,
    /// The http.sys bindings, when netsh output was given.
    pub netsh: Option<Vec<netsh::SslBinding>>,
}

/// Reads each `(name, text)`: XML when it starts with `<` (after a byte-order mark and
/// whitespace), netsh output otherwise.
pub fn read(files: &[(String, String)]) -> Result<Inputs, IisError> {
    read_at(
        &files
            .iter()
            .map(|(n, t)| (n.clone(), t.clone(), None))
            .collect::<Vec<_>>(),
    )
}

/// [`read`] with, per file, the location path a `web.config` lives at.
pub fn read_at(files: &[(String, String, Option<String>)]) -> Result<Inputs, IisError> {
    let mut inputs = Inputs::default();
    for (name, text, at) in files {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim_start().starts_with('<') {
            inputs.config.add_file_at(name, text, at.as_deref())?;
        } else {
            let bindings = netsh::parse(text).map_err(|source| IisError::Netsh {
                file: name.clone(),
                source,
            })?;
            inputs.netsh.get_or_insert_with(Vec::new).extend(bindings);
        }
    }
    Ok(inputs)
}
