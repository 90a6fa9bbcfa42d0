//! One bounded read of the source's group entitlements, for `groupsync check`.
//!
//! [`Client::fetch_groups`] reads every page, which on a large source is many requests and
//! minutes; a configuration check only needs to know that the PAT may read entitlements,
//! that the filter and API version are accepted, and how many groups there are. So this
//! reads the first page exactly as a real run does (same request, same checks of each
//! entitlement) and reports `X-Total-Count` from it, and how a run will read the rest.

use super::Client;
use super::entitlements::{Cursor, Pages, Reading};
use super::error::IdnError;

/// What the first page said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPage {
    /// Entitlements on the page (at most `identitynow.page_size`).
    pub returned: usize,
    /// `X-Total-Count`: how many match in all, when the server said.
    pub total: Option<u64>,
    /// The first entitlement's name, to show that names are readable.
    pub sample: Option<String>,
    /// How a run will read the listing, decided as the run decides it from this page.
    pub reading: Reading,
}

impl Client {
    /// The first page of the source's group entitlements, as a real run asks for it.
    /// Errors are the same as [`Client::fetch_groups`]'s (403 names the missing scope).
    pub async fn first_page(&self, source_id: &str) -> Result<FirstPage, IdnError> {
        let page = self.entitlement_page(source_id, &Cursor::Offset(0)).await?;
        Ok(FirstPage {
            returned: page.entries.len(),
            total: page.total,
            reading: Reading::of(page.total, self.version()),
            sample: page
                .entries
                .into_iter()
                .find(|e| e.is_group)
                .map(|e| e.group.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use groupsync_sandbox::{AD_SOURCE_ID, OTHER_SOURCE_ID, Sandbox, SandboxOptions};

    /// The sandbox's configuration with these environment overrides.
    fn settings(sb: &Sandbox, overrides: &[(&str, &str)]) -> Settings {
        let env = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_toml_and_env(&sb.config_toml(), &env)
            .expect("the sandbox writes a valid configuration")
    }

    #[tokio::test]
    async fn reads_one_page_and_the_total() {
        let sb = Sandbox::start(SandboxOptions::seeded(30, 0, 3))
            .await
            .unwrap();
        let settings = settings(&sb, &[("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "7")]);
        let client = Client::new(&settings.identitynow).unwrap();
        let page = client.first_page(AD_SOURCE_ID).await.unwrap();
        assert_eq!((page.returned, page.total), (7, Some(30)));
        assert!(page.sample.is_some_and(|s| !s.is_empty()));
        let empty = client.first_page(OTHER_SOURCE_ID).await.unwrap();
        assert_eq!(
            (empty.returned, empty.total, empty.sample),
            (0, Some(0), None)
        );
        sb.stop().await;
    }

    #[tokio::test]
    async fn a_refused_token_is_an_error_not_an_empty_page() {
        let sb = Sandbox::start(SandboxOptions::seeded(5, 0, 3))
            .await
            .unwrap();
        let settings = settings(
            &sb,
            &[
                ("GROUPSYNC_IDENTITYNOW__CLIENT_SECRET", "wrong"),
                ("GROUPSYNC_IDENTITYNOW__MAX_RETRIES", "0"),
            ],
        );
        let client = Client::new(&settings.identitynow).unwrap();
        let err = client.first_page(AD_SOURCE_ID).await.unwrap_err();
        assert!(matches!(err, IdnError::BadCredentials { .. }), "{err}");
        sb.stop().await;
    }
}
