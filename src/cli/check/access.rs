//! The IdentityNow lines of `check` beyond the token, the source and its groups: the
//! Alation SCIM source, where the source keeps its groups (its schemas), and which
//! operations the token may use, with what each refused one costs.

use super::{Line, Printer, Status, idn_failure};
use crate::config::{ApiVersion, Settings};
use crate::identitynow::access::Operation;
use crate::identitynow::{self, Endpoint, IdnError};
use crate::report::NEEDS_PAT;
use crate::sync::close_loop::{list_sources, refused};

/// `identitynow scim source`: the configured source exists (by id or by name).
pub(super) async fn scim_source_line(settings: &Settings, client: &identitynow::Client) -> Line {
    const NAME: &str = "identitynow scim source";
    let Some(wanted) = &settings.identitynow.scim_source else {
        let why = "identitynow.scim_source is not set: aggregate the Alation SCIM source by \
                   hand after runs that create groups";
        return Line::new(Status::Skip, NAME, why);
    };
    match client.find_source(wanted).await {
        Ok(Ok(s)) => Line::new(Status::Ok, NAME, format!("{:?} ({})", s.name, s.id)),
        Ok(Err(all)) => Line::fail(
            NAME,
            format!(
                "identitynow.scim_source {wanted:?} names no source; the sources are: {}",
                list_sources(&all)
            ),
            Some("set identitynow.scim_source to the id or the name of one of them"),
        ),
        Err(e) => idn_failure(NAME, &e),
    }
}

/// `identitynow group schema`: the account attributes the source's schema marks `isGroup`.
pub(super) async fn schema_line(client: &identitynow::Client, source_id: &str) -> Line {
    const NAME: &str = "identitynow group schema";
    match client.group_schema(source_id).await {
        Ok(schema) => Line::new(Status::Ok, NAME, schema.to_string()),
        Err(e) if refused(&e, Endpoint::Schemas) => Line::new(
            Status::Skip,
            NAME,
            "the token may not read source schemas (a user's token may); groups are \
             still selected by sourceSchemaObjectType = group",
        ),
        Err(e) => Line::new(Status::Warn, NAME, e.to_string()),
    }
}

/// How a try of one operation came out.
enum Tried {
    Allowed,
    Refused,
    Untried,
    Other(IdnError),
}

/// One `identitynow access` line per operation groupsync may call.
pub(super) async fn access_lines(
    settings: &Settings,
    client: &identitynow::Client,
    source_id: &str,
    out: &mut Printer,
) {
    let mut schemas_allowed = None;
    for op in Operation::ALL {
        let tried = match client.try_operation(op, source_id).await {
            Ok(true) => Tried::Allowed,
            Ok(false) => Tried::Untried,
            Err(IdnError::Forbidden { .. }) => Tried::Refused,
            Err(e) => Tried::Other(e),
        };
        if op == Operation::ReadSchemas {
            schemas_allowed = match tried {
                Tried::Allowed => Some(true),
                Tried::Refused => Some(false),
                _ => None,
            };
        }
        out.put(access_line(settings, op, &tried, schemas_allowed));
    }
}

/// Whether a run with these settings calls `op`.
fn needed(settings: &Settings, op: Operation) -> bool {
    let idn = &settings.identitynow;
    let aggregates = idn.scim_source.is_some() || settings.poll.start_group_aggregation;
    match op {
        Operation::ListSources => true,
        Operation::ReadSchemas => false,
        Operation::EntitlementsV2025 => idn.api_version == ApiVersion::V2025,
        Operation::EntitlementsV2026 => idn.api_version == ApiVersion::V2026,
        Operation::LoadEntitlements | Operation::TaskStatus => aggregates,
    }
}

/// What a refusal of `op` costs.
fn cost(op: Operation) -> &'static str {
    match op {
        Operation::ListSources => "the sources cannot be found",
        Operation::ReadSchemas => {
            "check and dry runs cannot name the group schema (the selection does not need it)"
        }
        Operation::EntitlementsV2025 => "the groups cannot be read through v2025",
        Operation::EntitlementsV2026 => {
            "more than 10,000 groups are read in ranges of `created` (searchAfter is v2026 only)"
        }
        Operation::LoadEntitlements => "the loop is not closed",
        Operation::TaskStatus => "aggregations cannot be followed",
    }
}

fn access_line(
    settings: &Settings,
    op: Operation,
    tried: &Tried,
    schemas_allowed: Option<bool>,
) -> Line {
    const NAME: &str = "identitynow access";
    let label = op.label();
    let needed = needed(settings, op);
    let status_if_refused = if needed { Status::Fail } else { Status::Warn };
    let (status, detail) = match tried {
        Tried::Allowed if needed || op == Operation::ReadSchemas => {
            (Status::Ok, "allowed".to_owned())
        }
        Tried::Allowed => (Status::Ok, "allowed (not needed)".to_owned()),
        Tried::Refused if !needed && op == Operation::ReadSchemas => (
            Status::Skip,
            format!("refused (403), not needed: {}", cost(op)),
        ),
        Tried::Refused => (status_if_refused, format!("refused (403): {}", cost(op))),
        Tried::Other(e) => (Status::Warn, format!("not known: {e}")),
        Tried::Untried => match schemas_allowed {
            // Both list only userAuth: a token refused the schemas is refused this too.
            Some(false) => {
                let status = if settings.identitynow.scim_source.is_some() {
                    Status::Warn
                } else {
                    Status::Skip
                };
                let note = if needed { "" } else { " (not needed)" };
                (
                    status,
                    format!(
                        "refused{note}, inferred without starting one (the token is not a \
                         user's: the schemas were refused): {}; {NEEDS_PAT}",
                        cost(op)
                    ),
                )
            }
            Some(true) => (
                Status::Ok,
                "not tried (that would start an aggregation); the token is a user's, so \
                 allowed when its user is ORG_ADMIN"
                    .to_owned(),
            ),
            None => (
                Status::Skip,
                "not tried (that would start an aggregation); needs a user's token with \
                 ORG_ADMIN"
                    .to_owned(),
            ),
        },
    };
    Line::new(status, NAME, format!("{label:<42} {detail}"))
}
