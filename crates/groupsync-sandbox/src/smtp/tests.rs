//! The sink over real TCP on 127.0.0.1, with lettre (the client groupsync uses) and
//! with a hand-driven client for the protocol corners.

use super::*;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A bound to every wait, so a broken sink fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

struct Running {
    sink: SmtpSink,
    port: u16,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Running {
    start_sink(SmtpSink::new()).await
}

async fn start_sink(sink: SmtpSink) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sink.clone().serve(listener, shutdown.clone()));
    Running {
        sink,
        port,
        shutdown,
        task: Some(task),
    }
}

impl Running {
    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let ended = tokio::time::timeout(PATIENCE, task).await;
            ended.expect("the sink stops").unwrap().unwrap();
        }
    }

    fn transport(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.port)
            .build()
    }

    async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        let waited = tokio::time::timeout(PATIENCE, self.sink.wait_for(n)).await;
        waited.expect("messages arrive")
    }

    async fn client(&self) -> (Client, String) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let (read, write) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(read),
            writer: write,
        };
        let greeting = client.reply().await;
        (client, greeting)
    }
}

/// A hand-driven SMTP client.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// One whole reply: lines up to the one with a space after the code.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn code(&mut self, line: &str) -> String {
        self.cmd(line).await.get(..3).unwrap_or("EOF").to_owned()
    }
}

