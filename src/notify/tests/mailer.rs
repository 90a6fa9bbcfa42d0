//! The mailer against a minimal SMTP listener written here: enough of RFC 5321 for lettre
//! (greeting, EHLO, MAIL, RCPT, DATA, NOOP, RSET, QUIT), recording what it receives.

use crate::config::{SmtpSettings, SmtpTls};
use crate::notify::mailer::message_id;
use crate::notify::{Mailer, Notice, NotifyError};
use crate::retry::{Classify, Disposition};
use secrecy::SecretString;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// One message as the listener received it.
#[derive(Debug, Default)]
pub(super) struct Received {
    /// The commands of the transaction (`MAIL FROM:…`, `RCPT TO:…`).
    commands: Vec<String>,
    /// The message (headers and body), with CRLF turned into LF.
    pub(super) data: String,
}

pub(super) struct FakeSmtp {
    pub(super) port: u16,
    received: mpsc::UnboundedReceiver<Received>,
    task: JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSmtp {
    /// Listens on 127.0.0.1; answers `rcpt_reply` to every `RCPT`.
    pub(super) async fn start(rcpt_reply: &'static str) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            // Sessions live in the set, so aborting this task ends them too.
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, rcpt_reply, tx.clone()));
            }
        });
        FakeSmtp {
            port,
            received,
            task,
        }
    }

    pub(super) async fn next(&mut self) -> Received {
        self.received.recv().await.unwrap()
    }
}

