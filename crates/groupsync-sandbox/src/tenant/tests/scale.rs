//! Listings past the search window: the 10,000-record limit of offset paging, `searchAfter`
//! on `/v2026`, `created` ranges; which kind of token each operation accepts; the stats.

use super::{Running, SRC, error_text, opts};
use crate::tenant::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("GG-{i:05}")).collect()
}

fn pat(groups: Vec<String>) -> TenantOptions {
    TenantOptions {
        credential: Credential::Pat,
        rate_limit: None,
        ..opts(groups)
    }
}

fn total(resp: &reqwest::Response) -> usize {
    resp.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

const BY_SOURCE: &str = "source.id eq \"2c9180835d191a86015d28455b4b232a\"";

#[tokio::test]
async fn offset_paging_stops_at_ten_thousand_records() {
    let t = Running::start(TenantOptions {
        rate_limit: None,
        ..opts(many(10_050))
    })
    .await;
    let token = t.token().await;
    for v in ["beta", "v2024", "v2025"] {
        let path = format!("/{v}/entitlements");
        let last = t
            .get(
                &token,
                &path,
                &[
                    ("filters", BY_SOURCE),
                    ("offset", "9750"),
                    ("limit", "250"),
                    ("count", "true"),
                ],
            )
            .await;
        assert_eq!(last.status(), StatusCode::OK);
        assert_eq!(total(&last), 10_050, "X-Total-Count tells the full total");
        assert_eq!(last.json::<Vec<Value>>().await.unwrap().len(), 250);
        let past = t
            .get(&token, &path, &[("offset", "9751"), ("limit", "250")])
            .await;
        let text = error_text(past, StatusCode::BAD_REQUEST, "400.1").await;
        assert!(text.contains("10000"), "{text}");
        let after = t
            .get(&token, &path, &[("sorters", "id"), ("searchAfter", "0")])
            .await;
        let text = error_text(after, StatusCode::BAD_REQUEST, "400.1").await;
        assert!(text.contains("searchAfter"), "{v}: {text}");
    }
    t.stop().await;
}

#[tokio::test]
async fn an_api_client_is_refused_where_only_user_tokens_are_accepted() {
    let t = Running::start(opts(many(3))).await;
    let token = t.token().await;
    let listing = t.get(&token, "/v2026/entitlements", &[]).await;
    let text = error_text(listing, StatusCode::FORBIDDEN, "403 Forbidden").await;
    assert!(text.contains("refuses to authorize"), "{text}");
    let load = t
        .post(&token, &format!("/v2025/sources/{SRC}/load-entitlements"))
        .await;
    error_text(load, StatusCode::FORBIDDEN, "403 Forbidden").await;
    for ok in [
        "/v2025/entitlements",
        "/beta/entitlements",
        "/v3/sources",
        "/beta/task-status",
    ] {
        assert_eq!(
            t.get(&token, ok, &[]).await.status(),
            StatusCode::OK,
            "{ok}"
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn tokens_say_which_kind_of_credential_they_are() {
    for (credential, has_user) in [(Credential::ApiClient, false), (Credential::Pat, true)] {
        let t = Running::start(TenantOptions {
            credential,
            ..opts(vec![])
        })
        .await;
        let body = t.token_response().await;
        assert_eq!(body["identity_id"].is_string(), has_user, "{credential:?}");
        let jwt = body["access_token"].as_str().unwrap();
        let claims = jwt.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["identity_id"].is_string(), has_user, "{claims}");
        t.stop().await;
    }
}

#[tokio::test]
async fn search_after_pages_past_the_window_with_a_user_token() {
    let t = Running::start(pat(many(10_100))).await;
    let token = t.token().await;
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = vec![
            ("filters", BY_SOURCE.to_owned()),
            ("sorters", "id".to_owned()),
            ("count", "true".to_owned()),
        ];
        if let Some(a) = &after {
            q.push(("searchAfter", a.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = t.get(&token, "/v2026/entitlements", &q).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(total(&resp), 10_100);
        let page: Vec<Value> = resp.json().await.unwrap();
        for e in &page {
            assert!(
                seen.insert(e["id"].as_str().unwrap().to_owned()),
                "twice: {e}"
            );
        }
        if page.len() < 250 {
            break;
        }
        after = Some(page[249]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 10_100);

    // two sorters: the values of both, strictly after; offset counts from there
    let first: Vec<Value> = t
        .get(
            &token,
            "/v2026/entitlements",
            &[("sorters", "name,id"), ("limit", "3")],
        )
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = first.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["GG-00000", "GG-00001", "GG-00002"]);
    let after = format!("GG-00000,{}", first[0]["id"].as_str().unwrap());
    let next: Vec<Value> = t
        .get(
            &token,
            "/v2026/entitlements",
            &[
                ("sorters", "name,id"),
                ("searchAfter", &after),
                ("limit", "1"),
                ("offset", "1"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next[0]["name"], "GG-00002");
    for (q, why) in [
        (
            vec![("sorters", "name,id"), ("searchAfter", "GG-00000")],
            "1 value(s) for 2",
        ),
        (vec![("searchAfter", "x")], "1 value(s) for 0"),
        (
            vec![("sorters", "id"), ("searchAfter", "x"), ("offset", "9751")],
            "10000",
        ),
    ] {
        let resp = t.get(&token, "/v2026/entitlements", &q).await;
        let text = error_text(resp, StatusCode::BAD_REQUEST, "400.1").await;
        assert!(text.contains(why), "{q:?}: {text}");
    }
    t.stop().await;
}

/// One source's listing in id order is read straight from the source's groups; the same
/// listing through the general path (a per-group term that keeps every group) must read
/// the same, page by page, with offsets and with `searchAfter`.
#[tokio::test]
async fn one_source_in_id_order_reads_like_the_general_listing() {
    let t = Running::start(pat(many(600))).await;
    let token = t.token().await;
    let every = format!("{BY_SOURCE} and name sw \"GG-\"");
    let first: Vec<Value> = t
        .get(
            &token,
            "/v2026/entitlements",
            &[("filters", BY_SOURCE), ("limit", "250")],
        )
        .await
        .json()
        .await
        .unwrap();
    let after = first[249]["id"].as_str().unwrap().to_owned();
    let pages = [
        vec![("offset", "0")],
        vec![("offset", "250"), ("sorters", "id")],
        vec![("offset", "590"), ("limit", "20")],
        vec![("offset", "700")],
        vec![("sorters", "id"), ("searchAfter", after.as_str())],
        vec![
            ("sorters", "id"),
            ("searchAfter", after.as_str()),
            ("offset", "340"),
        ],
    ];
    for page in pages {
        let mut answers = Vec::new();
        for filters in [BY_SOURCE, every.as_str()] {
            let mut q = vec![("filters", filters), ("count", "true")];
            q.extend(page.iter().copied());
            let resp = t.get(&token, "/v2026/entitlements", &q).await;
            assert_eq!(resp.status(), StatusCode::OK, "{q:?}");
            answers.push((total(&resp), resp.text().await.unwrap()));
        }
        assert_eq!(answers[0], answers[1], "{page:?}");
        assert_eq!(answers[0].0, 600);
    }
}

#[tokio::test]
async fn created_ranges_split_the_listing_into_parts() {
    let t = Running::start(TenantOptions {
        rate_limit: None,
        ..opts(many(2_000))
    })
    .await;
    let token = t.token().await;
    let count = |filter: String| {
        let t = &t;
        let token = &token;
        async move {
            let resp = t
                .get(
                    token,
                    "/v2025/entitlements",
                    &[("filters", &filter), ("limit", "0"), ("count", "true")],
                )
                .await;
            assert_eq!(resp.status(), StatusCode::OK, "{filter}");
            total(&resp)
        }
    };
    let all = count(BY_SOURCE.to_owned()).await;
    assert_eq!(all, 2_000);
    let split = "2021-07-01T00:00:00Z";
    let before = count(format!("{BY_SOURCE} and created lt {split}")).await;
    let from = count(format!("{BY_SOURCE} and created ge \"{split}\"")).await;
    assert_eq!(before + from, all);
    assert!(
        before > 100 && from > 100,
        "spread over time: {before} / {from}"
    );
    let bad = t
        .get(
            &token,
            "/v2025/entitlements",
            &[("filters", "created gt soon")],
        )
        .await;
    error_text(bad, StatusCode::BAD_REQUEST, "400.1").await;
    t.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stats_count_routes_429s_and_the_busiest_ten_seconds() {
    let t = Running::start(TenantOptions {
        rate_limit: Some(5),
        ..opts(many(3))
    })
    .await;
    let token = t.token().await;
    for _ in 0..7 {
        t.get(&token, "/v2025/entitlements", &[]).await;
    }
    t.get(&token, &format!("/v3/sources/{SRC}"), &[]).await;
    let stats: Value = t
        .http
        .get(t.url("/sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_route"]["GET /v2025/entitlements"], 7, "{stats}");
    assert_eq!(stats["by_route"]["GET /v3/sources/{id}"], 1);
    assert_eq!(stats["by_route"]["POST /oauth/token"], 1);
    assert_eq!(stats["requests"], 9);
    assert_eq!(stats["rate_limited"], 3, "2 listings and the source over 5");
    assert_eq!(stats["max_in_window_by_client"]["id-1"], 8);
    assert_eq!(stats["rate_limit"], 5);
    assert_eq!(t.tenant.stats(), stats);
    t.stop().await;
}
