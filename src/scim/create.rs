//! Creating a group. `POST` is not idempotent, so it is sent once and never retried here:
//! whatever may have left a group behind (a timeout, a reset, a 5xx) is reported as
//! "retry later", and the caller looks the group up before any new `POST`.

use super::error::from_status;
use super::wire;
use super::{Client, ScimError};
use crate::domain::{TargetGroup, fold_name};
use crate::upstream::Reply;
use serde_json::{Value, json};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SCIM_JSON: &str = "application/scim+json";

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(TargetGroup),
    /// The server already holds a group of that name (409, or 400 `uniqueness`).
    AlreadyExists,
}

impl Client {
    /// `POST {base}Groups` with `displayName` (and `externalId` when given).
    ///
    /// A 409 (whatever its body) or a 400 with `scimType: uniqueness` is
    /// [`CreateOutcome::AlreadyExists`]. A 2xx without the new group's `id` (no body, no
    /// `Location`) is followed by a lookup to learn it.
    pub async fn create_group(
        &self,
        name: &str,
        external_id: Option<&str>,
    ) -> Result<CreateOutcome, ScimError> {
        let request = self
            .request(reqwest::Method::POST, self.groups_url.clone())
            .header(http::header::CONTENT_TYPE, SCIM_JSON)
            .body(create_body(name, external_id).to_string());
        let Reply {
            status,
            headers,
            body,
        } = self.exchange(request).await?;
        tracing::debug!(status = status.as_u16(), "SCIM POST Groups");
        if !status.is_success() {
            return match from_status(status, &headers, &body) {
                ScimError::Duplicate { .. } => Ok(CreateOutcome::AlreadyExists),
                other => Err(other),
            };
        }
        if let Some(group) = group_from_body(&body, name) {
            return Ok(CreateOutcome::Created(group));
        }
        if let Some(id) = id_from_location(&headers) {
            return Ok(CreateOutcome::Created(TargetGroup {
                id,
                display_name: name.to_owned(),
                external_id: external_id.map(str::to_owned),
            }));
        }
        self.find_created(name, external_id)
            .await
            .map(CreateOutcome::Created)
    }

    /// The group just created, when the server did not say its id.
    async fn find_created(
        &self,
        name: &str,
        external_id: Option<&str>,
    ) -> Result<TargetGroup, ScimError> {
        let mut found = self.find_by_display_name(name).await?;
        if found.len() > 1 {
            found.retain(|g| g.display_name == name);
        }
        if found.len() > 1 && external_id.is_some() {
            found.retain(|g| g.external_id.as_deref() == external_id);
        }
        match found.len() {
            0 => Err(ScimError::CreatedButNotFound(format!(
                "the server accepted {name:?} but a lookup does not return it"
            ))),
            1 => Ok(found.remove(0)),
            n => Err(ScimError::Inconsistent {
                detail: format!(
                    "the server accepted {name:?} without saying its id, and {n} groups now carry that name"
                ),
            }),
        }
    }
}

fn create_body(name: &str, external_id: Option<&str>) -> Value {
    let mut body = json!({ "schemas": [GROUP_SCHEMA], "displayName": name });
    if let Some(ext) = external_id {
        body["externalId"] = Value::String(ext.to_owned());
    }
    body
}

/// The created group from the response body, if it has one with an `id`. The body's
/// `displayName` is kept only when it matches ours ignoring case (a server may normalise
/// it); otherwise ours is used.
fn group_from_body(body: &[u8], name: &str) -> Option<TargetGroup> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let id = wire::resource_id(obj)?;
    let display_name = wire::display_name(&value)
        .filter(|d| fold_name(d) == fold_name(name))
        .unwrap_or(name)
        .to_owned();
    let external_id = wire::field(obj, "externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(TargetGroup {
        id,
        display_name,
        external_id,
    })
}

/// The id at the end of a `Location: …/Groups/{id}` header.
fn id_from_location(headers: &http::HeaderMap) -> Option<String> {
    let location = headers.get(http::header::LOCATION)?.to_str().ok()?;
    let path = location.split(['?', '#']).next()?.trim_end_matches('/');
    let (collection, id) = path.rsplit_once('/')?;
    let decoded = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?;
    (collection.ends_with("Groups") && !decoded.trim().is_empty()).then(|| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_has_the_group_schema() {
        assert_eq!(
            create_body("Ops", None),
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops"})
        );
        assert_eq!(create_body("Ops", Some("e1"))["externalId"], "e1");
    }

    #[test]
    fn location_gives_the_id() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::LOCATION,
            "https://a.example/scim/v2/Groups/ab%20c".parse().unwrap(),
        );
        assert_eq!(id_from_location(&h).as_deref(), Some("ab c"));
        h.insert(http::header::LOCATION, "/scim/v2/Users/1".parse().unwrap());
        assert_eq!(id_from_location(&h), None);
    }

    #[test]
    fn body_without_an_id_is_not_a_group() {
        assert!(group_from_body(b"", "Ops").is_none());
        assert!(group_from_body(br#"{"displayName":"Ops"}"#, "Ops").is_none());
        let g = group_from_body(br#"{"id":"9","displayName":"OPS"}"#, "Ops").unwrap();
        assert_eq!((g.id.as_str(), g.display_name.as_str()), ("9", "OPS"));
    }
}
