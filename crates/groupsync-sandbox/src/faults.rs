//! Latency and fault injection for the sandbox's HTTP services.
//!
//! A [`FaultPlan`] is a list of rules such as "every 7th request to `/v2025/entitlements`
//! answers 503". It is written as text so the `sandbox` command, the tests and the
//! benchmarks can share one notation:
//!
//! ```text
//! 503@7                      every 7th request answers 503
//! 429@5:/scim/v2/Groups      every 5th request under that path answers 429 + Retry-After
//! 401@40                     every 40th request answers 401 as if the token had expired
//! reset@13                   every 13th request has its connection cut mid-response
//! slow=1500@9                every 9th request waits 1.5 s more
//! 500@1:POST /scim/v2/Groups every POST under that path answers 500 (reads go through)
//! ```
//! Rules are separated by commas. Counting is per rule, over the requests it matches.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and the service's error body for it).
    Status(u16),
    /// Send the status line, then cut the connection before the body is complete.
    Reset,
    /// Delay the response by this much, then answer normally.
    Slow(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub fault: Fault,
    /// Applies to every `every`-th matching request (1 = all of them).
    pub every: u64,
    /// Only requests whose path starts with this are counted.
    pub path_prefix: Option<String>,
    /// Only requests with this method are counted (`POST /path` in the notation).
    pub method: Option<String>,
}

/// Fixed latency plus fault rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub latency: Duration,
    pub rules: Vec<FaultRule>,
}

impl FromStr for FaultRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!("fault rule {s:?}: {why} (e.g. 503@7, reset@13, slow=1500@9:/path)")
        };
        let (kind, rest) = s.trim().split_once('@').ok_or_else(|| bad("missing @N"))?;
        let (every, path_prefix) = match rest.split_once(':') {
            Some((n, p)) => (n, Some(p.to_owned())),
            None => (rest, None),
        };
        let (method, path_prefix) = match path_prefix.as_deref().map(|p| p.split_once(' ')) {
            Some(Some((m, p))) => (Some(m.to_ascii_uppercase()), Some(p.trim().to_owned())),
            _ => (None, path_prefix),
        };
        let every: u64 = every
            .parse()
            .map_err(|_| bad("N must be a positive number"))?;
        if every == 0 {
            return Err(bad("N must be at least 1"));
        }
        let fault = if kind == "reset" {
            Fault::Reset
        } else if let Some(ms) = kind.strip_prefix("slow=") {
            Fault::Slow(Duration::from_millis(
                ms.parse().map_err(|_| bad("slow=MS needs milliseconds"))?,
            ))
        } else {
            let code: u16 = kind.parse().map_err(|_| bad("unknown fault"))?;
            if !(400..=599).contains(&code) {
                return Err(bad("status must be 400..=599"));
            }
            Fault::Status(code)
        };
        Ok(FaultRule {
            fault,
            every,
            path_prefix,
            method,
        })
    }
}

impl FaultPlan {
    /// Parses comma-separated rules; an empty string is no faults.
    pub fn parse(rules: &str) -> Result<Vec<FaultRule>, String> {
        rules
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(str::parse)
            .collect()
    }
}

/// The error bodies of the simulated service, so injected faults look like the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    IdentityNow,
    Scim,
}

/// A fault plan with its counters, shared by every request to one service.
#[derive(Debug)]
pub struct Faults {
    plan: FaultPlan,
    flavor: Flavor,
    counters: Vec<AtomicU64>,
    injected: AtomicU64,
}

impl Faults {
    pub fn new(plan: FaultPlan, flavor: Flavor) -> Arc<Self> {
        let counters = plan.rules.iter().map(|_| AtomicU64::new(0)).collect();
        Arc::new(Faults {
            plan,
            flavor,
            counters,
            injected: AtomicU64::new(0),
        })
    }

