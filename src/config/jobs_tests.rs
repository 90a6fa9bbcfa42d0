//! `[[jobs]]`: inheritance from the top level, key by key, and each refusal.

use super::*;

const TOP: &str = r#"
[identitynow]
tenant_url = "https://acme.api.identitynow.com"
client_id = "cid"
client_secret = "s3cret-idn"
source_id = "ad-us"
entitlement_filter = "attribute eq \"memberOf\""
[scim]
base_url = "https://us.alationcloud.com/scim/v2"
token = "s3cret-scim"
[email]
smtp_url = "smtp://127.0.0.1:2525"
from = "groupsync@example.com"
to = ["a@example.com"]
[sync]
name_prefix = "AD_"
[safety]
max_create_percent = 20
"#;

fn load(text: &str) -> Result<Settings, LoadError> {
    Settings::from_toml_and_env(text, &Default::default())
}

fn refusal(text: &str) -> (String, String) {
    match load(text) {
        Err(LoadError::Invalid(e)) => (e.key, e.problem),
        Err(LoadError::Key { key, problem, .. }) => (key, problem),
        Err(other) => panic!("expected a refusal naming a key, got {other}"),
        Ok(_) => panic!("expected a refusal"),
    }
}

fn two_jobs(extra: &str) -> String {
    format!(
        r#"{TOP}
[[jobs]]
name = "us"

[[jobs]]
name = "eu"
[jobs.identitynow]
source_name = "AD EU"
[jobs.scim]
base_url = "https://eu.alationcloud.com/scim/v2"
[jobs.sync]
name_suffix = "_EU"
{extra}"#
    )
}

#[test]
fn without_jobs_there_is_one_job_called_default() {
    let s = load(TOP).unwrap();
    assert_eq!(s.job, "default");
    assert_eq!(s.all_jobs().len(), 1);
    assert!(!s.several_jobs());
    assert_eq!(
        s.all_jobs()[0].identitynow.source,
        SourceRef::Id("ad-us".into())
    );
}

#[test]
fn a_job_inherits_every_section_and_overrides_key_by_key() {
    let s = load(&two_jobs("")).unwrap();
    assert!(s.several_jobs());
    assert_eq!(s.job, "us");
    assert_eq!(s.job_names(), "us, eu");
    let us = s.job_named("us").unwrap();
    assert_eq!(us.identitynow.source, SourceRef::Id("ad-us".into()));
    assert_eq!(
        us.scim.base_url.as_str(),
        "https://us.alationcloud.com/scim/v2/"
    );
    let eu = s.job_named("eu").unwrap();
    // source_name replaces the inherited source_id rather than clashing with it
    assert_eq!(eu.identitynow.source, SourceRef::Name("AD EU".into()));
    assert_eq!(eu.identitynow.client_id, "cid");
    assert_eq!(
        eu.identitynow.entitlement_filter.as_deref(),
        Some("attribute eq \"memberOf\"")
    );
    assert_eq!(
        eu.scim.base_url.as_str(),
        "https://eu.alationcloud.com/scim/v2/"
    );
    // the token is inherited, the rest of [sync] too
    assert_eq!(eu.safety.max_create_percent, 20);
    assert_eq!(eu.email.smtp.as_ref().unwrap().to.len(), 1);
    let sample = crate::domain::SourceGroup {
        id: "e1".into(),
        name: "Finance".into(),
        value: "CN=Finance,OU=Groups,DC=acme".into(),
    };
    let names = |j: &Settings| {
        j.sync.scope.apply(std::slice::from_ref(&sample)).groups[0]
            .name
            .clone()
    };
    assert_eq!(names(us), "AD_Finance");
    assert_eq!(names(eu), "AD_Finance_EU");
    assert!(s.job_named("nope").is_none());
}

#[test]
fn the_environment_sets_the_top_level_and_a_job_still_wins() {
    let env = [
        (
            "GROUPSYNC_SAFETY__MAX_CREATE_PERCENT".to_owned(),
            "30".to_owned(),
        ),
        (
            "GROUPSYNC_SCIM__BASE_URL".to_owned(),
            "https://env.alationcloud.com/scim/v2".to_owned(),
        ),
    ]
    .into();
    let s = Settings::from_toml_and_env(&two_jobs(""), &env).unwrap();
    let (us, eu) = (s.job_named("us").unwrap(), s.job_named("eu").unwrap());
    assert_eq!(us.safety.max_create_percent, 30);
    assert_eq!(
        us.scim.base_url.as_str(),
        "https://env.alationcloud.com/scim/v2/"
    );
    assert_eq!(
        eu.scim.base_url.as_str(),
        "https://eu.alationcloud.com/scim/v2/"
    );
}

