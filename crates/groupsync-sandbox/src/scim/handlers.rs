//! The `/Groups` endpoints (RFC 7644 §3.3–3.6) and the answers for unknown paths and
//! methods.

use super::Shared;
use super::discovery::json_response;
use super::error::{SCIM_JSON, ScimError};
use super::group::{Group, GroupInput};
use super::list::{ListParams, Projection, list_response};
use super::patch::Patch;
use super::query::Query;
use super::view::{GroupView, Shape};
use crate::names::fold_case;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type Body = Result<Bytes, BytesRejection>;
type Id = Result<Path<String>, PathRejection>;

/// The service root as the client reached it, for `meta.location` and `Location`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/scim/v2")
}

pub async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let params = ListParams::parse(raw.as_deref(), shared.max_page_size)?;
    let query = params.filter.as_deref().map(Query::parse).transpose()?;
    let base = base_url(&headers);
    let shape = Shape::of(&params.projection);
    let store = shared.store();
    // counts every match but keeps only the page's groups
    let skip = params.start_index - 1;
    let mut total = 0;
    let mut page = Vec::new();
    for group in store
        .iter()
        .filter(|g| query.as_ref().is_none_or(|q| q.matches(g, &base)))
    {
        if total >= skip && page.len() < params.count {
            page.push(GroupView::new(group, &base, &shape));
        }
        total += 1;
    }
    Ok(json_response(list_response(
        total,
        params.start_index,
        page,
    )))
}

pub async fn create(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, ScimError> {
    require_json(&headers)?;
    let projection = Projection::from_query(raw.as_deref())?;
    let input = GroupInput::from_body(&body.map_err(body_error)?)?;
    if let Some(max) = shared.max_name_length {
        let chars = input.display_name.chars().count();
        if chars > max {
            shared.count_refused_name();
            return Err(ScimError::invalid_value(format!(
                "displayName is {chars} characters long; at most {max} are allowed"
            )));
        }
    }
    let group = {
        let mut store = shared.store();
        if shared.unique_display_names && store.name_taken(&fold_case(&input.display_name), None) {
            return Err(taken(&input.display_name));
        }
        store.insert(input).clone()
    };
    shared.count_create();
    tracing::debug!(id = %group.id, display_name = %group.display_name, "SCIM group created");
    Ok(resource(StatusCode::CREATED, &group, &headers, &projection))
}

pub async fn fetch(
    State(shared): State<Arc<Shared>>,
    id: Id,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let id = group_id(id)?;
    let projection = Projection::from_query(raw.as_deref())?;
    let group = shared
        .store()
        .get(&id)
        .cloned()
        .ok_or_else(|| missing(&id))?;
    Ok(resource(StatusCode::OK, &group, &headers, &projection))
}

pub async fn replace(
    State(shared): State<Arc<Shared>>,
    id: Id,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, ScimError> {
    let id = group_id(id)?;
    require_json(&headers)?;
    let projection = Projection::from_query(raw.as_deref())?;
    let input = GroupInput::from_body(&body.map_err(body_error)?)?;
    let group = shared.modify(&id, &headers, |group| {
        group.replace(input);
        Ok(())
    })?;
    Ok(resource(StatusCode::OK, &group, &headers, &projection))
}

/// Answers 200 with the whole resource (RFC 7644 §3.5.2 allows that or 204).
pub async fn patch(
    State(shared): State<Arc<Shared>>,
    id: Id,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> Result<Response, ScimError> {
    if !shared.patch {
        return Err(ScimError::new(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "this server does not support PATCH (see /ServiceProviderConfig); replace the group with PUT".into(),
        ));
    }
    let id = group_id(id)?;
    require_json(&headers)?;
    let projection = Projection::from_query(raw.as_deref())?;
    let patch = Patch::from_body(&body.map_err(body_error)?)?;
    let group = shared.modify(&id, &headers, |group| patch.apply(group))?;
    Ok(resource(StatusCode::OK, &group, &headers, &projection))
}

pub async fn remove(
    State(shared): State<Arc<Shared>>,
    id: Id,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = group_id(id)?;
    let mut store = shared.store();
    let current = store.get(&id).ok_or_else(|| missing(&id))?;
    check_if_match(&headers, current)?;
    store.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unknown_path(uri: Uri) -> ScimError {
    ScimError::not_found(format!("no SCIM endpoint at '{}'", uri.path()))
}

pub async fn wrong_method() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "the endpoint does not support this method".into(),
    )
}

impl Shared {
    /// Changes a group under the lock: `If-Match`, the change (on a copy, so a failing
    /// change leaves nothing behind), the uniqueness rule, then the commit.
    fn modify(
        &self,
        id: &str,
        headers: &HeaderMap,
        change: impl FnOnce(&mut Group) -> Result<(), ScimError>,
    ) -> Result<Group, ScimError> {
        let mut store = self.store();
        let current = store.get(id).ok_or_else(|| missing(id))?;
        check_if_match(headers, current)?;
        let mut group = current.clone();
        change(&mut group)?;
        if self.unique_display_names && store.name_taken(&group.folded, Some(id)) {
            return Err(taken(&group.display_name));
        }
        store.update(group).cloned().ok_or_else(|| missing(id))
    }
}

/// A single group with `ETag` and `Location`, trimmed to the projection.
fn resource(status: StatusCode, group: &Group, headers: &HeaderMap, p: &Projection) -> Response {
    let base = base_url(headers);
    let body = p.apply(group.to_json(&base)).to_string();
    let headers = [
        (header::CONTENT_TYPE, SCIM_JSON.to_owned()),
        (header::ETAG, group.etag()),
        (header::LOCATION, group.location(&base)),
    ];
    (status, headers, body).into_response()
}

/// 415 unless the body is declared as SCIM JSON or plain JSON (parameters allowed).
fn require_json(headers: &HeaderMap) -> Result<(), ScimError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    let accepted = ["application/scim+json", "application/json"];
    if accepted.iter().any(|a| media.eq_ignore_ascii_case(a)) {
        Ok(())
    } else {
        Err(ScimError::unsupported_media_type())
    }
}

/// `If-Match` is optional; when given it must name the current version or be `*`.
fn check_if_match(headers: &HeaderMap, group: &Group) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let current = group.etag();
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let matches = wanted.to_str().is_ok_and(|list| {
        list.split(',')
            .any(|tag| tag.trim() == "*" || strip(tag) == strip(&current))
    });
    if matches {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(&current))
    }
}

fn group_id(id: Id) -> Result<String, ScimError> {
    id.map(|Path(id)| id)
        .map_err(|e| ScimError::not_found(format!("no group at this path: {e}")))
}

fn body_error(rejection: BytesRejection) -> ScimError {
    ScimError::new(rejection.status(), None, rejection.body_text())
}

fn missing(id: &str) -> ScimError {
    ScimError::not_found(format!("Group '{id}' not found"))
}

fn taken(name: &str) -> ScimError {
    ScimError::uniqueness(format!(
        "displayName {name:?} is already used by another group (names are compared ignoring case)"
    ))
}