    /// How many faults have been injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The first rule whose turn it is for this request (every matching rule counts).
    fn pick(&self, method: &str, path: &str) -> Option<Fault> {
        let mut chosen = None;
        for (rule, counter) in self.plan.rules.iter().zip(&self.counters) {
            if rule
                .path_prefix
                .as_deref()
                .is_some_and(|p| !path.starts_with(p))
                || rule.method.as_deref().is_some_and(|m| m != method)
            {
                continue;
            }
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            if n % rule.every == 0 && chosen.is_none() {
                chosen = Some(rule.fault.clone());
            }
        }
        if chosen.is_some() {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        chosen
    }

    fn error_response(&self, code: u16) -> Response {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (content_type, body) = match (self.flavor, code) {
            (Flavor::IdentityNow, 401) => ("application/json", r#"{"error":"JWT validation failed: JWT is expired"}"#.to_owned()),
            (Flavor::IdentityNow, 429) => ("application/json", r#"{"message":" Rate Limit Exceeded "}"#.to_owned()),
            (Flavor::IdentityNow, _) => (
                "application/json",
                serde_json::json!({
                    "detailCode": format!("{code} injected fault"),
                    "trackingId": uuid::Uuid::new_v4().simple().to_string(),
                    "messages": [{"locale": "en-US", "localeOrigin": "DEFAULT", "text": "Injected fault"}],
                })
                .to_string(),
            ),
            (Flavor::Scim, _) => (
                "application/scim+json",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": code.to_string(),
                    "detail": "Injected fault",
                })
                .to_string(),
            ),
        };
        let mut resp = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        if code == 429 || code == 503 {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

/// Wraps `router` so every request first waits the plan's latency, then may get a fault.
pub fn wrap(router: Router, faults: Arc<Faults>) -> Router {
    router.layer(middleware::from_fn_with_state(faults, inject))
}

async fn inject(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    if !faults.plan.latency.is_zero() {
        tokio::time::sleep(faults.plan.latency).await;
    }
    match faults.pick(req.method().as_str(), req.uri().path()) {
        None => next.run(req).await,
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::Status(code)) => faults.error_response(code),
        Some(Fault::Reset) => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, "1024")
                .body(Body::from_stream(broken))
                .expect("static response parts are valid")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_reject_nonsense() {
        let rules = FaultPlan::parse("503@7, reset@13,slow=1500@9:/scim/v2/Groups").unwrap();
        assert_eq!(
            rules[0],
            FaultRule {
                fault: Fault::Status(503),
                every: 7,
                path_prefix: None,
                method: None,
            }
        );
        assert_eq!(rules[1].fault, Fault::Reset);
        assert_eq!(rules[2].fault, Fault::Slow(Duration::from_millis(1500)));
        assert_eq!(rules[2].path_prefix.as_deref(), Some("/scim/v2/Groups"));
        assert!(FaultPlan::parse("503").unwrap_err().contains("missing @N"));
        assert!(FaultPlan::parse("503@0").is_err());
        assert!(FaultPlan::parse("200@3").is_err());
        assert!(FaultPlan::parse("teapot@3").is_err());
        assert_eq!(FaultPlan::parse("").unwrap(), vec![]);
    }

    #[test]
    fn every_nth_matching_request_is_hit() {
        let plan = FaultPlan {
            latency: Duration::ZERO,
            rules: FaultPlan::parse("503@3:/a").unwrap(),
        };
        let f = Faults::new(plan, Flavor::Scim);
        let hits: Vec<bool> = ["/a", "/b", "/a", "/a", "/a", "/a", "/a"]
            .iter()
            .map(|p| f.pick("GET", p).is_some())
            .collect();
        assert_eq!(hits, vec![false, false, false, true, false, false, true]);
        assert_eq!(f.injected(), 2);
    }

    #[test]
    fn a_rule_with_a_method_counts_only_that_method() {
        let rules = FaultPlan::parse("500@1:POST /scim/v2/Groups").unwrap();
        assert_eq!(rules[0].method.as_deref(), Some("POST"));
        assert_eq!(rules[0].path_prefix.as_deref(), Some("/scim/v2/Groups"));
        let f = Faults::new(
            FaultPlan {
                latency: Duration::ZERO,
                rules,
            },
            Flavor::Scim,
        );
        assert!(f.pick("GET", "/scim/v2/Groups").is_none());
        assert!(f.pick("POST", "/scim/v2/Groups").is_some());
        assert!(f.pick("POST", "/scim/v2/Users").is_none());
    }
}
