//! The "Account Aggregation Completed" event trigger (`idn:account-aggregation-completed`):
//! a FIRE_AND_FORGET POST of the trigger input to a subscriber, optionally with the Basic
//! or Bearer credentials the subscription was configured with.

use super::catalog::{SourceEntry, timestamp};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a subscriber gets to answer; the documented window for triggers is 10 s.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The statuses the trigger input's schema allows.
pub const STATUSES: [&str; 3] = ["Success", "Failed", "Terminated"];

/// The trigger input (every field the schema marks required), for an aggregation that
/// ended at `completed` with `status`.
pub fn payload(entry: &SourceEntry, status: &str, completed: DateTime<Utc>) -> Value {
    let scanned = entry.groups.len();
    let failed = status != "Success";
    json!({
        "source": { "type": "SOURCE", "id": entry.source.id, "name": entry.source.name },
        "status": status,
        "started": timestamp(&(completed - TimeDelta::seconds(14))),
        "completed": timestamp(&completed),
        "errors": if failed { vec![format!("Aggregation {status}")] } else { Vec::new() },
        "warnings": [],
        "stats": {
            "scanned": scanned,
            "unchanged": if failed { 0 } else { scanned },
            "changed": 0,
            "added": 0,
            "removed": 0,
        },
    })
}

/// POSTs `body` to `url`; the subscriber's HTTP status, or why there was none.
pub async fn deliver(url: &str, body: &Value, authorization: Option<&str>) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut request = client.post(url).json(body);
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("delivery to {url} failed: {e}"))?;
    Ok(response.status().as_u16())
}
