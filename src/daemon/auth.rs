//! Checking the `Authorization` header of webhook deliveries and admin calls.
//!
//! SailPoint signs nothing: a delivery proves itself only by the Bearer token or Basic
//! credentials of its subscription. Secrets are compared in constant time, so response
//! times do not reveal how much of a guess was right.

use crate::config::WebhookAuth;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Whether `headers` carry `Bearer <expected>`.
pub fn bearer(headers: &HeaderMap, expected: &SecretString) -> bool {
    credential(headers, "bearer")
        .is_some_and(|given| same(given.as_bytes(), expected.expose_secret().as_bytes()))
}

/// Whether `headers` carry `Basic <base64(username:password)>`.
pub fn basic(headers: &HeaderMap, username: &str, password: &SecretString) -> bool {
    let expected = base64(format!("{username}:{}", password.expose_secret()).as_bytes());
    credential(headers, "basic").is_some_and(|given| same(given.as_bytes(), expected.as_bytes()))
}

/// Whether a webhook delivery may pass.
pub fn webhook(headers: &HeaderMap, auth: &WebhookAuth) -> bool {
    match auth {
        WebhookAuth::Bearer(token) => bearer(headers, token),
        WebhookAuth::Basic { username, password } => basic(headers, username, password),
        WebhookAuth::None => true,
    }
}

/// The credential after the scheme (matched ignoring case), if that is the scheme.
fn credential<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.trim().split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Standard base64 with padding (RFC 4648 §4), as Basic credentials are sent.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn bearer_needs_the_exact_token() {
        let token = secret("s3cret");
        assert!(bearer(&headers("Bearer s3cret"), &token));
        assert!(bearer(&headers("bearer  s3cret "), &token));
        assert!(!bearer(&headers("Bearer s3cre"), &token));
        assert!(!bearer(&headers("Bearer s3cret2"), &token));
        assert!(!bearer(&headers("Basic s3cret"), &token));
        assert!(!bearer(&headers("s3cret"), &token));
        assert!(!bearer(&HeaderMap::new(), &token));
    }

    #[test]
    fn basic_needs_both_parts() {
        let password = secret("open sesame");
        // "aladdin:open sesame"
        let good = "Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ==";
        assert!(basic(&headers(good), "aladdin", &password));
        assert!(!basic(&headers(good), "ali", &password));
        assert!(!basic(&headers(good), "aladdin", &secret("open")));
        assert!(!basic(
            &headers("Bearer YWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            "aladdin",
            &password
        ));
    }

    #[test]
    fn none_lets_everything_through() {
        assert!(webhook(&HeaderMap::new(), &WebhookAuth::None));
        assert!(!webhook(
            &HeaderMap::new(),
            &WebhookAuth::Bearer(secret("x"))
        ));
    }
}
