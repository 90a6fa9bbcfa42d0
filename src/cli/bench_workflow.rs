//! `groupsync bench --baseline`'s measured process: the IdentityNow Workflow's pattern as a
//! plain loop, with none of groupsync's own code between it and the two services.
//!
//! What the Workflow does (the seed's Step 5), one request at a time: a client-credentials
//! token, the source, the entitlement pages one after another, then for each group a
//! lookup by name (`filter=displayName eq "…"`) and, when the target has none, a create.
//! Its emails are left out: they go through SailPoint, not through these services. A 429
//! waits for its `Retry-After`, as the Workflow's HTTP steps do; any other failure ends the
//! loop with an error naming the request.

use crate::config::{Credentials, IdentityNowSettings, Settings, SourceRef};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// The group schema of a SCIM create.
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// What the loop did, printed on stdout.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    groups: usize,
    existed: usize,
    created: usize,
}

pub async fn run(settings: &Settings) -> ExitCode {
    match workflow(settings).await {
        Ok(t) => {
            println!(
                "{} groups: {} created, {} existed",
                t.groups, t.created, t.existed
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn workflow(settings: &Settings) -> Result<Tally, String> {
    let http = reqwest::Client::new();
    let idn = &settings.identitynow;
    let token = token(&http, idn).await?;
    let source = match &idn.source {
        SourceRef::Id(id) => id.clone(),
        SourceRef::Name(name) => source_id(&http, idn, &token, name).await?,
    };
    let names = group_names(&http, idn, &token, &source).await?;
    let mut tally = Tally {
        groups: names.len(),
        ..Tally::default()
    };
    let target = Target {
        http: &http,
        settings,
    };
    for name in &names {
        if target.holds(name).await? {
            tally.existed += 1;
        } else {
            target.create(name).await?;
            tally.created += 1;
        }
    }
    Ok(tally)
}

/// `POST {tenant}/oauth/token` with the client credentials.
async fn token(http: &reqwest::Client, idn: &IdentityNowSettings) -> Result<String, String> {
    let url = tenant_url(idn, "oauth/token")?;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", idn.client_id.as_str()),
        ("client_secret", idn.client_secret.expose_secret()),
    ];
    let body = json_of(send(http.post(url).form(&form), "the token").await?).await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the token answer has no access_token".to_owned())
}

/// `GET {tenant}/v3/sources?filters=name eq "…"`: the source's id.
async fn source_id(
    http: &reqwest::Client,
    idn: &IdentityNowSettings,
    token: &str,
    name: &str,
) -> Result<String, String> {
    let filter = format!("name eq {}", Value::String(name.to_owned()));
    let url = tenant_url(idn, &format!("v3/sources?filters={}", encoded(&filter)))?;
    let body = json_of(send(http.get(url).bearer_auth(token), "the source").await?).await?;
    body[0]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no source named {name:?}"))
}

/// The names of the source's group entitlements, page after page until the count.
async fn group_names(
    http: &reqwest::Client,
    idn: &IdentityNowSettings,
    token: &str,
    source: &str,
) -> Result<Vec<String>, String> {
    let filter = format!("source.id eq {}", Value::String(source.to_owned()));
    let limit = idn.page_size as usize;
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let path = format!(
            "{}/entitlements?filters={}&limit={limit}&offset={offset}&count=true",
            idn.api_version.as_path(),
            encoded(&filter)
        );
        let answer = send(http.get(tenant_url(idn, &path)?).bearer_auth(token), &path).await?;
        let total = total_count(&answer);
        let page = json_of(answer).await?;
        let items = page.as_array().ok_or("an entitlement page is not a list")?;
        names.extend(
            items
                .iter()
                .filter(|e| {
                    e["sourceSchemaObjectType"]
                        .as_str()
                        .is_none_or(|t| t == "group")
                })
                .filter_map(|e| e["name"].as_str().map(str::to_owned)),
        );
        offset += items.len();
        if items.len() < limit || total.is_some_and(|t| offset >= t) {
            return Ok(names);
        }
    }
}

/// The SCIM target, one request at a time.
struct Target<'a> {
    http: &'a reqwest::Client,
    settings: &'a Settings,
}

impl Target<'_> {
    fn request(
        &self,
        method: reqwest::Method,
        query: Option<&str>,
    ) -> Result<RequestBuilder, String> {
        let mut url = self
            .settings
            .scim
            .base_url
            .join("Groups")
            .map_err(|e| format!("scim.base_url: {e}"))?;
        url.set_query(query);
        let request = self.http.request(method, url);
        Ok(match &self.settings.scim.auth {
            Credentials::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        })
    }

    /// `GET /Groups?filter=displayName eq "…"`: whether the target holds a group so named.
    async fn holds(&self, name: &str) -> Result<bool, String> {
        let filter = format!("displayName eq {}", Value::String(name.to_owned()));
        let query = format!("filter={}", encoded(&filter));
        let request = self.request(reqwest::Method::GET, Some(&query))?;
        let body = json_of(send(request, &format!("the lookup of {name:?}")).await?).await?;
        Ok(body["totalResults"].as_u64().unwrap_or(0) > 0)
    }

    /// `POST /Groups` with the name.
    async fn create(&self, name: &str) -> Result<(), String> {
        let body = json!({ "schemas": [GROUP_SCHEMA], "displayName": name });
        let request = self
            .request(reqwest::Method::POST, None)?
            .header(http::header::CONTENT_TYPE, "application/scim+json")
            .body(body.to_string());
        send(request, &format!("the create of {name:?}")).await?;
        Ok(())
    }
}

