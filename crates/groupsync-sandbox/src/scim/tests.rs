//! The SCIM server over real HTTP on 127.0.0.1.

use super::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "sandbox-token";

/// A server on an ephemeral port, stopped by [`Running::stop`] (or on drop).
struct Running {
    server: ScimServer,
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(opts: ScimOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let server = ScimServer::new(opts);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.clone().serve(listener, shutdown.clone()));
    Running {
        server,
        base,
        http: reqwest::Client::new(),
        shutdown,
        task: Some(task),
    }
}

async fn start_default() -> Running {
    start(ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()))).await
}

impl Running {
    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        (status, headers, body)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(self.request(Method::GET, path).query(query))
            .await;
        (status, body)
    }

    async fn post_group(&self, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let req = self
            .request(Method::POST, "/Groups")
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        self.send(req).await
    }

    async fn with_body(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self
            .request(method, path)
            .header("content-type", "application/json")
            .body(body.to_string());
        let (status, _, body) = self.send(req).await;
        (status, body)
    }
}

fn group_body(name: &str) -> Value {
    json!({"schemas": [group::GROUP_URN], "displayName": name})
}

fn assert_error(body: &Value, status: &str, scim_type: Option<&str>) {
    assert_eq!(body["schemas"], json!([error::ERROR_URN]), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn paging_walks_every_group_exactly_once() {
    for n in [0usize, 1, 250, 251] {
        let sandbox = start_default().await;
        for i in 0..n {
            sandbox.server.insert_group(&format!("group {i:03}"));
        }
        let mut seen = Vec::new();
        let mut start_index = 1;
        loop {
            let start = start_index.to_string();
            let (status, page) = sandbox
                .get("/Groups", &[("startIndex", &start), ("count", "100")])
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(page["totalResults"], n, "n={n}");
            assert_eq!(page["startIndex"], start_index);
            let resources = page["Resources"].as_array().unwrap();
            assert_eq!(page["itemsPerPage"], resources.len());
            assert!(resources.len() <= 100);
            if resources.is_empty() {
                break;
            }
            seen.extend(
                resources
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_owned()),
            );
            start_index += resources.len();
        }
        let ids: Vec<String> = sandbox.server.groups().into_iter().map(|g| g.id).collect();
        assert_eq!(seen, ids, "n={n}");
        let (_, all) = sandbox.get("/Groups", &[]).await;
        assert_eq!(all["itemsPerPage"], n, "no count: up to the maximum");
        let (_, none) = sandbox.get("/Groups", &[("count", "0")]).await;
        assert_eq!(
            (none["totalResults"].as_u64(), none["itemsPerPage"].as_u64()),
            (Some(n as u64), Some(0))
        );
        sandbox.stop().await;
    }
}

#[tokio::test]
async fn count_is_capped_and_bad_numbers_are_refused() {
    let mut opts = ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()));
    opts.max_page_size = 10;
    let sandbox = start(opts).await;
    for i in 0..25 {
        sandbox.server.insert_group(&format!("g{i}"));
    }
    let (_, page) = sandbox
        .get("/Groups", &[("count", "500"), ("startIndex", "-4")])
        .await;
    assert_eq!(
        (page["itemsPerPage"].as_u64(), page["startIndex"].as_u64()),
        (Some(10), Some(1))
    );
    let (_, page) = sandbox.get("/Groups", &[("startIndex", "21")]).await;
    assert_eq!(page["itemsPerPage"], 5);
    let (_, page) = sandbox.get("/Groups", &[("startIndex", "99")]).await;
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["Resources"].as_array().map(Vec::len)
        ),
        (Some(25), Some(0))
    );
    for (name, value) in [("count", "ten"), ("startIndex", "1x")] {
        let (status, body) = sandbox.get("/Groups", &[(name, value)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&body, "400", Some("invalidValue"));
    }
    sandbox.stop().await;
}

