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
//! late=1500@2:POST:/scim/v2/Groups
//!                            every 2nd POST under that path is handled, then answered
//!                            1.5 s late (the write lands; a client that gave up saw none)
//! cut@1:GET:/scim/v2/Groups  every list page leaves out its last resource (a listing cut short)
//! total+1@1                  every list page announces one more result than the server holds
//! nofilter@1                 every request's `filter` parameter is ignored (all groups answer)
//! ```
//! Rules are separated by commas. Counting is per rule, over the requests it matches. A
//! rule's scope is a path prefix, optionally preceded by a method (`POST:/scim/v2/Groups`).
//! `cut`, `total+K` and `nofilter` concern SCIM list responses (`ListResponse` bodies);
//! other responses pass unchanged.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
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
    /// Handle the request, then delay the response by this much.
    Late(Duration),
    /// A list response leaves out its last resource; `totalResults` is unchanged.
    Cut,
    /// A list response's `totalResults` is this much higher than the truth.
    TotalPlus(u64),
    /// The request's `filter` query parameter is dropped before it is handled.
    NoFilter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub fault: Fault,
    /// Applies to every `every`-th matching request (1 = all of them).
    pub every: u64,
    /// Only requests whose path starts with this are counted.
    pub path_prefix: Option<String>,
    /// Only requests with this method (upper case) are counted; `None`: any method.
    pub method: Option<String>,
}

