//! A scripted tenant served on the test's own runtime.
//!
//! wiremock answers from a thread of its own; while the paused test runtime waits for
//! that answer it looks idle, so tokio jumps the clock to the next timer (the request
//! timeout) and the request "times out". Served from the same runtime, an answer is ready
//! before the runtime ever idles, and virtual time moves only when the client sleeps.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One scripted answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    /// When each API request arrived, and its path and query.
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    tokens: Arc<Mutex<Vec<Instant>>>,
}

/// The running stub; aborted when dropped.
pub struct Stub {
    pub uri: String,
    script: Script,
    task: JoinHandle<()>,
}

impl Stub {
    /// Answers `POST /oauth/token` with a token living `expires_in` seconds, and every
    /// other request with the next reply of `replies` (500 once they run out).
    pub async fn start(expires_in: u64, replies: Vec<Reply>) -> Stub {
        let script = Script {
            replies: Arc::new(Mutex::new(replies.into())),
            ..Script::default()
        };
        let app = Router::new()
            .route("/oauth/token", post(move |s| token(s, expires_in)))
            .fallback(api)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Stub { uri, script, task }
    }

    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.script.log.lock().unwrap().clone()
    }

    /// When each token request arrived.
    pub fn token_times(&self) -> Vec<Instant> {
        self.script.tokens.lock().unwrap().clone()
    }

    pub fn token_fetches(&self) -> usize {
        self.script.tokens.lock().unwrap().len()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn token(State(s): State<Script>, expires_in: u64) -> Response {
    let n = {
        let mut tokens = s.tokens.lock().unwrap();
        tokens.push(Instant::now());
        tokens.len()
    };
    let body =
        format!(r#"{{"access_token":"tok-{n}","token_type":"bearer","expires_in":{expires_in}}}"#);
    respond(Reply::json(200, &body))
}

async fn api(State(s): State<Script>, uri: Uri) -> Response {
    s.log
        .lock()
        .unwrap()
        .push((Instant::now(), uri.to_string()));
    let next = s.replies.lock().unwrap().pop_front();
    respond(next.unwrap_or_else(|| Reply::json(500, r#"{"message":"script exhausted"}"#)))
}

fn respond(reply: Reply) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in reply.headers {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        reply.body,
    )
        .into_response()
}
