//! pinctl's MSK IAM token against the official Python signer (`aws-msk-iam-sasl-signer-python`,
//! installed by the test command): the same URL, query parameters and signature for the same
//! credentials and time.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;

const SCRIPT: &str = r#"
import base64, datetime, sys
from unittest import mock
import botocore.auth
from botocore.credentials import Credentials
import aws_msk_iam_sasl_signer.MSKAuthTokenProvider as provider

ak, sk, token, epoch = sys.argv[1], sys.argv[2], sys.argv[3] or None, int(sys.argv[4])
fixed = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)
with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: fixed):
    construct = getattr(provider, "__construct_auth_token")
    tok, expiry = construct("eu-west-1", Credentials(ak, sk, token))
print(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode())
print(expiry)
print(provider.__get_user_agent__())
"#;

fn split(url: &str) -> (String, BTreeMap<String, String>) {
    let (base, query) = url.split_once('?').unwrap();
    let params = query.split('&').map(|kv| {
        let (k, v) = kv.split_once('=').unwrap();
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(k), dec(v))
    });
    (base.to_string(), params.collect())
}

fn compare(session_token: Option<&str>) {
    let epoch = 1_763_700_000u64;
    let (ak, sk) = (
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let out = Command::new(crate::util::venv_bin("python"))
        .args([
            "-c",
            SCRIPT,
            ak,
            sk,
            session_token.unwrap_or(""),
            &epoch.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let (py_url, py_expiry, py_agent) = (
        lines.next().unwrap(),
        lines.next().unwrap(),
        lines.next().unwrap(),
    );
    let creds = Credentials::new(ak, sk, session_token.map(str::to_string), None, "test");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    let ours = pinctl::clients::msk_iam::presigned_url("eu-west-1", &creds, at, py_agent).unwrap();
    let (py_base, py_params) = split(py_url);
    let (our_base, our_params) = split(&ours);
    assert_eq!(our_base, py_base);
    assert_eq!(our_params, py_params, "\nours:   {ours}\npython: {py_url}");
    assert!(py_params.contains_key("X-Amz-Signature"));
    let (token, expiry) =
        pinctl::clients::msk_iam::auth_token("eu-west-1", &creds, at, py_agent).unwrap();
    assert_eq!(expiry.to_string(), py_expiry);
    let decoded = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(decoded, ours);
}

#[test]
fn same_token_as_the_python_signer() {
    compare(None);
}

#[test]
fn same_token_as_the_python_signer_with_a_session_token() {
    compare(Some("IQoJb3JpZ2luX2VjEXAMPLE//session+token=="));
}
