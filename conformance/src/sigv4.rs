//! AWS Signature Version 4 for the API driver's requests, so the suite can drive real AWS as well
//! as emulators (which ignore or only read the signature), done by `aws-sigv4`, the signer of the
//! AWS SDK for Rust. Credentials come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`, or are `test`/`test`. Checked against AWS's SigV4 test suite
//! (`post-vanilla`) in the tests below.

use std::time::SystemTime;

use anyhow::Context;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    pub fn from_env() -> Credentials {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Credentials {
                access_key,
                secret_key,
                session_token: var("AWS_SESSION_TOKEN"),
            },
            _ => Credentials {
                access_key: "test".to_owned(),
                secret_key: "test".to_owned(),
                session_token: None,
            },
        }
    }
}

/// What is signed: the method, the URL (its host, with the port when there is one, is the
/// `host` the signature covers), the other headers to sign, and the payload.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub payload: &'a [u8],
}

/// The headers to add to `request` so that it is signed at `time`: `authorization`,
/// `x-amz-date` and, with a session token, `x-amz-security-token`.
pub fn signature_headers(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> anyhow::Result<Vec<(String, String)>> {
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key,
        &credentials.secret_key,
        credentials.session_token.clone(),
        None,
        "conformance",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        SignableBody::Bytes(request.payload),
    )
    .with_context(|| format!("cannot sign a request to {}", request.url))?;
    let (instructions, _signature) = sign(signable, &params)
        .context("SigV4 signing")?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::{Duration, UNIX_EPOCH};

    /// AWS's SigV4 test suite, `post-vanilla`: POST / to example.amazonaws.com, no body, at
    /// 2015-08-30T12:36:00Z.
    #[test]
    fn the_aws_test_suite_post_vanilla_signature() {
        let credentials = Credentials {
            access_key: "AKIDEXAMPLE".to_owned(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        };
        let request = Request {
            method: "POST",
            url: "https://example.amazonaws.com/",
            headers: &[],
            payload: b"",
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let headers =
            signature_headers(&request, &credentials, "us-east-1", "service", time).unwrap();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
            )
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let credentials = Credentials {
            access_key: "AKIDEXAMPLE".to_owned(),
            secret_key: "secret".to_owned(),
            session_token: Some("token".to_owned()),
        };
        let request = Request {
            method: "POST",
            url: "http://127.0.0.1:5373/",
            headers: &[(
                "x-amz-target".to_owned(),
                "Route53AutoNaming_v20170314.ListNamespaces".to_owned(),
            )],
            payload: b"{}",
        };
        let headers = signature_headers(
            &request,
            &credentials,
            "us-east-1",
            "servicediscovery",
            SystemTime::now(),
        )
        .unwrap();
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "x-amz-security-token" && v == "token")
        );
        let authorization = &headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1;
        assert!(
            authorization
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token;x-amz-target"),
            "{authorization}"
        );
    }
}