fn notice(subject: &str, body: &str, encoding: Option<ContentTransferEncoding>) -> Message {
    let builder = Message::builder()
        .from("Groupsync <groupsync@example.com>".parse().unwrap())
        .to("Équipe Données <data-team@example.com>".parse().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    match encoding {
        Some(encoding) => builder.header(encoding).body(body.to_owned()),
        None => builder.body(body.to_owned()),
    }
    .unwrap()
}

#[tokio::test]
async fn lettre_utf8_subject_and_body_decode_back_exactly() {
    let sandbox = start().await;
    let subject = "Groupe créé dans Alation : « R&D \"Core\" \\ Ops » — équipe données 😀 \
                   avec un sujet assez long pour être coupé en plusieurs mots encodés";
    let body = "Bonjour,\n\nLe groupe « R&D \"Core\" » a été créé. 😀\n\
                .une ligne qui commence par un point\n..et deux\n.\nFin\n";
    let encodings = [
        None,
        Some(ContentTransferEncoding::QuotedPrintable),
        Some(ContentTransferEncoding::Base64),
        Some(ContentTransferEncoding::EightBit),
    ];
    let transport = sandbox.transport();
    for encoding in &encodings {
        transport
            .send(notice(subject, body, *encoding))
            .await
            .unwrap();
    }
    let mails = sandbox.wait_for(encodings.len()).await;
    for (mail, encoding) in mails.iter().zip(&encodings) {
        assert_eq!(mail.subject().as_deref(), Some(subject), "{encoding:?}");
        assert_eq!(mail.body_text(), body, "{encoding:?}: {}", mail.data);
        assert_eq!(mail.mail_from, "groupsync@example.com");
        assert_eq!(mail.rcpt_to, ["data-team@example.com"]);
        let to = mail.header("to").unwrap();
        assert!(
            to.contains("Équipe Données") && to.contains("<data-team@example.com>"),
            "{to}"
        );
    }
    assert!(mails[1].data.contains("quoted-printable") && mails[2].data.contains("base64"));
    sandbox.stop().await;
}

#[tokio::test]
async fn dots_are_unstuffed() {
    let sandbox = start().await;
    let raw = "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n. \r\nend";
    let envelope = Envelope::new(
        Some("a@example.com".parse().unwrap()),
        vec!["b@example.com".parse().unwrap()],
    )
    .unwrap();
    sandbox
        .transport()
        .send_raw(&envelope, raw.as_bytes())
        .await
        .unwrap();

    let (mut client, _) = sandbox.client().await;
    for line in ["EHLO t", "MAIL FROM:<a@x>", "RCPT TO:<b@x>", "DATA"] {
        client.cmd(line).await;
    }
    let stuffed = "Subject: by hand\r\n\r\n..hidden\r\n...\r\n.\r\n";
    client.writer.write_all(stuffed.as_bytes()).await.unwrap();
    assert_eq!(&client.reply().await[..3], "250");

    let mails = sandbox.wait_for(2).await;
    assert_eq!(mails[0].data, raw);
    assert_eq!(mails[1].data, "Subject: by hand\r\n\r\n.hidden\r\n..");
    sandbox.stop().await;
}

#[tokio::test]
async fn two_messages_on_one_connection_and_protocol_errors() {
    let sandbox = start().await;
    let (mut client, greeting) = sandbox.client().await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert_eq!(client.code("MAIL FROM:<a@x>").await, "503");
    let ehlo = client.cmd("EHLO tester").await;
    for extension in ["250-8BITMIME", "250-SMTPUTF8", "250-AUTH PLAIN LOGIN"] {
        assert!(ehlo.contains(extension), "{ehlo}");
    }
    assert_eq!(client.code("RCPT TO:<b@x>").await, "503");
    assert_eq!(client.code("DATA").await, "503");
    assert_eq!(client.code("WHATEVER").await, "500");
    assert_eq!(client.code(&"x".repeat(5000)).await, "500");
    assert_eq!(client.code("NOOP").await, "250");
    for (i, subject) in ["first", "second"].iter().enumerate() {
        assert_eq!(client.code("MAIL FROM:<a@x>").await, "250");
        assert_eq!(client.code(&format!("RCPT TO:<r{i}@x>")).await, "250");
        assert_eq!(client.code("DATA").await, "354");
        assert_eq!(
            client
                .code(&format!("Subject: {subject}\r\n\r\nbody\r\n."))
                .await,
            "250"
        );
    }
    assert_eq!(client.code("MAIL FROM:<a@x>").await, "250");
    assert_eq!(client.code("RSET").await, "250");
    assert_eq!(
        client.code("RCPT TO:<b@x>").await,
        "503",
        "RSET ended the transaction"
    );
    assert_eq!(client.code("QUIT").await, "221");
    assert_eq!(client.reply().await, "", "closed after QUIT");

    let mails = sandbox.sink.messages();
    let subjects: Vec<Option<String>> = mails.iter().map(ReceivedMail::subject).collect();
    assert_eq!(subjects, [Some("first".into()), Some("second".into())]);
    assert_eq!(mails[1].rcpt_to, ["r1@x"]);
    sandbox.stop().await;
}

#[tokio::test]
async fn refusing_makes_lettre_fail_until_it_is_lifted() {
    let sandbox = start().await;
    let message = || notice("down?", "text", None);

    sandbox.sink.set_refusing(true);
    let err = sandbox.transport().send(message()).await.unwrap_err();
    assert!(err.is_transient(), "421 is a transient failure: {err}");

    sandbox.sink.set_refusing(false);
    let (mut client, _) = sandbox.client().await;
    for line in ["EHLO t", "MAIL FROM:<a@x>", "RCPT TO:<b@x>"] {
        client.cmd(line).await;
    }
    sandbox.sink.set_refusing(true);
    assert_eq!(client.code("DATA").await, "451");
    sandbox.sink.set_refusing(false);

    sandbox.transport().send(message()).await.unwrap();
    assert_eq!(sandbox.wait_for(1).await.len(), 1);
    assert_eq!(
        sandbox.sink.messages().len(),
        1,
        "nothing was kept while refusing"
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn a_refused_login_and_a_connection_dropped_mid_message_keep_nothing() {
    let sandbox = start().await;
    sandbox.sink.set_fault(Some(SmtpFault::RefuseAuth));
    let (mut client, _) = sandbox.client().await;
    client.cmd("EHLO t").await;
    assert_eq!(client.code("AUTH PLAIN AGEAYg==").await, "535");
    assert_eq!(client.code("auth login").await, "535");

    sandbox.sink.set_fault(Some(SmtpFault::DropInData));
    let (mut client, _) = sandbox.client().await;
    for line in ["EHLO t", "MAIL FROM:<a@x>", "RCPT TO:<b@x>"] {
        client.cmd(line).await;
    }
    assert_eq!(client.code("DATA").await, "354");
    assert_eq!(
        client.code("Subject: cut").await,
        "EOF",
        "closed without a reply"
    );

    sandbox.sink.set_fault(None);
    sandbox
        .transport()
        .send(notice("healed", "text", None))
        .await
        .unwrap();
    assert_eq!(sandbox.wait_for(1).await.len(), 1);
    assert_eq!(sandbox.sink.messages().len(), 1, "only the healed one");
    sandbox.stop().await;
}

#[tokio::test]
async fn many_connections_at_once_with_credentials() {
    let sandbox = start().await;
    let waiter = {
        let sink = sandbox.sink.clone();
        tokio::spawn(async move { sink.wait_for(12).await.len() })
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sandbox.port)
        .credentials(Credentials::new("user".into(), "any password".into()))
        .build();
    let sends = (0..12).map(|i| transport.send(notice(&format!("n{i}"), "x", None)));
    for result in futures_util::future::join_all(sends).await {
        result.unwrap();
    }
    let waited = tokio::time::timeout(PATIENCE, waiter)
        .await
        .expect("waiter wakes");
    assert!(waited.unwrap() >= 12);
    let mut subjects: Vec<String> = sandbox
        .sink
        .messages()
        .iter()
        .filter_map(ReceivedMail::subject)
        .collect();
    subjects.sort();
    let mut want: Vec<String> = (0..12).map(|i| format!("n{i}")).collect();
    want.sort();
    assert_eq!(subjects, want);
    assert_eq!(sandbox.sink.wait_for(0).await.len(), 12);
    sandbox.stop().await;
}

#[tokio::test]
async fn read_line_caps_memory_and_strips_line_ends() {
    let input: &[u8] = b"short\r\nbare lf\n0123456789abcdef\nok\npartial";
    let mut reader = BufReader::with_capacity(4, input);
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    loop {
        let read = read_line(&mut reader, &mut buf, 12).await.unwrap();
        assert!(buf.len() <= 12);
        if read == LineRead::Eof {
            break;
        }
        lines.push((read, String::from_utf8(buf.clone()).unwrap()));
    }
    let want = [
        (LineRead::Line, "short"),
        (LineRead::Line, "bare lf"),
        (LineRead::TooLong, ""),
        (LineRead::Line, "ok"),
    ];
    let got: Vec<(LineRead, &str)> = lines.iter().map(|(r, l)| (*r, l.as_str())).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn with_a_maildir_every_message_is_a_file_in_new_before_it_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mail");
    let s = start_sink(SmtpSink::with_maildir(root.clone()).unwrap()).await;
    for n in 1..=2 {
        let message = Message::builder()
            .from("groupsync <g@example.com>".parse().unwrap())
            .to("iam@example.com".parse().unwrap())
            .subject(format!("notice {n}"))
            .body(format!("body {n}"))
            .unwrap();
        s.transport().send(message).await.unwrap();
    }
    let mut files: Vec<_> = std::fs::read_dir(root.join("new"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    files.sort_by_key(|text| text.contains("notice 2"));
    assert_eq!(files.len(), 2);
    assert!(
        files[0].starts_with("Return-Path: <g@example.com>\n"),
        "{}",
        files[0]
    );
    assert!(files[0].contains("Subject: notice 1\n"), "{}", files[0]);
    assert!(!files[0].contains('\r'));
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_eq!(s.sink.maildir(), Some(root.as_path()));
    let listed: Vec<_> = s.sink.messages().iter().map(|m| m.to_json()).collect();
    assert_eq!(listed[1]["subject"], "notice 2");
    s.stop().await;
}