#[tokio::test]
async fn post_creates_with_location_and_filter_finds_it_ignoring_case() {
    let sandbox = start_default().await;
    let (status, headers, body) = sandbox
        .post_group(json!({"schemas": [group::GROUP_URN], "displayName": "R&D \"Core\" \\ Ops", "externalId": "ad-1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["content-type"], "application/scim+json");
    let id = body["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    let location = headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{}/Groups/{id}", sandbox.base));
    assert_eq!(body["meta"]["location"], location);
    assert_eq!(body["meta"]["resourceType"], "Group");
    assert_eq!(headers["etag"].to_str().unwrap(), body["meta"]["version"]);
    assert_eq!(body["externalId"], "ad-1");
    assert_eq!(sandbox.server.create_count(), 1);

    let (status, fetched) = sandbox.get(&format!("/Groups/{id}"), &[]).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &body));

    let literal = serde_json::to_string("r&d \"CORE\" \\ ops").unwrap();
    let filter = format!("displayName eq {literal}");
    let (_, found) = sandbox.get("/Groups", &[("filter", &filter)]).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id);
    let (_, exact) = sandbox
        .get("/Groups", &[("filter", r#"externalId eq "AD-1""#)])
        .await;
    assert_eq!(exact["totalResults"], 0, "externalId is caseExact");
    // The same filter percent-encoded with %20, as the groupsync client sends it.
    let url = "/Groups?filter=displayName%20eq%20%22R%26D%20%5C%22Core%5C%22%20%5C%5C%20Ops%22";
    let (_, encoded) = sandbox.get(url, &[]).await;
    assert_eq!(encoded["totalResults"], 1);
    sandbox.stop().await;
}

#[tokio::test]
async fn duplicates_are_allowed_unless_uniqueness_is_on() {
    let sandbox = start_default().await;
    for name in ["Finance", "FINANCE"] {
        assert_eq!(
            sandbox.post_group(group_body(name)).await.0,
            StatusCode::CREATED
        );
    }
    let (_, found) = sandbox
        .get("/Groups", &[("filter", r#"displayName eq "finance""#)])
        .await;
    assert_eq!(found["totalResults"], 2);
    sandbox.stop().await;

    let mut opts = ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()));
    opts.unique_display_names = true;
    let sandbox = start(opts).await;
    assert_eq!(
        sandbox.post_group(group_body("Finance")).await.0,
        StatusCode::CREATED
    );
    let (status, _, body) = sandbox.post_group(group_body("FINANCE")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "409", Some("uniqueness"));
    let other = sandbox.post_group(group_body("Other")).await.2;
    let path = format!("/Groups/{}", other["id"].as_str().unwrap());
    let rename = json!({"schemas": [patch::PATCH_URN], "Operations": [{"op": "replace", "path": "displayName", "value": "finance"}]});
    let (status, body) = sandbox.with_body(Method::PATCH, &path, rename).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(sandbox.server.create_count(), 2);
    assert_eq!(sandbox.server.groups().len(), 2);
    sandbox.stop().await;
}

#[tokio::test]
async fn bad_requests_get_scim_errors() {
    let sandbox = start_default().await;
    let text = sandbox
        .request(Method::POST, "/Groups")
        .header("content-type", "text/plain")
        .body(group_body("x").to_string());
    let (status, headers, body) = sandbox.send(text).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(headers["content-type"], "application/scim+json");
    assert_error(&body, "415", None);
    let untyped = sandbox
        .request(Method::POST, "/Groups")
        .body(group_body("x").to_string());
    assert_eq!(
        sandbox.send(untyped).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let malformed = sandbox
        .request(Method::POST, "/Groups")
        .header("content-type", "application/json; charset=utf-8")
        .body("{\"schemas\": [");
    let (status, _, body) = sandbox.send(malformed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "400", Some("invalidSyntax"));
    let (_, _, body) = sandbox
        .post_group(json!({"schemas": [group::GROUP_URN]}))
        .await;
    assert_error(&body, "400", Some("invalidValue"));

    for filter in [
        "displayName eq \"fin\tance\"",
        r#"displayName eq "a"b""#,
        "displayName zz \"x\"",
        "garbage",
    ] {
        let (status, body) = sandbox.get("/Groups", &[("filter", filter)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert_error(&body, "400", Some("invalidFilter"));
    }
    let (status, body) = sandbox
        .get(
            "/Groups",
            &[("attributes", "id"), ("excludedAttributes", "id")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "400", Some("invalidValue"));
    assert_eq!(sandbox.server.create_count(), 0);
    sandbox.stop().await;
}

#[tokio::test]
async fn unknown_ids_paths_and_methods() {
    let sandbox = start_default().await;
    for method in [Method::GET, Method::DELETE] {
        let (status, _, body) = sandbox.send(sandbox.request(method, "/Groups/nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "404", None);
    }
    let (status, body) = sandbox
        .with_body(Method::PUT, "/Groups/nope", group_body("x"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "404", None);
    let (status, body) = sandbox.get("/Users", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "404", None);

    let (status, headers, body) = sandbox
        .send(sandbox.request(Method::DELETE, "/Groups"))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/scim+json");
    let allow = headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_error(&body, "405", None);
    sandbox.stop().await;
}

#[tokio::test]
async fn credentials_are_required_everywhere() {
    let sandbox = start_default().await;
    for path in ["/Groups", "/Groups/x", "/ServiceProviderConfig", "/Nothing"] {
        let url = format!("{}{path}", sandbox.base);
        let (status, headers, body) = sandbox.send(sandbox.http.get(&url)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers["www-authenticate"], "Bearer realm=\"SCIM\"");
        assert_error(&body, "401", None);
        let wrong = sandbox.http.get(&url).bearer_auth("other");
        assert_eq!(sandbox.send(wrong).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sandbox.server.request_count(), 8);
    sandbox.stop().await;

    let auth = ScimServerAuth::Basic {
        username: "alation".into(),
        password: "s3cret".into(),
    };
    let sandbox = start(ScimOptions::new(auth)).await;
    let url = format!("{}/Groups", sandbox.base);
    let good = sandbox.http.get(&url).basic_auth("alation", Some("s3cret"));
    assert_eq!(sandbox.send(good).await.0, StatusCode::OK);
    let bad = sandbox.http.get(&url).basic_auth("alation", Some("nope"));
    let (status, headers, _) = sandbox.send(bad).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"SCIM\"");
    sandbox.stop().await;
}

#[tokio::test]
async fn put_patch_and_delete() {
    let sandbox = start_default().await;
    let created = sandbox.post_group(group_body("Finance")).await.2;
    let path = format!("/Groups/{}", created["id"].as_str().unwrap());

    let put =
        json!({"schemas": [group::GROUP_URN], "displayName": "Finance EU", "externalId": "x1"});
    let (status, replaced) = sandbox.with_body(Method::PUT, &path, put).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&replaced["displayName"], &replaced["externalId"]),
        (&json!("Finance EU"), &json!("x1"))
    );
    assert_eq!(replaced["meta"]["created"], created["meta"]["created"]);
    assert_ne!(replaced["meta"]["version"], created["meta"]["version"]);

    let ops = json!({"schemas": [patch::PATCH_URN], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": "members[value eq \"u1\"]"},
        {"op": "remove", "path": "externalId"},
    ]});
    let (status, patched) = sandbox.with_body(Method::PATCH, &path, ops).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["members"], json!([{"value": "u2"}]));
    assert!(patched.get("externalId").is_none());

    let failing = json!({"schemas": [patch::PATCH_URN], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "remove", "path": "displayName"},
    ]});
    let (status, body) = sandbox.with_body(Method::PATCH, &path, failing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "400", Some("mutability"));
    assert_eq!(
        sandbox.server.groups()[0].display_name,
        "Finance EU",
        "nothing applied"
    );

    let stale = sandbox
        .request(Method::DELETE, &path)
        .header("if-match", created["meta"]["version"].as_str().unwrap());
    assert_eq!(sandbox.send(stale).await.0, StatusCode::PRECONDITION_FAILED);
    let current = sandbox
        .request(Method::DELETE, &path)
        .header("if-match", patched["meta"]["version"].as_str().unwrap());
    let (status, headers, body) = sandbox.send(current).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(headers["content-type"], "application/scim+json");
    assert!(sandbox.server.groups().is_empty());
    assert_eq!(sandbox.get(&path, &[]).await.0, StatusCode::NOT_FOUND);
    sandbox.stop().await;
}

#[tokio::test]
async fn without_patch_the_server_says_so_and_answers_501_but_takes_put() {
    let mut opts = ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()));
    opts.patch = false;
    let sandbox = start(opts).await;
    let (_, spc) = sandbox.get("/ServiceProviderConfig", &[]).await;
    assert_eq!(spc["patch"], json!({"supported": false}));
    let created = sandbox.post_group(group_body("Finance")).await.2;
    let path = format!("/Groups/{}", created["id"].as_str().unwrap());
    let ops = json!({"schemas": [patch::PATCH_URN], "Operations": [
        {"op": "replace", "path": "externalId", "value": "e1"},
    ]});
    let (status, body) = sandbox.with_body(Method::PATCH, &path, ops).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert_error(&body, "501", None);
    assert_eq!(
        sandbox.server.groups()[0].external_id,
        None,
        "nothing applied"
    );
    let put = json!({"schemas": [group::GROUP_URN], "displayName": "Finance", "externalId": "e1"});
    assert_eq!(
        sandbox.with_body(Method::PUT, &path, put).await.0,
        StatusCode::OK
    );
    assert_eq!(
        sandbox.server.groups()[0].external_id.as_deref(),
        Some("e1")
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn projection_on_lists_and_single_resources() {
    let sandbox = start_default().await;
    let body = json!({"schemas": [group::GROUP_URN], "displayName": "Ops", "externalId": "e", "members": [{"value": "u1"}]});
    let id = sandbox.post_group(body).await.2["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, list) = sandbox
        .get("/Groups", &[("attributes", "displayName")])
        .await;
    let only = &list["Resources"][0];
    assert_eq!(only["displayName"], "Ops");
    assert!(only.get("externalId").is_none() && only.get("members").is_none());
    assert_eq!(
        (&only["id"], &only["schemas"][0]),
        (&json!(id), &json!(group::GROUP_URN))
    );
    assert!(only["meta"]["location"].is_string());
    let (_, list) = sandbox
        .get("/Groups", &[("excludedAttributes", "members")])
        .await;
    assert!(list["Resources"][0].get("members").is_none());
    assert_eq!(list["Resources"][0]["externalId"], "e");
    let (_, one) = sandbox
        .get(&format!("/Groups/{id}"), &[("attributes", "externalId")])
        .await;
    assert!(one.get("displayName").is_none());
    assert_eq!(one["externalId"], "e");
    sandbox.stop().await;
}

#[tokio::test]
async fn discovery_describes_the_server() {
    let auth = ScimServerAuth::Either {
        token: TOKEN.into(),
        username: "u".into(),
        password: "p".into(),
    };
    let sandbox = start(ScimOptions::new(auth)).await;
    let (status, spc) = sandbox.get("/ServiceProviderConfig", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        spc["filter"],
        json!({"supported": true, "maxResults": 1000})
    );
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["sort"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], true);
    let types: Vec<&str> = spc["authenticationSchemes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["type"].as_str())
        .collect();
    assert_eq!(types, ["oauthbearertoken", "httpbasic"]);
    let (_, types) = sandbox.get("/ResourceTypes", &[]).await;
    assert_eq!(types["Resources"][0]["endpoint"], "/Groups");
    assert_eq!(
        sandbox.get("/ResourceTypes/Group", &[]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        sandbox.get("/ResourceTypes/User", &[]).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, schemas) = sandbox.get("/Schemas", &[]).await;
    let display = &schemas["Resources"][0]["attributes"][0];
    assert_eq!(
        (&display["name"], &display["caseExact"]),
        (&json!("displayName"), &json!(false))
    );
    let (status, _) = sandbox
        .get(&format!("/Schemas/{}", group::GROUP_URN), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = sandbox.get("/Schemas", &[("filter", "id pr")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "403", None);
    sandbox.stop().await;
}

#[tokio::test]
async fn injected_faults_are_scim_shaped_and_counted() {
    let mut opts = ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()));
    opts.faults.rules = FaultPlan::parse("503@2:/scim/v2/Groups").unwrap();
    let sandbox = start(opts).await;
    assert_eq!(sandbox.get("/Groups", &[]).await.0, StatusCode::OK);
    let (status, body) = sandbox.get("/Groups", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "503", None);
    assert_eq!(sandbox.server.request_count(), 2);
    sandbox.stop().await;
}

#[tokio::test]
async fn a_create_lands_when_it_arrives_and_its_answer_leaves_after_the_latency() {
    let latency = Duration::from_millis(1500);
    let mut opts = ScimOptions::new(ScimServerAuth::Bearer(TOKEN.into()));
    opts.faults.latency = latency;
    let sandbox = start(opts).await;
    let sent = std::time::Instant::now();
    let (status, body) = {
        let post = sandbox.post_group(json!({
            "schemas": [group::GROUP_URN],
            "displayName": "Landed Early",
        }));
        tokio::pin!(post);
        // the group is there while its answer still waits: a client killed now has created it
        let landed = async {
            while sandbox.server.create_count() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = &mut post => panic!("the answer came before the create was seen"),
            () = landed => {}
        }
        let seen = sent.elapsed();
        assert!(seen < latency, "the create was seen only after {seen:?}");
        let (status, _, body) = post.await;
        (status, body)
    };
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["displayName"], json!("Landed Early"));
    assert!(
        sent.elapsed() >= latency,
        "answered after {:?}, before the latency of {latency:?}",
        sent.elapsed()
    );
    sandbox.stop().await;
}
