use super::*;
use secrecy::ExposeSecret;

const MINIMAL: &str = r#"
[identitynow]
tenant_url = "https://acme.api.identitynow.com"
client_id = "cid"
client_secret = "s3cret-idn"
source_id = "abc"
[scim]
base_url = "https://acme.alationcloud.com/scim/v2"
token = "s3cret-scim"
[email]
smtp_url = "smtp://127.0.0.1:2525"
from = "groupsync@example.com"
to = ["a@example.com"]
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, LoadError> {
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_toml_and_env(text, &env)
}

fn key_of(err: LoadError) -> String {
    match err {
        LoadError::Invalid(e) => e.key,
        other => panic!("expected a validation error, got {other}"),
    }
}

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let s = load(MINIMAL, &[]).unwrap();
    assert_eq!(s.identitynow.api_version, ApiVersion::V2025);
    // Every entitlement of the source is read; the group type decides (AD and Entra ID alike).
    assert_eq!(s.identitynow.entitlement_filter, None);
    assert_eq!(s.sync.max_name_length, None);
    assert_eq!(s.identitynow.page_size, 250);
    assert_eq!(s.identitynow.source, SourceRef::Id("abc".into()));
    assert_eq!(
        s.scim.base_url.as_str(),
        "https://acme.alationcloud.com/scim/v2/"
    );
    let smtp = s.email.smtp.unwrap();
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.tls),
        ("127.0.0.1", 2525, SmtpTls::StartTls)
    );
    assert_eq!(s.email.mode, EmailMode::Digest);
    assert_eq!(s.sync.create_concurrency, 8);
}

