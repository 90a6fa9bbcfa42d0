//! When the SCIM token expires. Alation's SCIM tokens last 1–6 months and then stop
//! working without notice; groupsync warns before (`check`, `/readyz`, the digest email, a
//! metric) and names the cause when a 401 comes after that date.
//!
//! A token that is a JWT says when it expires in its `exp` claim; any other token's expiry
//! comes from `scim.token_expires_at`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Where the expiry date was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirySource {
    /// The token's own `exp` claim.
    Jwt,
    /// `scim.token_expires_at`.
    Configured,
}

/// The SCIM token's expiry and how long before it groupsync warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry {
    pub at: DateTime<Utc>,
    pub source: ExpirySource,
    /// `scim.token_warn_days`.
    pub warn_days: u32,
}

/// Where `now` stands against the expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryState {
    /// More than `warn_days` ahead.
    Later,
    /// Within `warn_days`: warn, it still works.
    Soon {
        days_left: i64,
    },
    Expired,
}

impl TokenExpiry {
    /// The expiry of `token` (its `exp` when it is a JWT), else `configured`; `None` when
    /// neither says.
    pub fn of(
        token: Option<&str>,
        configured: Option<DateTime<Utc>>,
        warn_days: u32,
    ) -> Option<TokenExpiry> {
        let (at, source) = match token.and_then(jwt_exp) {
            Some(at) => (at, ExpirySource::Jwt),
            None => (configured?, ExpirySource::Configured),
        };
        Some(TokenExpiry {
            at,
            source,
            warn_days,
        })
    }

    pub fn state(&self, now: DateTime<Utc>) -> ExpiryState {
        if now >= self.at {
            ExpiryState::Expired
        } else if now >= self.at - Duration::days(i64::from(self.warn_days)) {
            ExpiryState::Soon {
                days_left: (self.at - now).num_days(),
            }
        } else {
            ExpiryState::Later
        }
    }

    /// The expiry as people read it: `2026-06-30 00:00 UTC`.
    pub fn date(&self) -> String {
        self.at.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    /// What to tell within the warning window and after it; `None` before the window.
    pub fn warning(&self, now: DateTime<Utc>) -> Option<String> {
        match self.state(now) {
            ExpiryState::Later => None,
            ExpiryState::Soon { days_left } => Some(format!(
                "the SCIM token expires on {} ({days_left} {} left); create a new one in \
                 Alation and update scim.token and the SailPoint SCIM source before then",
                self.date(),
                if days_left == 1 { "day" } else { "days" }
            )),
            ExpiryState::Expired => Some(self.expired()),
        }
    }

    /// The likely cause of a 401 after the expiry.
    pub fn expired(&self) -> String {
        format!(
            "the SCIM token expired on {}; create a new one in Alation and update scim.token \
             and the SailPoint SCIM source",
            self.date()
        )
    }
}

/// Test helpers: an expiry configured for `at` (RFC 3339 or a date) with the default
/// 14 days of warning, and instants written as dates.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    pub fn on(at: &str) -> TokenExpiry {
        TokenExpiry {
            at: self::at(at),
            source: ExpirySource::Configured,
            warn_days: 14,
        }
    }

    pub fn at(text: &str) -> DateTime<Utc> {
        parse_date(text).expect("a valid date in a test")
    }
}

/// The `exp` claim of a JWT (`header.payload.signature`, base64url), if `token` is one
/// that has it. The signature is not checked: the date is only used to warn, never to
/// trust the token, and the SCIM server checks the token itself. Anything that does not
/// decode is an opaque token.
pub fn jwt_exp(token: &str) -> Option<DateTime<Utc>> {
    let mut parts = token.trim().split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    let secs = exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))?;
    DateTime::from_timestamp(secs, 0)
}

/// `scim.token_expires_at`: an RFC 3339 date-time, or a date (midnight UTC).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_date(text).unwrap()
    }

    #[test]
    fn a_jwt_says_when_it_expires() {
        assert_eq!(
            jwt_exp(&jwt(r#"{"sub":"scim","exp":1782777600}"#)),
            Some(at("2026-06-30T00:00:00Z"))
        );
        // a float exp, and padding some encoders leave
        let padded = format!("{}=", jwt(r#"{"exp":1782777600.0}"#));
        assert!(jwt_exp(&padded.replace(".c2ln=", ".c2ln")).is_some());
    }

    #[test]
    fn anything_else_is_an_opaque_token() {
        for token in [
            "3f9c2a7e0b1d4c5e".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            "x.!!!.y".to_owned(),
            jwt("not json"),
            jwt(r#"{"sub":"no exp"}"#),
            jwt(r#"{"exp":"tomorrow"}"#),
            jwt(r#"[1,2]"#),
        ] {
            assert_eq!(jwt_exp(&token), None, "{token}");
        }
    }

    #[test]
    fn the_jwt_wins_over_the_configured_date_and_an_opaque_token_uses_it() {
        let configured = Some(at("2027-01-01"));
        let e = TokenExpiry::of(Some(&jwt(r#"{"exp":1782777600}"#)), configured, 14).unwrap();
        assert_eq!(
            (e.at, e.source),
            (at("2026-06-30T00:00:00Z"), ExpirySource::Jwt)
        );
        let e = TokenExpiry::of(Some("opaque"), configured, 14).unwrap();
        assert_eq!(e.source, ExpirySource::Configured);
        assert_eq!(TokenExpiry::of(Some("opaque"), None, 14), None);
        assert_eq!(TokenExpiry::of(None, None, 14), None);
    }

    #[test]
    fn the_warning_window_has_exact_edges() {
        let e = TokenExpiry::of(None, Some(at("2026-06-30T00:00:00Z")), 14).unwrap();
        let just_before_window = at("2026-06-15T23:59:59Z");
        assert_eq!(e.state(just_before_window), ExpiryState::Later);
        assert_eq!(e.warning(just_before_window), None);
        assert_eq!(
            e.state(at("2026-06-16T00:00:00Z")),
            ExpiryState::Soon { days_left: 14 }
        );
        assert_eq!(
            e.state(at("2026-06-29T00:00:01Z")),
            ExpiryState::Soon { days_left: 0 }
        );
        let w = e.warning(at("2026-06-28T12:00:00Z")).unwrap();
        assert!(
            w.starts_with("the SCIM token expires on 2026-06-30 00:00 UTC (1 day left)"),
            "{w}"
        );
        assert_eq!(e.state(at("2026-06-30T00:00:00Z")), ExpiryState::Expired);
        assert_eq!(
            e.warning(at("2026-07-01T00:00:00Z")).unwrap(),
            "the SCIM token expired on 2026-06-30 00:00 UTC; create a new one in Alation and \
             update scim.token and the SailPoint SCIM source"
        );
        let none = TokenExpiry { warn_days: 0, ..e };
        assert_eq!(none.state(at("2026-06-29T23:59:59Z")), ExpiryState::Later);
    }

    #[test]
    fn configured_dates_are_rfc3339_or_a_plain_date() {
        assert_eq!(
            parse_date("2026-06-30T02:00:00+02:00"),
            Some(at("2026-06-30T00:00:00Z"))
        );
        assert_eq!(parse_date("2026-06-30"), Some(at("2026-06-30T00:00:00Z")));
        assert_eq!(parse_date("30/06/2026"), None);
    }
}
