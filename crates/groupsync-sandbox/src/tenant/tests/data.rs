//! Sources and entitlements: filters, paging, shapes, errors.

use super::{Running, SRC, error_text, opts};
use crate::tenant::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test]
async fn sources_filter_count_and_limits() {
    let t = Running::start(opts(vec!["A".into()])).await;
    let token = t.token().await;
    let by_name = t
        .get(
            &token,
            "/v3/sources",
            &[
                ("filters", r#"name eq "HR \"Legacy\" AD""#),
                ("count", "true"),
            ],
        )
        .await;
    assert_eq!(by_name.headers()["x-total-count"], "1");
    let list: Value = by_name.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let s = &list[0];
    assert_eq!(s["id"], "b2");
    for key in ["name", "owner", "connector"] {
        assert!(!s[key].is_null(), "required {key}");
    }
    assert_eq!(s["owner"]["type"], "IDENTITY");
    assert_eq!(s["type"], "Active Directory - Direct");
    assert!(s["healthy"].is_boolean() && s["features"].is_array() && s["schemas"].is_array());
    let by_id: Value = t
        .get(
            &token,
            "/beta/sources",
            &[("filters", &format!(r#"id eq "{SRC}""#))],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id[0]["name"], "Active Directory");
    let all = t
        .get(
            &token,
            "/v2025/sources",
            &[("count", "true"), ("limit", "1")],
        )
        .await;
    assert_eq!(all.headers()["x-total-count"], "2");
    assert_eq!(
        all.json::<Value>().await.unwrap().as_array().unwrap().len(),
        1
    );
    let none: Value = t
        .get(&token, "/v3/sources", &[("filters", r#"name eq "nope""#)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, serde_json::json!([]));
    for limit in ["251", "-1", "many"] {
        let resp = t.get(&token, "/v3/sources", &[("limit", limit)]).await;
        assert!(
            error_text(resp, StatusCode::BAD_REQUEST, "400.1")
                .await
                .contains("limit")
        );
    }
    let bad = t
        .get(&token, "/v3/sources", &[("filters", r#"owner.id eq "x""#)])
        .await;
    assert!(
        error_text(bad, StatusCode::BAD_REQUEST, "400.1")
            .await
            .contains("owner.id")
    );
    let bad = t
        .get(&token, "/v3/sources", &[("filters", r#"name EQ "x""#)])
        .await;
    assert!(
        error_text(bad, StatusCode::BAD_REQUEST, "400.1")
            .await
            .contains("EQ")
    );
    let one: Value = t
        .get(&token, &format!("/v3/sources/{SRC}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], SRC);
    let missing = t.get(&token, "/v3/sources/nope", &[]).await;
    assert!(
        error_text(missing, StatusCode::NOT_FOUND, "404")
            .await
            .contains("nope")
    );
    t.stop().await;
}

/// Pages through a source's entitlements; returns (names, X-Total-Count of every page).
async fn all_pages(t: &Running, token: &str, page: usize) -> (Vec<String>, Vec<String>) {
    let (mut names, mut totals) = (Vec::new(), Vec::new());
    let filter = format!(r#"source.id eq "{SRC}" and attribute eq "memberOf""#);
    for offset in (0..).step_by(page) {
        let resp = t
            .get(
                token,
                "/v2025/entitlements",
                &[
                    ("filters", filter.as_str()),
                    ("sorters", "id"),
                    ("limit", &page.to_string()),
                    ("offset", &offset.to_string()),
                    ("count", "true"),
                ],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        totals.push(resp.headers()["x-total-count"].to_str().unwrap().to_owned());
        let items: Vec<Value> = resp.json().await.unwrap();
        names.extend(items.iter().map(|e| e["name"].as_str().unwrap().to_owned()));
        if items.len() < page {
            return (names, totals);
        }
    }
    unreachable!("the loop ends on a short page")
}

#[tokio::test]
async fn entitlement_paging_sees_every_group_exactly_once() {
    for n in [0, 1, 250, 251] {
        let groups = crate::seed::generate_groups(n, n as u64);
        let t = Running::start(TenantOptions {
            rate_limit: None,
            ..opts(groups.clone())
        })
        .await;
        let token = t.token().await;
        for page in [250, 100] {
            let (names, totals) = all_pages(&t, &token, page).await;
            assert_eq!(names.len(), n, "n={n} page={page}");
            let unique: HashSet<&String> = names.iter().collect();
            assert_eq!(unique.len(), n);
            assert_eq!(unique, groups.iter().collect::<HashSet<_>>());
            assert!(totals.iter().all(|c| *c == n.to_string()));
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn entitlements_look_like_ad_groups_and_stay_stable() {
    let t = Running::start(opts(vec![
        "Sales, EMEA".into(),
        "GG-Finance-Readers".into(),
    ]))
    .await;
    let token = t.token().await;
    let filter = format!(r#"source.id eq "{SRC}""#);
    let list = |q: Vec<(&'static str, String)>| {
        let token = token.clone();
        let t = &t;
        async move {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.get(&token, "/beta/entitlements", &q)
                .await
                .json::<Vec<Value>>()
                .await
                .unwrap()
        }
    };
    let first = list(vec![
        ("filters", filter.clone()),
        ("sorters", "name".into()),
    ])
    .await;
    let e = &first[1];
    assert_eq!(e["name"], "Sales, EMEA");
    assert_eq!(
        e["value"],
        r"CN=Sales\, EMEA,OU=Groups,DC=corp,DC=example,DC=com"
    );
    assert_eq!(e["attribute"], "memberOf");
    assert_eq!(e["sourceSchemaObjectType"], "group");
    assert_eq!(
        e["source"],
        serde_json::json!({"id": SRC, "type": "SOURCE", "name": "Active Directory"})
    );
    assert_eq!(e["privileged"], false);
    assert!(e["id"].as_str().unwrap().len() == 32 && e["segments"] == serde_json::json!([]));
    assert!(e["created"].as_str().unwrap().ends_with('Z'));
    t.tenant.add_group(SRC, "New Group");
    t.tenant.remove_group(SRC, "GG-Finance-Readers");
    let second = list(vec![
        ("filters", filter.clone()),
        ("sorters", "-name".into()),
    ])
    .await;
    let names: Vec<&str> = second.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Sales, EMEA", "New Group"]);
    assert_eq!(
        second[0]["id"], e["id"],
        "ids are stable per (source, group)"
    );
    let id = e["id"].as_str().unwrap();
    let one: Value = t
        .get(&token, &format!("/v2026/entitlements/{id}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "Sales, EMEA");
    t.tenant.rename_group(SRC, "Sales, EMEA", "Sales EU");
    let renamed: Value = t
        .get(&token, &format!("/v2026/entitlements/{id}"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        renamed["name"], "Sales EU",
        "a rename keeps the entitlement id"
    );
    assert_eq!(
        renamed["value"],
        "CN=Sales EU,OU=Groups,DC=corp,DC=example,DC=com"
    );
    t.tenant.rename_group(SRC, "Sales EU", "Sales, EMEA");
    let every = list(vec![]).await;
    assert_eq!(every.len(), 3, "no filter: every source's groups");
    let ids: Vec<&str> = every.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "id order across sources"
    );
    t.stop().await;
}

#[tokio::test]
async fn entitlement_mistakes_get_400_and_unknown_paths_404() {
    let t = Running::start(opts(vec![])).await;
    let token = t.token().await;
    for (key, value, named) in [
        (
            "filters",
            format!(r#"source.id eq "{SRC}" AND attribute eq "memberOf""#),
            "AND",
        ),
        (
            "filters",
            format!(r#"source.id eq {SRC}"#),
            "string literal",
        ),
        (
            "filters",
            r#"source.name eq "AD""#.to_owned(),
            "source.name",
        ),
        ("filters", r#"source.id co "2c""#.to_owned(), "co"),
        ("sorters", "owner".to_owned(), "owner"),
        ("limit", "1000".to_owned(), "limit"),
        ("offset", "x".to_owned(), "offset"),
    ] {
        let resp = t.get(&token, "/beta/entitlements", &[(key, &value)]).await;
        let text = error_text(resp, StatusCode::BAD_REQUEST, "400.1").await;
        assert!(text.contains(named), "{key}={value}: {text}");
    }
    for path in [
        "/v3/entitlements",
        "/v1999/entitlements",
        "/nowhere",
        "/beta/entitlements/unknown",
        "/beta/task-status/unknown",
    ] {
        error_text(t.get(&token, path, &[]).await, StatusCode::NOT_FOUND, "404").await;
    }
    let wrong = t
        .http
        .delete(t.url("/v3/sources"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    error_text(wrong, StatusCode::METHOD_NOT_ALLOWED, "405").await;
    let wrong = t.http.get(t.url("/oauth/token")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    t.stop().await;
}
