//! `GET …/sources`, `GET …/sources/{id}`, `GET …/entitlements`, `GET …/entitlements/{id}`.

use super::catalog::{self, Group, SourceEntry, source_json, timestamp};
use super::errors::ApiError;
use super::filter::{FieldSpec, Filter, Op};
use super::paging::{Collection, Rules, Sorter};
use super::state::{AppState, lock};
use super::wire::Entitlement;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use std::ops::Bound;

const SOURCE_RULES: Rules = Rules {
    fields: &[
        FieldSpec {
            name: "id",
            ops: &[Op::Eq, Op::In],
        },
        FieldSpec {
            name: "name",
            ops: &[Op::Eq, Op::In, Op::Sw, Op::Co],
        },
    ],
    sorters: &["id", "name", "type", "created", "modified"],
    search_after: false,
};

/// Filterable fields of the entitlement listings, as the official spec lists them (those
/// the simulated entitlements carry).
const ENTITLEMENT_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "id",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "name",
        ops: &[Op::Eq, Op::In, Op::Sw],
    },
    FieldSpec {
        name: "attribute",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "value",
        ops: &[Op::Eq, Op::In, Op::Sw],
    },
    FieldSpec {
        name: "source.id",
        ops: &[Op::Eq, Op::In],
    },
    FieldSpec {
        name: "created",
        ops: &[Op::Gt, Op::Lt, Op::Ge, Op::Le],
    },
    FieldSpec {
        name: "modified",
        ops: &[Op::Gt, Op::Lt, Op::Ge, Op::Le],
    },
];

const ENTITLEMENT_SORTERS: &[&str] = &[
    "id",
    "name",
    "created",
    "modified",
    "attribute",
    "value",
    "source.id",
];

/// `/beta`, `/v2024`, `/v2025`: offset paging only.
const ENTITLEMENT_RULES: Rules = Rules {
    fields: ENTITLEMENT_FIELDS,
    sorters: ENTITLEMENT_SORTERS,
    search_after: false,
};

/// `/v2026` adds `searchAfter`.
const V2026_ENTITLEMENT_RULES: Rules = Rules {
    search_after: true,
    ..ENTITLEMENT_RULES
};

/// `GET /{version}/sources`.
pub async fn list_sources(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let c = Collection::parse(query.as_deref(), &SOURCE_RULES)?;
    let catalog = lock(&state.catalog);
    let mut found: Vec<&SourceEntry> = catalog
        .sources
        .iter()
        .filter(|e| {
            c.filter.matches(|f| match f {
                "id" => Some(e.source.id.as_str()),
                "name" => Some(e.source.name.as_str()),
                _ => None,
            })
        })
        .collect();
    c.sort(&mut found, |e, f| match f {
        "id" => e.source.id.clone(),
        "name" => e.source.name.clone(),
        "type" => e.source.source_type.clone(),
        // Every simulated source has the same creation date: keep configured order.
        _ => String::new(),
    });
    Ok(c.page(&found, |e| source_json(e)))
}

/// `GET /{version}/sources/{id}`.
pub async fn one_source(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match lock(&state.catalog).source(&id) {
        Some(entry) => Json(source_json(entry)).into_response(),
        None => ApiError::not_found_object("source", &id).into_response(),
    }
}

/// One entitlement while filtering: its source, its id, its group.
type Item<'a> = (&'a SourceEntry, &'a String, &'a Group);

fn entitlement_field(item: &Item<'_>, field: &str) -> Option<String> {
    let (entry, id, group) = item;
    Some(match field {
        "id" => (*id).clone(),
        "name" => group.name.clone(),
        "attribute" => catalog::attribute(entry, group).into(),
        "value" => catalog::native_value(entry, id, group),
        "source.id" => entry.source.id.clone(),
        "created" => timestamp(&group.created),
        "modified" => timestamp(&group.modified),
        _ => return None,
    })
}

