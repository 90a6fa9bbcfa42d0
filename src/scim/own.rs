//! What groupsync does to the groups it owns: find one by `externalId` or id, set its
//! `externalId` or `displayName` (PATCH, or PUT where the server has no PATCH) and delete
//! it. PATCH, PUT and DELETE are idempotent, so each goes through the client's retry.

use super::error::from_status;
use super::wire;
use super::{Client, ScimError};
use crate::domain::TargetGroup;
use crate::upstream::Reply;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use url::Url;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCIM_JSON: &str = "application/scim+json";

/// The attributes groupsync sets on a group it owns or adopts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change<'a> {
    pub display_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
}

impl Change<'_> {
    /// The PatchOp body: one `replace` per attribute (RFC 7644 §3.5.2.3).
    fn patch_body(&self) -> Value {
        let mut ops = vec![];
        if let Some(name) = self.display_name {
            ops.push(json!({"op": "replace", "path": "displayName", "value": name}));
        }
        if let Some(ext) = self.external_id {
            ops.push(json!({"op": "replace", "path": "externalId", "value": ext}));
        }
        json!({"schemas": [PATCH_OP], "Operations": ops})
    }

    /// The group as the server sent it, with these attributes replaced and the read-only
    /// ones (`id`, `meta`) left out: a PUT of it changes nothing else, members included.
    fn put_body(&self, mut current: Value) -> Value {
        if let Some(obj) = current.as_object_mut() {
            obj.retain(|k, _| !k.eq_ignore_ascii_case("id") && !k.eq_ignore_ascii_case("meta"));
            if let Some(name) = self.display_name {
                obj.retain(|k, _| !k.eq_ignore_ascii_case("displayName"));
                obj.insert("displayName".into(), Value::String(name.to_owned()));
            }
            if let Some(ext) = self.external_id {
                obj.retain(|k, _| !k.eq_ignore_ascii_case("externalId"));
                obj.insert("externalId".into(), Value::String(ext.to_owned()));
            }
        }
        current
    }
}

/// The SCIM filter that finds groups carrying `external_id`.
pub fn external_id_filter(external_id: &str) -> String {
    format!("externalId eq {}", Value::String(external_id.to_owned()))
}

impl Client {
    /// Groups whose `externalId` is exactly `external_id` (it is `caseExact`, RFC 7643
    /// §3.1); every returned resource is checked here. Empty means "none".
    pub async fn find_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Vec<TargetGroup>, ScimError> {
        let filter = external_id_filter(external_id);
        let filter = utf8_percent_encode(&filter, NON_ALPHANUMERIC).to_string();
        let url = self.groups_url_with(&format!("filter={filter}&excludedAttributes=members"));
        let page = wire::list_page(self.get_json(&url).await?)?;
        let mut found = vec![];
        for r in page.resources {
            let g = wire::target_group(&r)?;
            if g.external_id.as_deref() == Some(external_id) {
                found.push(g);
            }
        }
        Ok(found)
    }

    /// `GET /Groups/{id}`; `None` when the server does not hold it (404).
    pub async fn get_group(&self, id: &str) -> Result<Option<TargetGroup>, ScimError> {
        match self.get_json(&self.group_url(id)).await {
            Ok(v) => wire::target_group(&v).map(Some),
            Err(ScimError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `/ServiceProviderConfig` says the server supports PATCH (`false` when it
    /// says nothing, or cannot be read: PUT works everywhere).
    pub async fn patch_supported(&self) -> bool {
        self.service_provider_config()
            .await
            .ok()
            .and_then(|spc| {
                let obj = spc.as_object()?;
                let patch = wire::field(obj, "patch")?.as_object()?;
                wire::field(patch, "supported")?.as_bool()
            })
            .unwrap_or(false)
    }

    /// Sets `change` on group `id`: PATCH when `patch` is true, falling back to PUT when
    /// the server refuses the PATCH; PUT otherwise. The error is the target's own.
    pub async fn change_group(
        &self,
        id: &str,
        change: Change<'_>,
        patch: bool,
    ) -> Result<(), ScimError> {
        if patch {
            match self.patch_group(id, change).await {
                Ok(()) => return Ok(()),
                Err(e @ (ScimError::Unauthorized { .. } | ScimError::NotFound { .. })) => {
                    return Err(e);
                }
                Err(e) => tracing::info!(group = id, error = %e, "PATCH refused; trying PUT"),
            }
        }
        self.put_group(id, change).await
    }

    /// `PATCH /Groups/{id}`, sent once: a server that refuses it gets a PUT instead.
    async fn patch_group(&self, id: &str, change: Change<'_>) -> Result<(), ScimError> {
        let body = change.patch_body().to_string();
        self.send(reqwest::Method::PATCH, self.group_url(id), Some(body))
            .await
    }

    /// `PUT /Groups/{id}` of the group as the server holds it, with `change` applied.
    async fn put_group(&self, id: &str, change: Change<'_>) -> Result<(), ScimError> {
        let current = self.get_json(&self.group_url(id)).await?;
        let body = change.put_body(current).to_string();
        let url = self.group_url(id);
        let operation = crate::retry::Operation::new("SCIM target", format!("PUT {}", url.path()));
        crate::retry::retry(&self.retry, &operation, || {
            self.send(reqwest::Method::PUT, url.clone(), Some(body.clone()))
        })
        .await
    }

    /// `DELETE /Groups/{id}`; a group already gone (404) counts as deleted.
    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        let url = self.group_url(id);
        let operation =
            crate::retry::Operation::new("SCIM target", format!("DELETE {}", url.path()));
        let deleted = crate::retry::retry(&self.retry, &operation, || {
            self.send(reqwest::Method::DELETE, url.clone(), None)
        })
        .await;
        match deleted {
            Err(ScimError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<String>,
    ) -> Result<(), ScimError> {
        let mut request = self.request(method.clone(), url);
        if let Some(body) = body {
            request = request
                .header(http::header::CONTENT_TYPE, SCIM_JSON)
                .body(body);
        }
        let Reply {
            status,
            headers,
            body,
        } = self.exchange(request).await?;
        tracing::debug!(status = status.as_u16(), %method, "SCIM write");
        if status.is_success() {
            Ok(())
        } else {
            Err(from_status(status, &headers, &body))
        }
    }

    /// `{base}Groups/{id}`, the id percent-encoded as one path segment.
    fn group_url(&self, id: &str) -> Url {
        let mut url = self.groups_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(id);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_replaces_each_attribute() {
        let change = Change {
            display_name: Some("Fin"),
            external_id: Some("e1"),
        };
        assert_eq!(
            change.patch_body(),
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Fin"},
                {"op": "replace", "path": "externalId", "value": "e1"},
            ]})
        );
    }

    #[test]
    fn put_keeps_members_and_drops_read_only_attributes() {
        let current = json!({"schemas": ["g"], "id": "1", "meta": {}, "displayname": "Old",
            "members": [{"value": "u1"}]});
        let change = Change {
            display_name: Some("New"),
            external_id: None,
        };
        assert_eq!(
            change.put_body(current),
            json!({"schemas": ["g"], "displayName": "New", "members": [{"value": "u1"}]})
        );
    }

    #[test]
    fn external_id_filter_is_a_json_literal() {
        assert_eq!(
            external_id_filter("CN=a \"b\",DC=x"),
            r#"externalId eq "CN=a \"b\",DC=x""#
        );
    }
}