/// Sends `request`; a 429 is sent again after its `Retry-After`, any other failure is an
/// error naming `what`.
async fn send(request: RequestBuilder, what: &str) -> Result<Response, String> {
    loop {
        let again = request
            .try_clone()
            .ok_or_else(|| format!("{what}: the request cannot be sent twice"))?;
        let response = again.send().await.map_err(|e| format!("{what}: {e}"))?;
        match response.status() {
            StatusCode::TOO_MANY_REQUESTS => tokio::time::sleep(retry_after(&response)).await,
            status if status.is_success() => return Ok(response),
            status => return Err(format!("{what}: {status}")),
        }
    }
}

/// The server's `Retry-After` (seconds or an HTTP date), one second when it sent none.
fn retry_after(response: &Response) -> Duration {
    crate::retry::retry_after(response.headers()).unwrap_or(Duration::from_secs(1))
}

fn total_count(response: &Response) -> Option<usize> {
    response
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn json_of(response: Response) -> Result<Value, String> {
    let url = response.url().path().to_owned();
    let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))
}

fn tenant_url(idn: &IdentityNowSettings, path_and_query: &str) -> Result<reqwest::Url, String> {
    idn.tenant_url
        .join(path_and_query)
        .map_err(|e| format!("identitynow.tenant_url: {e}"))
}

/// Every byte but ASCII letters and digits percent-encoded (a space is `%20`).
fn encoded(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupsync_sandbox::{Sandbox, SandboxOptions};

    #[tokio::test]
    async fn the_loop_makes_the_workflows_requests_and_creates_the_missing_groups() {
        let opts = SandboxOptions::seeded(600, 250, 5);
        let groups = opts.groups.len();
        // the target's `displayName` filter ignores case, as SCIM's `caseExact: false` says
        let folded: std::collections::HashSet<String> =
            opts.existing.iter().map(|n| n.to_lowercase()).collect();
        let existing = (opts.groups.iter())
            .filter(|g| folded.contains(&g.to_lowercase()))
            .count();
        assert!(existing >= 250);
        let sb = Sandbox::start(opts).await.unwrap();
        let settings = Settings::from_toml_and_env(&sb.config_toml(), &Default::default()).unwrap();
        let tally = workflow(&settings).await.unwrap();
        assert_eq!(tally.groups, groups);
        assert_eq!(tally.existed, existing);
        assert_eq!(tally.created, groups - existing);
        assert_eq!(sb.scim.create_count() as usize, groups - existing);
        // token, source, three pages of 250; a lookup per group and a create per missing one
        assert_eq!(sb.tenant.stats()["requests"].as_u64(), Some(5));
        let scim = sb.scim.stats().to_json();
        assert_eq!(
            scim["requests"].as_u64(),
            Some((2 * groups - existing) as u64)
        );
        // a second pass finds every group
        let again = workflow(&settings).await.unwrap();
        assert_eq!((again.created, again.existed), (0, groups));
        sb.stop().await;
    }
}