/// True if `item` passes `filter`, computing only the fields the filter names.
fn entitlement_matches(filter: &Filter, item: &Item<'_>) -> bool {
    let values: Vec<(&str, Option<String>)> = filter
        .terms
        .iter()
        .map(|t| (t.field.as_str(), entitlement_field(item, &t.field)))
        .collect();
    filter.matches(|f| {
        values
            .iter()
            .find(|(k, _)| *k == f)
            .and_then(|(_, v)| v.as_deref())
    })
}

/// `GET /{version}/entitlements`: sorted by id unless asked otherwise, id breaking ties,
/// so that offset paging sees each entitlement exactly once.
///
/// Like the search index behind it, a page may not reach past the first 10,000 records
/// (`offset + limit`); on `/v2026` `searchAfter` moves that window to start strictly after
/// the given sort values. `X-Total-Count` always counts every match.
///
/// Terms on `source.id` are checked once per source, not per group, so a page of a large
/// source costs little more than walking its ids. `attribute` differs by entitlement (an
/// Entra ID source holds groups, licences and roles), so it is checked per entitlement.
pub async fn list_entitlements(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let rules = if uri.path().starts_with("/v2026/") {
        &V2026_ENTITLEMENT_RULES
    } else {
        &ENTITLEMENT_RULES
    };
    let c = Collection::parse(query.as_deref(), rules)?;
    c.check_window()?;
    let (per_source, per_group) = c.filter.split(|f| f == "source.id");
    super::tasks::settle_all(&state);
    let catalog = lock(&state.catalog);
    let sources: Vec<&SourceEntry> = catalog
        .sources
        .iter()
        .filter(|entry| {
            per_source.matches(|f| match f {
                "source.id" => Some(entry.source.id.as_str()),
                _ => None,
            })
        })
        .collect();
    let by_id = [Sorter {
        field: "id".into(),
        descending: false,
    }];
    let in_id_order = c.sorters.is_empty() || c.sorters == by_id;
    if let [entry] = sources[..]
        && in_id_order
        && per_group.terms.is_empty()
    {
        return Ok(one_source_page(&c, entry));
    }
    let mut found: Vec<Item<'_>> = Vec::new();
    for &entry in &sources {
        let items = entry.groups.iter().map(|(id, g)| (entry, id, g));
        if per_group.terms.is_empty() {
            found.extend(items);
        } else {
            found.extend(items.filter(|item| entitlement_matches(&per_group, item)));
        }
    }
    // each source's groups are kept in id order: only entitlements of several sources
    // need sorting
    if sources.len() > 1 {
        found.sort_by(|a, b| a.1.cmp(b.1));
    }
    let key = |item: &Item<'_>, f: &str| entitlement_field(item, f).unwrap_or_default();
    if !in_id_order {
        c.sort(&mut found, key);
    }
    let start = c.start(&found, key);
    Ok(c.page_from(&found, start, |(e, id, g)| Entitlement::new(e, id, g)))
}

/// `GET /{version}/entitlements/{id}`.
pub async fn one_entitlement(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match lock(&state.catalog).entitlement(&id) {
        Some((entry, group)) => Json(Entitlement::new(entry, &id, group)).into_response(),
        None => ApiError::not_found_object("entitlement", &id).into_response(),
    }
}

/// The page of one source's entitlements in id order, read straight from the source's
/// map: the listing a reader pages through (`filters=source.id eq "…"&sorters=id`) then
/// neither copies nor sorts the source's every entitlement to answer 250 of them.
fn one_source_page(c: &Collection, entry: &SourceEntry) -> Response {
    // `searchAfter` (checked to hold one value per sorter) starts strictly after that id
    let after = match c.search_after.as_deref() {
        Some([id]) => Bound::Excluded(id.as_str()),
        _ => Bound::Unbounded,
    };
    let page: Vec<Entitlement<'_>> = entry
        .groups
        .range::<str, _>((after, Bound::Unbounded))
        .skip(c.offset)
        .take(c.limit)
        .map(|(id, g)| Entitlement::new(entry, id, g))
        .collect();
    c.answer(entry.groups.len(), &page)
}