#[test]
fn environment_overrides_the_file() {
    let s = load(
        MINIMAL,
        &[
            ("GROUPSYNC_SCIM__TOKEN", "from-env"),
            ("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "100"),
            ("GROUPSYNC_EMAIL__TO", "x@example.com, y@example.com"),
            ("GROUPSYNC_EMAIL__MODE", "per_group"),
            ("GROUPSYNC_CONFIG", "ignored: not a key"),
        ],
    )
    .unwrap();
    match s.scim.auth {
        Credentials::Bearer(t) => assert_eq!(t.expose_secret(), "from-env"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(s.identitynow.page_size, 100);
    assert_eq!(s.email.smtp.unwrap().to.len(), 2);
    assert_eq!(s.email.mode, EmailMode::PerGroup);
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "file-token\n").unwrap();
    let text = MINIMAL.replace(
        r#"token = "s3cret-scim""#,
        &format!("token_file = {:?}", path.to_str().unwrap()),
    );
    let s = load(&text, &[]).unwrap();
    match s.scim.auth {
        Credentials::Bearer(t) => assert_eq!(t.expose_secret(), "file-token"),
        other => panic!("unexpected {other:?}"),
    }
    let both = format!("{MINIMAL}\n").replace(
        "[email]",
        &format!("token_file = {:?}\n[email]", path.to_str().unwrap()),
    );
    assert_eq!(key_of(load(&both, &[]).unwrap_err()), "scim.token");
    let missing = text.replace(path.to_str().unwrap(), "/nonexistent/token");
    assert_eq!(key_of(load(&missing, &[]).unwrap_err()), "scim.token_file");
}

#[test]
fn errors_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"tenant_url = "https://acme.api.identitynow.com""#,
            r#"tenant_url = "not a url""#,
            "identitynow.tenant_url",
        ),
        (r#"client_id = "cid""#, "", "identitynow.client_id"),
        (
            r#"client_secret = "s3cret-idn""#,
            "",
            "identitynow.client_secret",
        ),
        (r#"source_id = "abc""#, "", "identitynow.source_id"),
        (
            r#"source_id = "abc""#,
            "source_id = \"abc\"\nsource_name = \"AD\"",
            "identitynow.source_id",
        ),
        (
            r#"source_id = "abc""#,
            "source_id = \"abc\"\napi_version = \"v3\"",
            "identitynow.api_version",
        ),
        (
            r#"source_id = "abc""#,
            "source_id = \"abc\"\npage_size = 251",
            "identitynow.page_size",
        ),
        (r#"token = "s3cret-scim""#, "", "scim.token"),
        (
            r#"token = "s3cret-scim""#,
            "auth = \"basic\"",
            "scim.username",
        ),
        (r#"token = "s3cret-scim""#, "auth = \"oauth\"", "scim.auth"),
        (
            r#"smtp_url = "smtp://127.0.0.1:2525""#,
            r#"smtp_url = "http://x""#,
            "email.smtp_url",
        ),
        (
            r#"from = "groupsync@example.com""#,
            r#"from = "not an address""#,
            "email.from",
        ),
        (r#"to = ["a@example.com"]"#, "to = []", "email.to"),
        (
            r#"to = ["a@example.com"]"#,
            "to = [\"a@example.com\"]\nmode = \"weekly\"",
            "email.mode",
        ),
    ];
    for (from, to, key) in cases {
        assert!(MINIMAL.contains(from), "{from}");
        let err = load(&MINIMAL.replace(from, to), &[]).unwrap_err();
        let text = err.to_string();
        assert_eq!(key_of(err), *key, "replacing {from:?} by {to:?}");
        assert!(text.contains(key), "{text}");
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_with_their_name() {
    let err = load(
        &MINIMAL
            .replace("[sync]", "")
            .replace("[email]", "[sync]\nconcurrency = 3\n[email]"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("concurrency"), "{err}");
    let err = load(MINIMAL, &[("GROUPSYNC_SCIM__TOKN", "x")]).unwrap_err();
    assert!(err.to_string().contains("tokn"), "{err}");
    let err = load(MINIMAL, &[("GROUPSYNC_IDENTITYNOW__PAGE_SIZE", "many")]).unwrap_err();
    assert!(err.to_string().contains("page_size"), "{err}");
}

#[test]
fn email_can_be_disabled() {
    let text = MINIMAL.replace("[email]", "[email]\nenabled = false");
    assert!(load(&text, &[]).unwrap().email.smtp.is_none());
}

#[test]
fn secrets_never_show_in_debug_output() {
    let s = load(MINIMAL, &[]).unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
}

/// The field names a section accepts, read from serde's own "expected one of" message so
/// the list cannot drift from the code.
fn accepted_keys(section: &str) -> Vec<String> {
    let probe = format!("[{section}]\nzz_not_a_key = 1\n");
    let err = toml::from_str::<raw::RawSettings>(&probe)
        .unwrap_err()
        .to_string();
    let list = err
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    let list = list
        .lines()
        .next()
        .unwrap_or_default()
        .replace("one of", "")
        .replace(" or ", ",");
    list.split(',')
        .map(|k| {
            k.trim()
                .trim_matches(|c: char| c == '`' || c.is_whitespace())
                .to_owned()
        })
        .filter(|k| !k.is_empty())
        .collect()
}

#[test]
fn the_example_documents_every_key_and_only_real_keys() {
    let example = include_str!("../../config/groupsync.example.toml");
    // With every optional line switched on, the example must still be accepted key by key.
    let all_on: String = example
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest.to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    toml::from_str::<raw::RawSettings>(&all_on).expect("every documented key exists");
    let mut section = String::new();
    let mut documented: Vec<String> = vec![];
    for line in all_on.lines() {
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').to_owned();
        } else if let Some((k, _)) = line.split_once(" = ") {
            documented.push(format!("{section}.{}", k.trim()));
        }
    }
    for section in [
        "identitynow",
        "scim",
        "email",
        "sync",
        "log",
        "server",
        "trigger",
        "webhook",
        "poll",
        "store",
    ] {
        let keys = accepted_keys(section);
        assert!(
            keys.len() >= 2,
            "could not read the keys of [{section}]: {keys:?}"
        );
        for key in keys {
            let full = format!("{section}.{key}");
            assert!(
                documented.contains(&full),
                "{full} is not in config/groupsync.example.toml"
            );
        }
    }
    // And the example as shipped (placeholders only) passes validation.
    load(example, &[]).expect("the example validates");
}

#[test]
fn daemon_sections_validate_with_their_key() {
    let with = |extra: &str| load(&format!("{MINIMAL}\n{extra}"), &[]);
    let s = with("[trigger]\nschedule = \"*/15 * * * *\"\ntimezone = \"Europe/Berlin\"").unwrap();
    let sched = s.trigger.schedule.unwrap();
    assert_eq!(sched.timezone, chrono_tz::Europe::Berlin);
    assert!(
        with("[trigger]\nschedule = \"0 */5 * * * *\"")
            .unwrap()
            .trigger
            .schedule
            .is_some()
    );
    assert_eq!(
        key_of(with("[trigger]\nschedule = \"every hour\"").unwrap_err()),
        "trigger.schedule"
    );
    assert_eq!(
        key_of(with("[trigger]\ntimezone = \"Mars/Olympus\"").unwrap_err()),
        "trigger.timezone"
    );
    assert_eq!(
        key_of(with("[server]\nlisten = \"localhost\"").unwrap_err()),
        "server.listen"
    );
    assert_eq!(
        key_of(with("[sync]\ntarget_lookup = \"bulk\"").unwrap_err()),
        "sync.target_lookup"
    );
    assert_eq!(
        with("[sync]\ntarget_lookup = \"listing\"")
            .unwrap()
            .sync
            .target_lookup,
        TargetLookup::Listing
    );
    let defaults = with("").unwrap().sync;
    assert_eq!(defaults.target_lookup, TargetLookup::Auto);
    assert_eq!(
        (defaults.listing_threshold, defaults.listing_page_size),
        (100, 500)
    );
    assert_eq!(
        key_of(with("[sync]\nlisting_page_size = 0").unwrap_err()),
        "sync.listing_page_size"
    );
    assert_eq!(
        key_of(with("[webhook]\nenabled = true").unwrap_err()),
        "webhook.token"
    );
    assert_eq!(
        key_of(with("[webhook]\nenabled = true\nauth = \"none\"").unwrap_err()),
        "webhook.auth"
    );
    let s =
        with("[webhook]\nenabled = true\nauth = \"none\"\nallow_unauthenticated = true").unwrap();
    assert!(matches!(s.webhook.auth, Some(WebhookAuth::None)));
    assert_eq!(
        key_of(with("[poll]\nenabled = true\ninterval_secs = 1").unwrap_err()),
        "poll.interval_secs"
    );
    let s = load(MINIMAL, &[]).unwrap();
    assert!(s.webhook.auth.is_none() && s.poll.interval.is_none() && s.trigger.schedule.is_none());
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(s.store.retention_days, 90);
}

/// `MINIMAL` with the credential keys of `section` (`scim` or `webhook`) set to `lines`.
fn with_credentials(section: &str, lines: &str) -> Result<Settings, LoadError> {
    match section {
        "scim" => load(&MINIMAL.replace(r#"token = "s3cret-scim""#, lines), &[]),
        _ => load(
            &format!("{MINIMAL}\n[{section}]\nenabled = true\n{lines}"),
            &[],
        ),
    }
}

#[test]
fn scim_and_webhook_credentials_are_read_alike() {
    let credentials = |section: &str, settings: Settings| match section {
        "scim" => settings.scim.auth,
        _ => match settings.webhook.auth {
            Some(WebhookAuth::Credentials(c)) => c,
            other => panic!("expected webhook credentials, got {other:?}"),
        },
    };
    for section in ["scim", "webhook"] {
        let bearer = with_credentials(section, "token = \"t0ken\"").unwrap();
        match credentials(section, bearer) {
            Credentials::Bearer(t) => assert_eq!(t.expose_secret(), "t0ken"),
            other => panic!("{section}: expected bearer, got {other:?}"),
        }
        let basic = "auth = \"basic\"\nusername = \"svc\"\npassword = \"pw\"";
        match credentials(section, with_credentials(section, basic).unwrap()) {
            Credentials::Basic { username, password } => {
                assert_eq!((username.as_str(), password.expose_secret()), ("svc", "pw"))
            }
            other => panic!("{section}: expected basic, got {other:?}"),
        }
        let cases = [
            ("auth = \"bearer\"", "token"),
            ("token = \"\"", "token"),
            ("auth = \"basic\"\npassword = \"pw\"", "username"),
            ("auth = \"basic\"\nusername = \"svc\"", "password"),
            (
                "auth = \"basic\"\nusername = \"svc\"\npassword = \"pw\"\npassword_file = \"pw\"",
                "password",
            ),
            ("token_file = \"/nonexistent/token\"", "token_file"),
            ("auth = \"oauth\"", "auth"),
        ];
        for (lines, key) in cases {
            let err = with_credentials(section, lines).unwrap_err();
            assert_eq!(
                key_of(err),
                format!("{section}.{key}"),
                "{section}: {lines}"
            );
        }
    }
    let scim = with_credentials("scim", "auth = \"oauth\"").unwrap_err();
    assert!(
        scim.to_string()
            .contains("must be `bearer` or `basic`, got \"oauth\""),
        "{scim}"
    );
    let webhook = with_credentials("webhook", "auth = \"oauth\"").unwrap_err();
    assert!(
        webhook
            .to_string()
            .contains("must be `bearer`, `basic` or `none`, got \"oauth\""),
        "{webhook}"
    );
    let scim_none = with_credentials("scim", "auth = \"none\"").unwrap_err();
    assert_eq!(key_of(scim_none), "scim.auth");
}

/// The file, line and column of a load error, and its message.
fn place_of(err: &LoadError) -> (Place, String) {
    match err {
        LoadError::Syntax { place, .. } | LoadError::Key { place, .. } => {
            (place.clone(), err.to_string())
        }
        other => panic!("expected an error with its place, got {other}"),
    }
}

fn at(line: usize, column: usize) -> Place {
    Place::File {
        file: "groupsync.toml".into(),
        line,
        column,
    }
}

fn load_named(text: &str) -> LoadError {
    Settings::from_named_toml_and_env("groupsync.toml", text, &HashMap::new()).unwrap_err()
}

#[test]
fn a_syntax_error_names_the_line_and_column_but_never_shows_the_line() {
    let text = MINIMAL.replace(r#"token = "s3cret-scim""#, r#"token = "s3cret\qscim""#);
    let (place, message) = place_of(&load_named(&text));
    assert_eq!(place, at(9, 17));
    assert!(message.starts_with("groupsync.toml:9:17: "), "{message}");
    assert!(message.contains("backslash"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    // An unclosed string: the parser's message would be about the value; it is not echoed.
    let text = MINIMAL.replace(r#"token = "s3cret-scim""#, r#"token = "s3cret-scim"#);
    let (place, message) = place_of(&load_named(&text));
    assert!(matches!(place, Place::File { line: 9, .. }), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn an_unknown_key_names_its_place_and_the_closest_key() {
    let text = MINIMAL.replace("[scim]", "page_sise = 100\n[scim]");
    let err = load_named(&text);
    let (place, message) = place_of(&err);
    assert_eq!(place, at(7, 1));
    assert!(
        message.contains(
            "`identitynow.page_sise`: unknown key; did you mean `identitynow.page_size`?"
        ),
        "{message}"
    );
    // The same name in the wrong section points to the right one.
    let err = load_named(&format!("{MINIMAL}[sync]\npage_size = 100\n"));
    assert!(
        err.to_string()
            .contains("did you mean `identitynow.page_size`?"),
        "{err}"
    );
    let err = load_named(&format!("{MINIMAL}[emial]\nenabled = false\n"));
    assert!(err.to_string().contains("did you mean `[email]`?"), "{err}");
    // Nothing close: no suggestion.
    let err = load_named(&format!("{MINIMAL}[sync]\nwhatever_this_is = 1\n"));
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn a_wrong_type_is_refused_with_the_key_and_the_expected_type() {
    let text = MINIMAL.replace(
        r#"source_id = "abc""#,
        "source_id = \"abc\"\npage_size = \"250\"",
    );
    let (place, message) = place_of(&load_named(&text));
    assert_eq!(place, at(7, 13));
    assert!(
        message.ends_with(
            "configuration key `identitynow.page_size`: expected an integer, got a string \"250\""
        ),
        "{message}"
    );
    let text = MINIMAL.replace("[email]", "[email]\nenabled = \"no\"");
    assert!(
        load_named(&text)
            .to_string()
            .contains("`email.enabled`: expected a boolean")
    );
    // A secret of the wrong type: its value is never shown.
    let text = MINIMAL.replace(r#"token = "s3cret-scim""#, "token = 73310");
    let message = load_named(&text).to_string();
    assert!(
        message.ends_with("`scim.token`: expected a string, got an integer"),
        "{message}"
    );
    assert!(!message.contains("73310"), "{message}");
}

#[test]
fn an_environment_override_is_read_as_the_type_its_key_takes() {
    let s = load(
        MINIMAL,
        &[
            ("GROUPSYNC_POLL__ENABLED", "true"),
            ("GROUPSYNC_POLL__INTERVAL_SECS", "600"),
            ("GROUPSYNC_SCIM__TOKEN", "12345"),
        ],
    )
    .unwrap();
    assert_eq!(s.poll.interval, Some(std::time::Duration::from_secs(600)));
    match s.scim.auth {
        Credentials::Bearer(t) => assert_eq!(t.expose_secret(), "12345"),
        other => panic!("unexpected {other:?}"),
    }
    let err = load(MINIMAL, &[("GROUPSYNC_SYNC__CREATE_CONCURRENCY", "four")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable GROUPSYNC_SYNC__CREATE_CONCURRENCY: configuration key \
         `sync.create_concurrency`: expected an integer, got \"four\""
    );
    let err = load(MINIMAL, &[("GROUPSYNC_POLL__ENABLED", "yes")]).unwrap_err();
    assert!(err.to_string().contains("expected a boolean"), "{err}");
    let err = load(MINIMAL, &[("GROUPSYNC_SYNC__PAGE_SIZE", "100")]).unwrap_err();
    assert!(
        err.to_string().contains("GROUPSYNC_SYNC__PAGE_SIZE")
            && err
                .to_string()
                .contains("did you mean `identitynow.page_size`?"),
        "{err}"
    );
}

#[test]
fn an_environment_string_that_looks_like_a_number_is_kept_as_written() {
    for token in ["0123", "1e3", "inf", "TRUE"] {
        let s = load(MINIMAL, &[("GROUPSYNC_SCIM__TOKEN", token)]).unwrap();
        match s.scim.auth {
            Credentials::Bearer(t) => assert_eq!(t.expose_secret(), token),
            other => panic!("unexpected {other:?}"),
        }
    }
    let s = load(
        MINIMAL,
        &[
            ("GROUPSYNC_POLL__ENABLED", "true"),
            ("GROUPSYNC_POLL__INTERVAL_SECS", " 0600 "),
        ],
    )
    .unwrap();
    assert_eq!(s.poll.interval, Some(std::time::Duration::from_secs(600)));
}

#[test]
fn a_missing_file_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groupsync.toml");
    let err = Settings::load_with_env(&path, true, &HashMap::new()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, LoadError::Missing { .. }), "{message}");
    for hint in [
        path.display().to_string().as_str(),
        "config/groupsync.example.toml",
        "groupsync sandbox --write-config",
        "--config",
        "GROUPSYNC_CONFIG",
    ] {
        assert!(message.contains(hint), "{hint} missing from {message}");
    }
    // Not required: a missing file is an empty one.
    let err = Settings::load_with_env(&path, false, &HashMap::new()).unwrap_err();
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
}

#[test]
fn the_store_alone_needs_no_complete_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groupsync.toml");
    let none = HashMap::new();
    // no file: the default store
    let store = StoreSettings::load_with_env(&path, &none).unwrap();
    assert_eq!(store.path, std::path::Path::new("data/groupsync.db"));
    // a file with only a store, which a run would refuse
    std::fs::write(&path, "[store]\npath = \"history/runs.db\"\n").unwrap();
    assert!(Settings::load_with_env(&path, true, &none).is_err());
    let store = StoreSettings::load_with_env(&path, &none).unwrap();
    assert_eq!(store.path, std::path::Path::new("history/runs.db"));
    // the environment still overrides the file
    let env = [(
        "GROUPSYNC_STORE__PATH".to_owned(),
        "elsewhere.db".to_owned(),
    )]
    .into();
    let store = StoreSettings::load_with_env(&path, &env).unwrap();
    assert_eq!(store.path, std::path::Path::new("elsewhere.db"));
    // a file that is not valid still says so
    std::fs::write(&path, "[store]\npth = \"x\"\n").unwrap();
    assert!(StoreSettings::load_with_env(&path, &none).is_err());
}

#[test]
fn plain_transport_with_credentials_is_refused_for_other_hosts() {
    let cases = [
        (
            "GROUPSYNC_IDENTITYNOW__TENANT_URL",
            "http://acme.example.com",
            "identitynow.allow_insecure_transport",
        ),
        (
            "GROUPSYNC_SCIM__BASE_URL",
            "http://10.0.0.7/scim/v2",
            "scim.allow_insecure_transport",
        ),
    ];
    for (var, url, key) in cases {
        let err = load(MINIMAL, &[(var, url)]).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
        assert_eq!(key_of(err), key);
        let section = key.split('.').next().unwrap().to_uppercase();
        let allow = format!("GROUPSYNC_{section}__ALLOW_INSECURE_TRANSPORT");
        assert!(load(MINIMAL, &[(var, url), (&allow, "true")]).is_ok());
    }
    for loopback in [
        "http://127.0.0.1:9000",
        "http://localhost:9000",
        "http://[::1]:9000",
    ] {
        let env = [
            ("GROUPSYNC_IDENTITYNOW__TENANT_URL", loopback),
            ("GROUPSYNC_SCIM__BASE_URL", loopback),
        ];
        assert!(load(MINIMAL, &env).is_ok(), "{loopback}");
    }
}

#[test]
fn smtp_without_tls_is_refused_only_with_a_password_to_another_host() {
    let remote = [
        ("GROUPSYNC_EMAIL__SMTP_URL", "smtp://mail.example.com:25"),
        ("GROUPSYNC_EMAIL__TLS", "none"),
    ];
    assert!(
        load(MINIMAL, &remote).is_ok(),
        "no credentials, nothing to leak"
    );
    let with_password = [
        remote[0],
        remote[1],
        ("GROUPSYNC_EMAIL__USERNAME", "relay"),
        ("GROUPSYNC_EMAIL__PASSWORD", "s3cret-smtp"),
    ];
    let err = load(MINIMAL, &with_password).unwrap_err();
    assert_eq!(key_of(err), "email.allow_insecure_transport");
    let allowed = [
        with_password.as_slice(),
        &[("GROUPSYNC_EMAIL__ALLOW_INSECURE_TRANSPORT", "true")],
    ]
    .concat();
    assert!(load(MINIMAL, &allowed).is_ok());
    let local = [
        ("GROUPSYNC_EMAIL__TLS", "none"),
        ("GROUPSYNC_EMAIL__USERNAME", "relay"),
        ("GROUPSYNC_EMAIL__PASSWORD", "s3cret-smtp"),
    ];
    assert!(load(MINIMAL, &local).is_ok(), "127.0.0.1 is this machine");
}

#[test]
fn the_dashboard_is_protected_by_default_and_the_old_key_still_reads() {
    let s = load(MINIMAL, &[]).unwrap();
    assert!(!s.server.public_dashboard);
    assert!(!s.server.deprecated_protect_dashboard);
    let public = load(MINIMAL, &[("GROUPSYNC_SERVER__PUBLIC_DASHBOARD", "true")]).unwrap();
    assert!(public.server.public_dashboard);
    let old = load(MINIMAL, &[("GROUPSYNC_SERVER__PROTECT_DASHBOARD", "false")]).unwrap();
    assert!(old.server.public_dashboard && old.server.deprecated_protect_dashboard);
    let old = load(MINIMAL, &[("GROUPSYNC_SERVER__PROTECT_DASHBOARD", "true")]).unwrap();
    assert!(!old.server.public_dashboard && old.server.deprecated_protect_dashboard);
    let both = [
        ("GROUPSYNC_SERVER__PROTECT_DASHBOARD", "true"),
        ("GROUPSYNC_SERVER__PUBLIC_DASHBOARD", "true"),
    ];
    assert_eq!(
        key_of(load(MINIMAL, &both).unwrap_err()),
        "server.protect_dashboard"
    );
}

#[test]
fn one_retry_after_cap_reaches_every_client() {
    let s = load(MINIMAL, &[]).unwrap();
    assert_eq!(s.sync.max_retry_after, Duration::from_secs(120));
    assert_eq!(s.sync.max_run, Duration::from_secs(3600));
    let s = load(MINIMAL, &[("GROUPSYNC_SYNC__MAX_RETRY_AFTER_SECS", "30")]).unwrap();
    assert_eq!(s.identitynow.retry.max_retry_after, Duration::from_secs(30));
    assert_eq!(s.scim.retry.max_retry_after, Duration::from_secs(30));
    assert_eq!(s.sync.max_retry_after, Duration::from_secs(30));
    let err = load(MINIMAL, &[("GROUPSYNC_SYNC__MAX_RETRY_AFTER_SECS", "0")]).unwrap_err();
    assert_eq!(key_of(err), "sync.max_retry_after_secs");
}

#[test]
fn scoping_patterns_and_the_token_expiry_are_checked_at_start_up() {
    let with = |extra: &str| load(&format!("{MINIMAL}{extra}"), &[]);
    let bad = with("[sync]\nexclude_names = [\"ok\", \"(open\"]\n").unwrap_err();
    let LoadError::Invalid(e) = bad else {
        panic!("expected a validation error")
    };
    assert_eq!(e.key, "sync.exclude_names[1]");
    assert!(e.problem.contains("\"(open\""), "{e}");
    let stripped = with("[sync]\nname_strip_prefix = \".*\"\n").unwrap_err();
    assert_eq!(key_of(stripped), "sync.name_strip_prefix");
    let s = with("[sync]\nname_prefix = \"AD-\"\ninclude_dns = [\".*,OU=Alation,.*\"]\n").unwrap();
    let kept = s.sync.scope.apply(&[crate::domain::SourceGroup {
        id: "1".into(),
        name: "Finance".into(),
        value: "CN=Finance,ou=alation,DC=corp".into(),
    }]);
    assert_eq!(kept.groups[0].name, "AD-Finance");

    // scim.token_expires_at: a date; the scim section is replaced to add the key.
    let scim = |extra: &str| {
        let text = MINIMAL.replace(
            "token = \"s3cret-scim\"",
            &format!("token = \"s3cret-scim\"\n{extra}"),
        );
        load(&text, &[])
    };
    let bad = scim("token_expires_at = \"next month\"").unwrap_err();
    assert_eq!(key_of(bad), "scim.token_expires_at");
    assert_eq!(
        key_of(scim("token_warn_days = 400").unwrap_err()),
        "scim.token_warn_days"
    );
    let s = scim("token_expires_at = \"2026-06-30T00:00:00Z\"").unwrap();
    let expiry = s.scim.token_expiry.unwrap();
    assert_eq!(
        (expiry.at.to_rfc3339().as_str(), expiry.warn_days),
        ("2026-06-30T00:00:00+00:00", 14)
    );
    assert!(load(MINIMAL, &[]).unwrap().scim.token_expiry.is_none());

    // scim.requests_per_second: optional, 1 or more.
    assert_eq!(load(MINIMAL, &[]).unwrap().scim.requests_per_second, None);
    let paced = scim("requests_per_second = 25").unwrap();
    assert_eq!(paced.scim.requests_per_second, Some(25));
    assert_eq!(
        key_of(scim("requests_per_second = 0").unwrap_err()),
        "scim.requests_per_second"
    );
}

#[test]
fn email_templates_are_checked_at_load_naming_the_key() {
    let with = |line: &str| {
        load(
            &MINIMAL.replace("[email]", &format!("[email]\n{line}")),
            &[],
        )
    };
    for (line, key, problem) in [
        (
            "subject_template = \"{{ group \"",
            "email.subject_template",
            "is not a valid template",
        ),
        (
            "body_template = \"{{ group }} {{ groups }}\"",
            "email.body_template",
            "(groups)",
        ),
        (
            "digest_subject_template = \"{{ group }}\"",
            "email.digest_subject_template",
            "(group)",
        ),
        (
            "digest_body_template = \"{% for g in failed_groups %}{{ g.error }}{% endfor %}\"",
            "email.digest_body_template",
            "cannot be rendered",
        ),
        (
            "summary_subject_template = \"{% if %}\"",
            "email.summary_subject_template",
            "is not a valid template",
        ),
        (
            "summary_body_template = \"{{ run }}\"",
            "email.summary_body_template",
            "(run)",
        ),
        (
            "subject_template = \"{{ source }}\"",
            "email.subject_template",
            "group",
        ),
    ] {
        let err = with(line).unwrap_err();
        let text = err.to_string();
        assert_eq!(key_of(err), key, "{line}");
        assert!(text.contains(problem), "{line}: {text}");
    }
    // today's single-brace form, the new form, and a template with no placeholder but the group
    for line in [
        "subject_template = \"[{source}] {group} {unknown}\"",
        "subject_template = \"{{ group|upper }}\"",
        "digest_body_template = \"{{ created }} {% for g in created_groups %}{{ g.name }}{% endfor %}\"",
        "body_template = \"Ticket {#1}: {group}\"",
    ] {
        assert!(with(line).is_ok(), "{line}: {:?}", with(line).err());
    }
}
