//! Checking the `Authorization` header of webhook deliveries and admin calls.
//!
//! SailPoint signs nothing: a delivery proves itself only by the Bearer token or Basic
//! credentials of its subscription. Secrets are compared in constant time, so response
//! times do not reveal how much of a guess was right.

use crate::config::WebhookAuth;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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
    let expected = STANDARD.encode(format!("{username}:{}", password.expose_secret()).as_bytes());
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