#[test]
fn a_job_file_secret_replaces_an_inherited_inline_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eu-token");
    std::fs::write(&path, "eu-token").unwrap();
    let text = two_jobs("").replace(
        "base_url = \"https://eu.alationcloud.com/scim/v2\"",
        &format!(
            "base_url = \"https://eu.alationcloud.com/scim/v2\"\ntoken_file = {:?}",
            path.display().to_string()
        ),
    );
    let s = load(&text).unwrap();
    let Credentials::Bearer(token) = &s.job_named("eu").unwrap().scim.auth else {
        panic!("a bearer token")
    };
    use secrecy::ExposeSecret;
    assert_eq!(token.expose_secret(), "eu-token");
}

#[test]
fn two_jobs_with_one_name_are_refused() {
    let text = two_jobs("").replace("name = \"us\"", "name = \"eu\"");
    let (key, problem) = refusal(&text);
    assert_eq!(key, "jobs.eu.name");
    assert!(problem.contains("two jobs are called \"eu\""), "{problem}");
}

#[test]
fn a_name_that_is_empty_or_not_lower_case_is_refused() {
    let (key, problem) = refusal(&two_jobs("").replace("name = \"us\"", "name = \"\""));
    assert_eq!(key, "jobs[0].name");
    assert!(problem.contains("required"), "{problem}");
    let (key, problem) = refusal(&two_jobs("").replace("name = \"us\"", "name = \"US east\""));
    assert_eq!(key, "jobs.US east.name");
    assert!(
        problem.contains("[a-z0-9_-]") || problem.contains("lower-case"),
        "{problem}"
    );
    let (key, _) = refusal(&two_jobs("").replace("name = \"us\"\n", ""));
    assert_eq!(key, "jobs[0].name");
}

#[test]
fn two_jobs_reading_one_source_into_one_target_are_refused() {
    let text = two_jobs("").replace(
        "[jobs.scim]\nbase_url = \"https://eu.alationcloud.com/scim/v2\"",
        "[jobs.scim]\nbase_url = \"https://us.alationcloud.com/scim/v2\"",
    );
    let text = text.replace("source_name = \"AD EU\"", "source_id = \"ad-us\"");
    let (key, problem) = refusal(&text);
    assert_eq!(key, "jobs.eu.scim.base_url");
    assert!(
        problem.contains("job \"us\" already reads the same source"),
        "{problem}"
    );
}

#[test]
fn an_unknown_key_in_a_job_is_refused_with_the_closest() {
    let text = two_jobs("").replace("name_suffix = \"_EU\"", "name_sufix = \"_EU\"");
    let (key, problem) = refusal(&text);
    assert_eq!(key, "jobs.eu.sync.name_sufix");
    assert!(
        problem.contains("did you mean `jobs.eu.sync.name_suffix`?"),
        "{problem}"
    );
    let (key, problem) = refusal(&format!(
        "{}\n[jobs.server]\nlisten = \"127.0.0.1:1\"\n",
        two_jobs("")
    ));
    assert_eq!(key, "jobs.eu.server");
    assert!(problem.contains("shared by every job"), "{problem}");
    let (key, problem) = refusal(&format!("{}\n[jobs.scm]\nbase_url = \"x\"\n", two_jobs("")));
    assert_eq!(key, "jobs.eu.scm");
    assert!(problem.contains("did you mean `scim`?"), "{problem}");
}

#[test]
fn a_wrong_type_or_invalid_value_in_a_job_names_the_job() {
    let text = two_jobs("").replace("name_suffix = \"_EU\"", "adopt = \"yes\"");
    let (key, problem) = refusal(&text);
    assert_eq!(key, "jobs.eu.sync.adopt");
    assert!(problem.contains("boolean"), "{problem}");
    let text = two_jobs("").replace("name_suffix = \"_EU\"", "target_lookup = \"sometimes\"");
    let (key, _) = refusal(&text);
    assert_eq!(key, "jobs.eu.sync.target_lookup");
}
