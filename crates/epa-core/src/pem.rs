//! PEM certificate armour (RFC 7468 §2 and §5.1), read strictly.
//!
//! Explanatory text before the first `-----BEGIN CERTIFICATE-----` line is allowed, as RFC 7468
//! §2 says; the first certificate in the text is returned (in a chain file that is the leaf).
//! Inside the armour only the standard base64 alphabet, padding and whitespace (including CRLF
//! line ends) may occur.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// PEM input that does not hold a well-formed certificate block.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PemError {
    /// The text is not UTF-8, so it cannot be PEM.
    #[error("PEM input is not valid UTF-8 (byte {valid_up_to} is invalid)")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// No `-----BEGIN CERTIFICATE-----` line.
    #[error("no '-----BEGIN CERTIFICATE-----' line in the PEM input")]
    MissingBegin,
    /// A BEGIN line without its END line.
    #[error("'-----BEGIN CERTIFICATE-----' without a matching '-----END CERTIFICATE-----'")]
    MissingEnd,
    /// A character outside the base64 alphabet, or wrong padding.
    #[error("bad base64 in PEM body: {detail}")]
    BadBase64 {
        /// What the decoder reported, with the offending character and its position.
        detail: String,
    },
    /// The armour is present but its body is empty.
    #[error("empty PEM certificate body")]
    EmptyBody,
}

/// Whether `input` looks like PEM text rather than DER: the auto-detection used by
/// [`crate::cbt::tls_server_end_point`]. DER certificates start with 0x30; PEM contains a BEGIN
/// line.
pub fn looks_like_pem(input: &[u8]) -> bool {
    let needle = BEGIN.as_bytes();
    input.first() != Some(&0x30) && input.windows(needle.len()).any(|w| w == needle)
}

/// Decodes the first `CERTIFICATE` block of PEM text into DER bytes.
pub fn decode_certificate(input: &[u8]) -> Result<Vec<u8>, PemError> {
    let text = utf8(input)?;
    let (der, _) = next_block(text)?.ok_or(PemError::MissingBegin)?;
    Ok(der)
}

/// Decodes every `CERTIFICATE` block of a PEM bundle (text between blocks is ignored, as
/// OpenSSL does); at least one must be present.
pub fn decode_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, PemError> {
    let mut text = utf8(input)?;
    let mut out = Vec::new();
    while let Some((der, rest)) = next_block(text)? {
        out.push(der);
        text = rest;
    }
    if out.is_empty() {
        return Err(PemError::MissingBegin);
    }
    Ok(out)
}

fn utf8(input: &[u8]) -> Result<&str, PemError> {
    std::str::from_utf8(input).map_err(|e| PemError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// The next block's DER and the text after it; `None` when no BEGIN line is left.
fn next_block(text: &str) -> Result<Option<(Vec<u8>, &str)>, PemError> {
    let Some(begin) = text.find(BEGIN) else {
        return Ok(None);
    };
    let start = begin + BEGIN.len();
    let body_len = text[start..].find(END).ok_or(PemError::MissingEnd)?;
    let body: String = text[start..start + body_len]
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    if body.is_empty() {
        return Err(PemError::EmptyBody);
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|e| PemError::BadBase64 {
            detail: match e {
                base64::DecodeError::InvalidByte(offset, byte) => format!(
                    "invalid character {:?} (0x{byte:02x}) at offset {offset} of the base64 body",
                    char::from(byte)
                ),
                other => other.to_string(),
            },
        })?;
    Ok(Some((der, &text[start + body_len + END.len()..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_decode_every_block() {
        let one = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let two = format!("subject=a\n{one}junk\n{one}");
        assert_eq!(
            decode_certificates(two.as_bytes()).unwrap(),
            vec![vec![0x30, 0], vec![0x30, 0]]
        );
        assert_eq!(
            decode_certificates(b"no blocks"),
            Err(PemError::MissingBegin)
        );
        let broken = format!("{one}-----BEGIN CERTIFICATE-----\nM!A=\n-----END CERTIFICATE-----\n");
        assert!(matches!(
            decode_certificates(broken.as_bytes()),
            Err(PemError::BadBase64 { .. })
        ));
        let open = format!("{one}-----BEGIN CERTIFICATE-----\nMAA=\n");
        assert_eq!(
            decode_certificates(open.as_bytes()),
            Err(PemError::MissingEnd)
        );
    }

    fn armour(body: &str, eol: &str) -> String {
        format!("{BEGIN}{eol}{body}{eol}{END}{eol}")
    }

    #[test]
    fn decodes_lf_crlf_and_explanatory_text() {
        assert_eq!(
            decode_certificate(armour("MAA=", "\n").as_bytes()),
            Ok(vec![0x30, 0])
        );
        assert_eq!(
            decode_certificate(armour("MA\r\nA=", "\r\n").as_bytes()),
            Ok(vec![0x30, 0])
        );
        let with_text = format!("Subject: test\n{}", armour("MAA=", "\n"));
        assert_eq!(decode_certificate(with_text.as_bytes()), Ok(vec![0x30, 0]));
    }

    #[test]
    fn each_malformation_has_its_error() {
        assert_eq!(decode_certificate(b"hello"), Err(PemError::MissingBegin));
        assert_eq!(
            decode_certificate(format!("{BEGIN}\nMAA=\n").as_bytes()),
            Err(PemError::MissingEnd)
        );
        assert_eq!(
            decode_certificate(armour("", "\n").as_bytes()),
            Err(PemError::EmptyBody)
        );
        assert!(matches!(
            decode_certificate(armour("M!A=", "\n").as_bytes()),
            Err(PemError::BadBase64 { .. })
        ));
        // Missing padding is not accepted either.
        assert!(matches!(
            decode_certificate(armour("MAA", "\n").as_bytes()),
            Err(PemError::BadBase64 { .. })
        ));
        assert!(matches!(
            decode_certificate(&[0xff, 0xfe]),
            Err(PemError::NotUtf8 { valid_up_to: 0 })
        ));
    }

    #[test]
    fn detection() {
        assert!(looks_like_pem(armour("MAA=", "\n").as_bytes()));
        assert!(!looks_like_pem(&[0x30, 0x03, 0x02, 0x01, 0x00]));
        assert!(!looks_like_pem(b""));
    }
}
