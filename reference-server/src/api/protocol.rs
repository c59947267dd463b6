//! AWS JSON 1.1 framing: the `X-Amz-Target` header, the SigV4 credential scope (which picks the
//! region), request ids, and the response envelope. Nothing else in the server sees HTTP headers.

use axum::http::HeaderMap;
use rand::Rng;

use crate::model::Region;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const CLOUDMAP_TARGET_PREFIX: &str = "Route53AutoNaming_v20170314";

/// Splits `Prefix.Operation` into its two halves.
pub fn target(headers: &HeaderMap) -> Option<(&str, &str)> {
    headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once('.'))
}

/// The region of the SigV4 credential scope
/// (`Credential=AKID/20260101/us-east-1/servicediscovery/aws4_request`). Signatures are not
/// verified; unsigned requests use the default region.
pub fn region(headers: &HeaderMap, default_region: &str) -> Region {
    let scope_region = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split(['/', ',', ' ']).nth(2))
        .filter(|region| {
            !region.is_empty()
                && region.len() <= 64
                && region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    Region(scope_region.unwrap_or(default_region).to_owned())
}

/// A request id in the UUID shape AWS uses.
pub fn request_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        assert_eq!(region(&headers, "us-east-1").0, "us-east-1");
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-2/servicediscovery/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        assert_eq!(region(&headers, "us-east-1").0, "eu-west-2");
        headers.insert("authorization", "garbage".parse().unwrap());
        assert_eq!(region(&headers, "us-east-1").0, "us-east-1");
    }
}
