//! `groupsync demo`: the whole job on the built-in sandbox, twice.
//!
//! The first pass creates the groups the target lacks and sends a notice; the second finds
//! them all and creates nothing. Both summaries and the messages the SMTP sink received
//! are printed.

use super::{out, summary};
use crate::config::LogFormat;
use crate::report::RunStatus;
use crate::sync::{Quiet, RunRequest, Syncer, TriggerKind};
use clap::Args;
use groupsync_sandbox::{Sandbox, SandboxOptions};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of generated AD groups.
    #[arg(long, default_value_t = 300)]
    groups: usize,
    /// How many already exist in the target.
    #[arg(long, default_value_t = 40)]
    existing: usize,
    /// Email mode for the demo: digest or per_group.
    #[arg(long, default_value = "digest")]
    mode: String,
}

pub async fn run(args: DemoArgs, log_format: LogFormat) -> ExitCode {
    crate::telemetry::init(log_format, "warn");
    let opts = SandboxOptions::seeded(args.groups, args.existing.min(args.groups), 7);
    let sb = match Sandbox::start(opts).await {
        Ok(sb) => sb,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return ExitCode::from(1);
        }
    };
    let code = demo(&sb, &args).await.unwrap_or_else(|code| code);
    sb.stop().await;
    code
}

/// The demo's exit status; `Err` when stdout could not be written.
async fn demo(sb: &Sandbox, args: &DemoArgs) -> Result<ExitCode, ExitCode> {
    out::line(format_args!(
        "sandbox: identitynow {}  scim {}  smtp {}",
        sb.idn_url(),
        sb.scim_url(),
        sb.smtp_addr
    ))?;
    let settings = match crate::config::Settings::from_toml_and_env(
        &sb.config_toml(),
        &[("GROUPSYNC_EMAIL__MODE".to_string(), args.mode.clone())].into(),
    ) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let store = match crate::store::Store::in_memory() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let syncer = match Syncer::new(settings, store) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut ok = true;
    for pass in ["first", "second"] {
        let before = sb.smtp.messages().len();
        let req = RunRequest::new([TriggerKind::Demo], false);
        let report = syncer.run(&req, &Quiet).await;
        out::line(format_args!("\n== {pass} pass =="))?;
        let limit = summary::Limit {
            groups: 12,
            where_all: "in a real run, groupsync executions show",
        };
        out::print(summary::render(&report, Some(limit)))?;
        ok &= report.status() == RunStatus::Succeeded;
        let mail = sb.smtp.messages();
        out::line(format_args!(
            "-- {} received by the SMTP sink --",
            crate::report::count(mail.len() - before, "message")
        ))?;
        for m in &mail[before..] {
            out::print(mail_text(m))?;
        }
    }
    out::line(format_args!(
        "SCIM server now holds {}",
        summary::groups(sb.scim.groups().len())
    ))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A received message, its body cut after 20 lines.
fn mail_text(m: &groupsync_sandbox::smtp::ReceivedMail) -> String {
    let mut text = format!(
        "To: {}\nSubject: {}\n",
        m.rcpt_to.join(", "),
        m.subject().unwrap_or_default()
    );
    let body = m.body_text();
    let lines: Vec<&str> = body.trim_end().lines().collect();
    for line in lines.iter().take(20) {
        text += line;
        text.push('\n');
    }
    if lines.len() > 20 {
        text += &format!("[… {} more lines]\n", lines.len() - 20);
    }
    text.push('\n');
    text
}
