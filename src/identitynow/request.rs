//! One API call: paced, authenticated, renewed once after a 401, retried when safe.
//!
//! The layers, from the inside out: [`Client::once`] waits for the rate limiter and sends
//! one request with the current token; [`Client::authed`] renews the token once if the
//! API refused it and sends again; [`Client::get`] repeats the whole for passing failures
//! (429, 5xx, timeouts) as the retry policy allows, which only a GET may do.

use super::Client;
use super::error::{Endpoint, IdnError};
use super::query;
use super::token::Token;
use crate::retry::{Classify, Disposition, Operation, retry};
use crate::upstream::Reply;
use http::{HeaderMap, Method};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use url::Url;

/// Sent on `/v2024` and `/v2025` entitlement calls (see `ApiVersion::wants_experimental_header`).
const EXPERIMENTAL: &str = "X-SailPoint-Experimental";

/// What to send.
#[derive(Debug, Clone)]
pub struct Call {
    pub endpoint: Endpoint,
    pub method: Method,
    pub url: Url,
    pub experimental: bool,
    /// What the call is for, as retries name it (`entitlements at offset 500`); the
    /// method and path when `None`.
    pub what: Option<String>,
}

impl Call {
    pub fn get(endpoint: Endpoint, url: Url) -> Call {
        Call {
            endpoint,
            method: Method::GET,
            url,
            experimental: false,
            what: None,
        }
    }

    /// `GET /v2025/entitlements`: what error messages name (no host, no query).
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.url.path())
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub label: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as `T`; a body of another shape is [`IdnError::Malformed`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, IdnError> {
        serde_json::from_slice(&self.body).map_err(|e| IdnError::Malformed {
            request: self.label.clone(),
            problem: e.to_string(),
        })
    }
}

/// `{base}/{segments…}?{query}`, each segment percent-encoded (ids go in paths).
pub fn url_for(base: &Url, segments: &[&str], query: &[(&str, String)]) -> Result<Url, IdnError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| IdnError::Setup(format!("{base} cannot be a base URL")))?
        .pop_if_empty()
        .extend(segments);
    url.set_query(None);
    if !query.is_empty() {
        url.set_query(Some(&query::encode(query)));
    }
    Ok(url)
}

impl Client {
    pub(super) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url, IdnError> {
        url_for(&self.inner.settings.tenant_url, segments, query)
    }

    /// A GET, repeated as the retry policy allows.
    pub(super) async fn get(&self, call: &Call) -> Result<Answer, IdnError> {
        let what = call.what.clone().unwrap_or_else(|| call.label());
        let operation = Operation::new("IdentityNow", what);
        retry(&self.inner.settings.retry, &operation, || self.authed(call)).await
    }

    /// Sends `call`; if the API refuses the token, renews it once and sends again.
    pub(super) async fn authed(&self, call: &Call) -> Result<Answer, IdnError> {
        let token = self.inner.tokens.current().await?;
        match self.once(call, &token).await {
            Err(e) if e.disposition() == Disposition::Reauthenticate => {
                tracing::info!(request = %call.label(), "access token refused; renewing it once");
                let fresh = self.inner.tokens.renew(&token).await?;
                self.once(call, &fresh).await
            }
            other => other,
        }
    }

    async fn once(&self, call: &Call, token: &Token) -> Result<Answer, IdnError> {
        // Held until the answer is read: the slot's window starts then.
        let _sent = self.inner.pace.ready().await;
        let label = call.label();
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.value.expose_secret())
            .header(http::header::ACCEPT, "application/json");
        if call.experimental {
            request = request.header(EXPERIMENTAL, "true");
        }
        let Reply {
            status,
            headers,
            body,
        } = crate::upstream::exchange("identitynow", request)
            .await
            .map_err(|e| IdnError::from_upstream(label.clone(), e))?;
        tracing::trace!(
            request = %label,
            status = status.as_u16(),
            bytes = body.len(),
            "IdentityNow answered"
        );
        if !status.is_success() {
            return Err(IdnError::from_status(
                call.endpoint,
                label,
                status,
                &headers,
                &body,
            ));
        }
        Ok(Answer {
            label,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_tenant_path_and_encode_ids() {
        let base = Url::parse("http://127.0.0.1:9/tenant/").unwrap();
        let url = url_for(&base, &["v3", "sources", "a b/c"], &[]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/tenant/v3/sources/a%20b%2Fc"
        );
        let bare = Url::parse("https://acme.api.identitynow.com").unwrap();
        let url = url_for(&bare, &["oauth", "token"], &[("x", "a b".into())]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://acme.api.identitynow.com/oauth/token?x=a%20b"
        );
    }
}