impl FaultRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
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
            format!(
                "fault rule {s:?}: {why} (e.g. 503@7, reset@13, slow=1500@9:/path, cut@1:GET:/path)"
            )
        };
        let (kind, rest) = s.trim().split_once('@').ok_or_else(|| bad("missing @N"))?;
        let (every, scope) = match rest.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (rest, None),
        };
        let (method, path_prefix) = match scope {
            None => (None, None),
            Some(p) if p.starts_with('/') => (None, Some(p.to_owned())),
            Some(p) => match p.split_once(':') {
                Some((m, path))
                    if path.starts_with('/')
                        && !m.is_empty()
                        && m.bytes().all(|b| b.is_ascii_alphabetic()) =>
                {
                    (Some(m.to_ascii_uppercase()), Some(path.to_owned()))
                }
                _ => return Err(bad("the scope is /path or METHOD:/path")),
            },
        };
        let every: u64 = every
            .parse()
            .map_err(|_| bad("N must be a positive number"))?;
        if every == 0 {
            return Err(bad("N must be at least 1"));
        }
        let millis = |ms: &str| {
            ms.parse()
                .map(Duration::from_millis)
                .map_err(|_| bad("slow=MS and late=MS need milliseconds"))
        };
        let fault = if kind == "reset" {
            Fault::Reset
        } else if kind == "cut" {
            Fault::Cut
        } else if kind == "nofilter" {
            Fault::NoFilter
        } else if let Some(k) = kind.strip_prefix("total+") {
            Fault::TotalPlus(
                k.parse()
                    .ok()
                    .filter(|k| *k > 0)
                    .ok_or_else(|| bad("total+K needs a positive number"))?,
            )
        } else if let Some(ms) = kind.strip_prefix("slow=") {
            Fault::Slow(millis(ms)?)
        } else if let Some(ms) = kind.strip_prefix("late=") {
            Fault::Late(millis(ms)?)
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
            if !rule.matches(method, path) {
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

/// Wraps `router` so every request may get a fault, and no answer leaves sooner than the
/// plan's latency after its request came in.
pub fn wrap(router: Router, faults: Arc<Faults>) -> Router {
    router.layer(middleware::from_fn_with_state(faults, inject))
}

/// The latency is the time a request takes at the server, the work of answering it
/// included: the answer is worked out at once and held until the latency has passed since
/// the request came in (or sent when ready, if that took longer). A server that slept first
/// and worked after would make every request take the latency plus the simulator's own
/// time, and a benchmark would count the simulator's speed against the client. A request's
/// effect (a group created, say) is there from its arrival, before its answer: a client
/// killed or timed out while it waits has changed the target all the same, as in the real
/// world.
async fn inject(State(faults): State<Arc<Faults>>, req: Request, next: Next) -> Response {
    let latency = faults.plan.latency;
    if latency.is_zero() {
        return answer(&faults, req, next).await;
    }
    // the clock starts before the work
    let waited = crate::latency::wait(latency);
    let resp = answer(&faults, req, next).await;
    waited.await;
    resp
}

/// The answer to `req`: the application's, or the fault the plan picks for it.
async fn answer(faults: &Faults, req: Request, next: Next) -> Response {
    match faults.pick(req.method().as_str(), req.uri().path()) {
        None => next.run(req).await,
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::Late(d)) => {
            let resp = next.run(req).await;
            tokio::time::sleep(d).await;
            resp
        }
        Some(Fault::NoFilter) => next.run(without_filter(req)).await,
        Some(Fault::Cut) => edit_list(next.run(req).await, cut_last).await,
        Some(Fault::TotalPlus(k)) => {
            edit_list(next.run(req).await, |list| overcount(list, k)).await
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

/// The request without its `filter` query parameter (any case), as a server that ignores it.
fn without_filter(mut req: Request) -> Request {
    let uri = req.uri();
    let Some(query) = uri.query() else {
        return req;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            !pair
                .split('=')
                .next()
                .unwrap_or_default()
                .eq_ignore_ascii_case("filter")
        })
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(new) = Uri::from_parts(parts) {
            *req.uri_mut() = new;
        }
    }
    req
}

/// Leaves out a list page's last resource, keeping `totalResults`.
fn cut_last(list: &mut Map<String, Value>) {
    if let Some(Value::Array(items)) = list.get_mut("Resources") {
        items.pop();
        let n = items.len();
        list.insert("itemsPerPage".into(), n.into());
    }
}

/// Announces `k` more results than the page's `totalResults`.
fn overcount(list: &mut Map<String, Value>, k: u64) {
    if let Some(total) = list.get("totalResults").and_then(Value::as_u64) {
        list.insert("totalResults".into(), (total + k).into());
    }
}

/// The response with `edit` applied to its body when that is a SCIM `ListResponse`;
/// any other response is passed on unchanged.
async fn edit_list(resp: Response, edit: impl FnOnce(&mut Map<String, Value>)) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the response body could not be read",
        )
            .into_response();
    };
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    let Some(list) = value
        .as_object_mut()
        .filter(|o| o.contains_key("Resources") && o.contains_key("totalResults"))
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    edit(list);
    let body = value.to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
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
    fn listing_faults_late_answers_and_methods_parse() {
        let rules =
            FaultPlan::parse("cut@1:get:/scim/v2/Groups,total+2@3,nofilter@1,late=900@2:POST:/g")
                .unwrap();
        assert_eq!(rules[0].fault, Fault::Cut);
        assert_eq!(rules[0].method.as_deref(), Some("GET"));
        assert_eq!(rules[0].path_prefix.as_deref(), Some("/scim/v2/Groups"));
        assert_eq!(rules[1].fault, Fault::TotalPlus(2));
        assert_eq!(rules[2].fault, Fault::NoFilter);
        assert_eq!(rules[3].fault, Fault::Late(Duration::from_millis(900)));
        assert_eq!(rules[3].method.as_deref(), Some("POST"));
        assert!(FaultPlan::parse("total+0@1").is_err());
        assert!(FaultPlan::parse("late=soon@1").is_err());
        assert!(FaultPlan::parse("cut@1:GET").is_err());
        assert!(FaultPlan::parse("cut@1:G-T:/x").is_err());
    }

    #[test]
    fn a_method_scope_counts_only_that_method() {
        let plan = FaultPlan {
            latency: Duration::ZERO,
            rules: FaultPlan::parse("500@1:POST:/a").unwrap(),
        };
        let f = Faults::new(plan, Flavor::Scim);
        assert!(f.pick("GET", "/a").is_none());
        assert!(f.pick("POST", "/b").is_none());
        assert!(f.pick("POST", "/a/x").is_some());
    }

    #[test]
    fn an_ignored_filter_leaves_the_other_parameters() {
        let req = Request::builder()
            .uri("/scim/v2/Groups?Filter=displayName%20eq%20%22a%22&startIndex=2")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            without_filter(req).uri().to_string(),
            "/scim/v2/Groups?startIndex=2"
        );
        let req = Request::builder()
            .uri("/scim/v2/Groups?filter=x")
            .body(Body::empty())
            .unwrap();
        assert_eq!(without_filter(req).uri().to_string(), "/scim/v2/Groups");
    }

    async fn edited(body: &Value, edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
        let resp = edit_list(Response::new(Body::from(body.to_string())), edit).await;
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn list_pages_are_cut_or_overcounted_and_other_bodies_pass() {
        let page = serde_json::json!({"totalResults": 2, "itemsPerPage": 2, "Resources": [1, 2]});
        let cut = edited(&page, cut_last).await;
        assert_eq!(cut["Resources"], serde_json::json!([1]));
        assert_eq!(
            (cut["totalResults"].as_u64(), cut["itemsPerPage"].as_u64()),
            (Some(2), Some(1))
        );
        let lie = edited(&page, |l| overcount(l, 1)).await;
        assert_eq!(lie["totalResults"], 3);
        let other = serde_json::json!({"id": "1"});
        assert_eq!(edited(&other, cut_last).await, other);
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
}
