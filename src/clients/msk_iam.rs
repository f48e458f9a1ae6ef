//! MSK IAM authentication for Kafka clients (SASL/OAUTHBEARER): the token is a SigV4-presigned
//! `kafka-cluster:Connect` URL, base64url-encoded without padding — the same token the official
//! signers (`aws-msk-iam-sasl-signer-python`, `-go`, `-js`) produce.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// The user agent pinctl puts in its tokens.
pub const USER_AGENT: &str = concat!("pinctl/", env!("CARGO_PKG_VERSION"));

/// Characters SigV4 leaves unencoded: letters, digits, `-`, `_`, `.`, `~`.
const AWS_URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("AWS credentials are empty")]
    NoCredentials,
    #[error("signing the MSK IAM token: {0}")]
    Signing(String),
}

/// The presigned URL a token encodes.
pub fn presigned_url(
    region: &str,
    credentials: &Credentials,
    at: SystemTime,
    user_agent: &str,
) -> Result<String, TokenError> {
    if credentials.access_key_id().is_empty() || credentials.secret_access_key().is_empty() {
        return Err(TokenError::NoCredentials);
    }
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into();
    // The signer encodes the query itself: it gets the action unencoded. The official signers
    // sign the hash of the empty body, not UNSIGNED-PAYLOAD.
    let to_sign = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster:Connect");
    let request = SignableRequest::new(
        "GET",
        &to_sign,
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))?;
    let base = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let (instructions, _) = sign(request, &params)
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into_parts();
    let mut url = base;
    for (k, v) in instructions.params() {
        url.push('&');
        url.push_str(&utf8_percent_encode(k, AWS_URI).to_string());
        url.push('=');
        url.push_str(&utf8_percent_encode(v, AWS_URI).to_string());
    }
    url.push_str("&User-Agent=");
    url.push_str(&utf8_percent_encode(user_agent, AWS_URI).to_string());
    Ok(url)
}

/// The token and its expiry (milliseconds since the epoch).
pub fn auth_token(
    region: &str,
    credentials: &Credentials,
    at: SystemTime,
    user_agent: &str,
) -> Result<(String, u128), TokenError> {
    let url = presigned_url(region, credentials, at, user_agent)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_bytes());
    let expires = (at + TOKEN_LIFETIME)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as u128 * 1000)
        .unwrap_or(0);
    Ok((token, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_a_presigned_connect_url() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (token, expires) = auth_token("us-east-1", &creds, at, "pinctl/test").unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        for p in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=",
            "User-Agent=pinctl%2Ftest",
        ] {
            assert!(url.contains(p), "{p} missing from {url}");
        }
        assert_eq!(expires, 1_700_000_900_000);
        assert!(!token.contains('='), "no padding");
        assert!(auth_token(
            "us-east-1",
            &Credentials::new("", "", None, None, "t"),
            at,
            "x"
        )
        .is_err());
    }
}