async fn session(
    stream: TcpStream,
    rcpt_reply: &'static str,
    tx: mpsc::UnboundedSender<Received>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 fake ESMTP\r\n").await?;
    let mut current = Received::default();
    while let Some(line) = lines.next_line().await? {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250-fake\r\n250 8BITMIME",
            "MAIL" | "RCPT" => {
                current.commands.push(line.clone());
                if verb == "RCPT" { rcpt_reply } else { "250 ok" }
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                while let Some(data) = lines.next_line().await? {
                    if data == "." {
                        break;
                    }
                    current.data.push_str(&data);
                    current.data.push('\n');
                }
                let _ = tx.send(std::mem::take(&mut current));
                "250 queued"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "250 ok",
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
    Ok(())
}

pub(super) fn smtp(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        credentials: None,
        from: "groupsync <groupsync@example.com>".parse().unwrap(),
        to: vec![
            "a@example.com".parse().unwrap(),
            "Team B <b@example.com>".parse().unwrap(),
        ],
        timeout: Duration::from_secs(5),
    }
}

fn notice(subject: &str) -> Notice {
    Notice {
        key: "run-1/exists/e 1".into(),
        subject: subject.into(),
        body: "The group HR already exists.\nNothing was created.".into(),
    }
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[tokio::test]
async fn one_message_reaches_every_recipient() {
    let mut server = FakeSmtp::start("250 ok").await;
    let mailer = Mailer::new(&smtp(server.port)).unwrap();
    mailer
        .send(&notice("Alation group HR already exists"))
        .await
        .unwrap();
    let got = server.next().await;
    assert_eq!(
        got.commands,
        [
            "MAIL FROM:<groupsync@example.com>",
            "RCPT TO:<a@example.com>",
            "RCPT TO:<b@example.com>",
        ]
    );
    assert_eq!(
        header(&got.data, "Subject"),
        Some("Alation group HR already exists")
    );
    assert_eq!(
        header(&got.data, "Message-ID"),
        Some("<run-1=2Fexists=2Fe=201@example.com>")
    );
    assert!(got.data.contains("Nothing was created."), "{}", got.data);
}

#[tokio::test]
async fn a_resent_notice_keeps_its_message_id() {
    let mut server = FakeSmtp::start("250 ok").await;
    let mailer = Mailer::new(&smtp(server.port)).unwrap();
    let n = notice("again");
    mailer.send(&n).await.unwrap();
    mailer.send(&n).await.unwrap();
    let (first, second) = (server.next().await, server.next().await);
    assert!(header(&first.data, "Message-ID").is_some());
    assert_eq!(
        header(&first.data, "Message-ID"),
        header(&second.data, "Message-ID")
    );
}

#[tokio::test]
async fn utf8_subjects_are_encoded_and_line_breaks_add_no_header() {
    let mut server = FakeSmtp::start("250 ok").await;
    let mailer = Mailer::new(&smtp(server.port)).unwrap();
    mailer.send(&notice("Équipe 🚀 existe")).await.unwrap();
    let subject = header(&server.next().await.data, "Subject")
        .unwrap()
        .to_owned();
    assert!(subject.to_lowercase().starts_with("=?utf-8?"), "{subject}");

    mailer
        .send(&notice("Ops\r\nBcc: evil@example.com"))
        .await
        .unwrap();
    let got = server.next().await;
    assert!(
        !got.data.lines().any(|l| l.starts_with("Bcc:")),
        "{}",
        got.data
    );
    assert!(!got.commands.iter().any(|c| c.contains("evil")));
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_later() {
    let server = FakeSmtp::start("451 try again later").await;
    let mailer = Mailer::new(&smtp(server.port)).unwrap();
    let e = mailer.send(&notice("x")).await.unwrap_err();
    assert_eq!(
        e.disposition(),
        Disposition::RetryLater { after: None },
        "{e}"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_given_up() {
    let server = FakeSmtp::start("550 no such user").await;
    let mailer = Mailer::new(&smtp(server.port)).unwrap();
    let e = mailer.send(&notice("x")).await.unwrap_err();
    assert_eq!(e.disposition(), Disposition::GiveUp, "{e}");
}

#[tokio::test]
async fn a_refused_connection_is_retried_later() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = Mailer::new(&smtp(port)).unwrap();
    let e = mailer.send(&notice("x")).await.unwrap_err();
    assert!(matches!(e, NotifyError::Smtp(_)), "{e}");
    assert_eq!(
        e.disposition(),
        Disposition::RetryLater { after: None },
        "{e}"
    );
    let e = mailer.test_connection().await.unwrap_err();
    assert_eq!(
        e.disposition(),
        Disposition::RetryLater { after: None },
        "{e}"
    );
}

#[tokio::test]
async fn test_connection_talks_to_the_server() {
    let server = FakeSmtp::start("250 ok").await;
    Mailer::new(&smtp(server.port))
        .unwrap()
        .test_connection()
        .await
        .unwrap();
}

#[test]
fn a_mailer_outside_a_runtime_is_an_error_not_a_panic() {
    let e = Mailer::new(&smtp(25)).unwrap_err();
    assert!(matches!(e, NotifyError::Setup(_)), "{e}");
}

#[tokio::test]
async fn the_password_stays_out_of_debug() {
    let mut s = smtp(25);
    s.tls = SmtpTls::StartTls;
    s.credentials = Some(("user".into(), SecretString::from("hunter2-pass")));
    let mailer = Mailer::new(&s).unwrap();
    assert!(!format!("{mailer:?}").contains("hunter2-pass"));
}

#[test]
fn message_ids_are_stable_and_valid() {
    let id = message_id("0190-ab/exists/x.y@z", "example.com");
    assert_eq!(id, "<0190-ab=2Fexists=2Fx=2Ey=40z@example.com>");
    assert_eq!(id, message_id("0190-ab/exists/x.y@z", "example.com"));
}

#[tokio::test]
async fn a_refused_login_keeps_the_notice_but_a_refused_message_does_not() {
    // 535 is what a relay answers to bad credentials: fixing them lets the notice go out.
    let server = FakeSmtp::start("535 authentication credentials invalid").await;
    let e = Mailer::new(&smtp(server.port))
        .unwrap()
        .send(&notice("x"))
        .await
        .unwrap_err();
    assert_eq!(e.disposition(), Disposition::GiveUp, "{e}");
    assert!(e.is_relay_problem(), "{e}");
    let server = FakeSmtp::start("550 no such user").await;
    let e = Mailer::new(&smtp(server.port))
        .unwrap()
        .send(&notice("x"))
        .await
        .unwrap_err();
    assert!(!e.is_relay_problem(), "{e}");
}
