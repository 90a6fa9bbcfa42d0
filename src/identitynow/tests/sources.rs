//! Finding the source by id or by name.

use super::*;
use crate::identitynow::{IdnError, Source};

fn source(id: &str, name: &str) -> serde_json::Value {
    json!({"id": id, "name": name, "type": "Active Directory - Direct", "connector": "active-directory",
           "owner": {"type": "IDENTITY", "id": "2c91808568c529c60168cca6f90c1313"}, "healthy": true})
}

/// `GET /v3/sources` filtered on `name`, answering `found`.
async fn by_name(found: serde_json::Value) -> Result<Source, IdnError> {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/v3/sources"))
        .and(raw_query(
            "filters=name%20eq%20%22Active%20Directory%22&sorters=id&limit=250&offset=0",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(found))
        .expect(1)
        .mount(&server)
        .await;
    let name = SourceRef::Name("Active Directory".into());
    client(&server).resolve_source(&name).await
}

#[tokio::test]
async fn one_match_by_name_is_the_source() {
    let s = by_name(json!([source("s1", "Active Directory")]))
        .await
        .unwrap();
    assert_eq!(s.id, "s1");
    assert_eq!(s.source_type.as_deref(), Some("Active Directory - Direct"));
}

#[tokio::test]
async fn no_match_by_name_says_so() {
    let e = by_name(json!([])).await.unwrap_err();
    assert!(matches!(e, IdnError::SourceNameNotFound { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("no source is named \"Active Directory\""),
        "{e}"
    );
}

#[tokio::test]
async fn two_matches_by_name_list_both() {
    let e = by_name(json!([
        source("s1", "Active Directory"),
        source("s2", "active directory")
    ]))
    .await
    .unwrap_err();
    let text = e.to_string();
    let listed = r#"s1 ("Active Directory"), s2 ("active directory")"#;
    assert!(
        text.contains(&format!(
            "2 sources are named \"Active Directory\": {listed}"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn by_id_reads_the_source_or_says_it_is_missing() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/sources/{SOURCE_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(source(SOURCE_ID, "AD")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/sources/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "detailCode": "404 Not found", "trackingId": "b2c3",
            "messages": [{"locale": "en-US", "text": "The server did not find the target resource."}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let found = c
        .resolve_source(&SourceRef::Id(SOURCE_ID.into()))
        .await
        .unwrap();
    assert_eq!(found.name, "AD");
    let e = c
        .resolve_source(&SourceRef::Id("gone".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, IdnError::SourceNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("identitynow.source_id"), "{e}");
}

#[tokio::test]
async fn all_pages_of_sources_are_listed() {
    let server = MockServer::start().await;
    mount_token(&server, 1).await;
    let all: Vec<_> = (0..251)
        .map(|i| source(&format!("s{i:03}"), &format!("Source {i}")))
        .collect();
    Mock::given(method("GET"))
        .and(path("/v3/sources"))
        .respond_with(move |r: &Request| {
            let offset: usize = query_of(r)["offset"].parse().unwrap();
            let page: Vec<_> = all.iter().skip(offset).take(250).cloned().collect();
            ResponseTemplate::new(200).set_body_json(page)
        })
        .expect(2)
        .mount(&server)
        .await;
    let sources = client(&server).list_sources(None).await.unwrap();
    assert_eq!(sources.len(), 251);
    assert_eq!(sources[250].id, "s250");
}
