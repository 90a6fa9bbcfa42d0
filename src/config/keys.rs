//! Every configuration key the code reads, as `section.key`, for documentation checks.
//!
//! The list is read from serde's own "unknown field, expected one of …" message for the
//! raw configuration (which refuses unknown keys), so it cannot drift from the code: a
//! field added to a section shows up here without anyone remembering to list it.

use super::raw::RawSettings;

/// The sections, then each section's keys: `identitynow.tenant_url`, `scim.token`, …
/// in the order the code declares them.
pub fn known_keys() -> Vec<String> {
    accepted("zz_not_a_key = 1\n")
        .into_iter()
        .flat_map(|section| {
            let probe = format!("[{section}]\nzz_not_a_key = 1\n");
            accepted(&probe)
                .into_iter()
                .map(move |key| format!("{section}.{key}"))
        })
        .collect()
}

/// The names serde lists as expected when `probe` holds an unknown key.
fn accepted(probe: &str) -> Vec<String> {
    let Err(err) = toml::from_str::<RawSettings>(probe) else {
        return vec![];
    };
    let message = err.to_string();
    let Some(list) = message.split("expected").nth(1) else {
        return vec![];
    };
    list.lines()
        .next()
        .unwrap_or_default()
        .replace("one of", "")
        .replace(" or ", ",")
        .split(',')
        .map(|k| k.trim().trim_matches('`').trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_and_its_keys_are_listed() {
        let keys = known_keys();
        for key in [
            "identitynow.tenant_url",
            "identitynow.client_secret_file",
            "scim.base_url",
            "email.to",
            "sync.create_concurrency",
            "log.level",
            "server.listen",
            "trigger.timezone",
            "webhook.max_body_kib",
            "poll.interval_secs",
            "store.path",
            "store.retention_days",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        let sections: std::collections::BTreeSet<&str> =
            keys.iter().filter_map(|k| k.split('.').next()).collect();
        assert_eq!(sections.len(), 11, "{sections:?}");
        assert!(keys.iter().all(|k| k.matches('.').count() == 1), "{keys:?}");
    }
}
