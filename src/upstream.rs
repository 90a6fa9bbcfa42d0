//! One HTTP exchange with an upstream API (IdentityNow or the SCIM target): send the
//! request, count it in `groupsync_upstream_requests_total`, read the body up to a size cap.
//!
//! Both clients go through [`exchange`]; each turns a [`Reply`] or an [`UpstreamError`]
//! into its own errors and decides itself what is worth retrying.

use crate::telemetry::run_log;
use http::{HeaderMap, StatusCode};

/// The largest body read from an upstream answer. An entitlement page of 250 items or a
/// SCIM listing page is a small fraction of this; anything larger is not a real answer.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why there is no [`Reply`].
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer, or the answer broke off while its body was read.
    #[error(transparent)]
    Transport(reqwest::Error),
    /// The body is larger than the cap; what was read of it is dropped.
    #[error("the answer's body is larger than the {limit} bytes accepted")]
    TooLarge { limit: usize },
}

/// A builder for the HTTP client of the API at `base`. Over plain `http://` (a service on
/// this machine, unless `allow_insecure_transport` says otherwise) no certificate is ever
/// checked, so the system's trust store is not loaded: loading it took about 5 ms of each
/// client's start. No request leaves for another URL: redirects are not followed.
pub fn client_for(base: &url::Url) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    if base.scheme() == "http" {
        builder.tls_certs_only([])
    } else {
        builder
    }
}

/// Sends `request` for `service` (`identitynow` or `scim`, the metric's label) and reads
/// the body, at most [`MAX_BODY_BYTES`] of it.
pub async fn exchange(
    service: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Reply, UpstreamError> {
    exchange_capped(service, request, MAX_BODY_BYTES).await
}

/// As [`exchange`], with the body cap given.
pub async fn exchange_capped(
    service: &'static str,
    request: reqwest::RequestBuilder,
    limit: usize,
) -> Result<Reply, UpstreamError> {
    let mut response = request
        .send()
        .await
        .inspect_err(|_| run_log::upstream_unanswered(service))
        .map_err(UpstreamError::Transport)?;
    let status = response.status();
    run_log::upstream(service, status.as_u16());
    let headers = response.headers().clone();
    let body = read_capped(&mut response, limit).await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The body, refused as soon as it is known to be larger than `limit`: from its declared
/// length when there is one, otherwise as the chunks arrive.
async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    let too_large = || UpstreamError::TooLarge { limit };
    let declared = response.content_length().unwrap_or(0);
    if declared > limit as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response.chunk().await.map_err(UpstreamError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metric;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn server_answering(template: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(template)
            .mount(&server)
            .await;
        server
    }

    fn get(url: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().get(url)
    }

    #[tokio::test]
    async fn returns_status_headers_and_body() {
        let server = server_answering(
            ResponseTemplate::new(404)
                .insert_header("x-total-count", "7")
                .set_body_string("gone"),
        )
        .await;
        let reply = exchange("scim", get(&server.uri())).await.unwrap();
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.headers["x-total-count"], "7");
        assert_eq!(reply.body, b"gone");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused() {
        let server =
            server_answering(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 11])).await;
        let err = exchange_capped("scim", get(&server.uri()), 10)
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpstreamError::TooLarge { limit: 10 }),
            "{err}"
        );
        assert!(
            err.to_string().contains("larger than the 10 bytes"),
            "{err}"
        );
        let fits = exchange_capped("scim", get(&server.uri()), 11)
            .await
            .unwrap();
        assert_eq!(fits.body.len(), 11);
    }

    /// A chunked answer declares no length, so the cap is applied while it is read.
    #[tokio::test]
    async fn a_chunked_body_over_the_cap_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            let chunk = "x".repeat(8);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{chunk}\r\n8\r\n{chunk}\r\n0\r\n\r\n"
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let err = exchange_capped("scim", get(&url), 12).await.unwrap_err();
        assert!(
            matches!(err, UpstreamError::TooLarge { limit: 12 }),
            "{err}"
        );
        server.abort();
        let _ = server.await;
    }

    #[tokio::test]
    async fn each_exchange_is_counted_with_its_service_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let server = server_answering(ResponseTemplate::new(503)).await;
        exchange("identitynow", get(&server.uri())).await.unwrap();
        exchange("identitynow", get(&server.uri())).await.unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = exchange("scim", get(&format!("http://{closed}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, UpstreamError::Transport(_)), "{err}");
        let text = handle.render();
        let line = |labels: &str| format!("{}{{{labels}}} ", metric::UPSTREAM_REQUESTS);
        assert!(
            text.contains(&format!(
                "{}2",
                line(r#"service="identitynow",status="503""#)
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{}1",
                line(r#"service="scim",status="no_answer""#)
            )),
            "{text}"
        );
    }
}
