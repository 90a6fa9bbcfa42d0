//! Checking the `Authorization` header of webhook deliveries and of admin calls (the
//! daemon's `/runs` and the history's pages alike).
//!
//! SailPoint signs nothing: a delivery proves itself only by the Bearer token or Basic
//! credentials of its subscription. Secrets are compared as SHA-256 digests in constant
//! time, so response times reveal neither how much of a guess was right nor how long the
//! secret is.

use crate::config::{Credentials, WebhookAuth};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
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

/// Whether `headers` carry the admin token: as `Bearer <token>`, or as the password of
/// `Basic` with any user name (what a browser sends once it has asked for it).
pub fn admin(headers: &HeaderMap, token: &SecretString) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(presented_token)
        .is_some_and(|given| same(given.as_bytes(), token.expose_secret().as_bytes()))
}

/// Whether a webhook delivery may pass.
pub fn webhook(headers: &HeaderMap, auth: &WebhookAuth) -> bool {
    match auth {
        WebhookAuth::Credentials(Credentials::Bearer(token)) => bearer(headers, token),
        WebhookAuth::Credentials(Credentials::Basic { username, password }) => {
            basic(headers, username, password)
        }
        WebhookAuth::None => true,
    }
}

/// The credential after the scheme (matched ignoring case), if that is the scheme.
fn credential<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let (given, rest) = split(headers.get(AUTHORIZATION)?.to_str().ok()?)?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// An `Authorization` value as its scheme and what follows it.
fn split(value: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    Some((scheme, rest.trim()))
}

/// The token in `Bearer <token>`, or the password in `Basic base64(user:password)`.
fn presented_token(value: &str) -> Option<String> {
    let (scheme, rest) = split(value)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
    let (_user, password) = decoded.split_once(':')?;
    Some(password.to_owned())
}

/// Compares the digests, which have the same length whatever the inputs', so the time
/// taken depends on neither the secret's length nor its content.
fn same(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a)
        .as_slice()
        .ct_eq(Sha256::digest(b).as_slice())
        .into()
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
    fn the_admin_token_is_accepted_as_bearer_or_basic_password() {
        let token = secret("s3cret");
        assert!(admin(&headers("Bearer s3cret"), &token));
        assert!(admin(&headers("bearer  s3cret "), &token));
        // "admin:s3cret", and "anyone:s3cret": the user name is not checked
        assert!(admin(&headers("Basic YWRtaW46czNjcmV0"), &token));
        assert!(admin(&headers("Basic YW55b25lOnMzY3JldA=="), &token));
    }

    #[test]
    fn a_wrong_admin_token_is_refused_whatever_its_length() {
        let token = secret("s3cret");
        // Basic: "admin:s3creT", then "admin:s3cre"
        let same_length = ["Bearer s3creT", "Bearer x3cret", "Basic YWRtaW46czNjcmVU"];
        let other_lengths = ["Bearer s3cre", "Bearer s3cret2", "Basic YWRtaW46czNjcmU="];
        let other_forms = ["Bearer  ", "Digest s3cret", "s3cret"];
        for value in [same_length, other_lengths, other_forms].concat() {
            assert!(!admin(&headers(value), &token), "{value:?}");
        }
        assert!(!admin(&HeaderMap::new(), &token));
    }

    #[test]
    fn same_compares_contents_not_lengths() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
        assert!(same(b"", b""));
    }

    #[test]
    fn bearer_and_basic_credentials_are_read() {
        assert_eq!(presented_token("Bearer s3cret").as_deref(), Some("s3cret"));
        assert_eq!(
            presented_token("bearer  s3cret ").as_deref(),
            Some("s3cret")
        );
        // "admin:s3cret:x" — the password may hold a colon
        assert_eq!(
            presented_token("Basic YWRtaW46czNjcmV0Ong=").as_deref(),
            Some("s3cret:x")
        );
        assert_eq!(presented_token("Basic !!!"), None);
        assert_eq!(presented_token("Digest abc"), None);
        assert_eq!(presented_token("s3cret"), None);
    }

    #[test]
    fn none_lets_everything_through() {
        assert!(webhook(&HeaderMap::new(), &WebhookAuth::None));
        assert!(!webhook(
            &HeaderMap::new(),
            &WebhookAuth::Credentials(Credentials::Bearer(secret("x")))
        ));
    }
}
