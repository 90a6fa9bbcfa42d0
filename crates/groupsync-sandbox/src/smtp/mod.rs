//! A small real SMTP server that keeps every message it receives, so the notices
//! groupsync sends can be read back in tests and in the sandbox.
//!
//! Plain TCP, no TLS. It advertises `8BITMIME`, `SMTPUTF8` and `AUTH PLAIN LOGIN` (any
//! credentials pass), unstuffs dots, caps line length, takes several messages per
//! connection and many connections at once. [`SmtpSink::set_refusing`] simulates a
//! mail server that is down: 421 to new connections, 451 to `DATA`; [`SmtpSink::set_fault`]
//! one that refuses every login or drops the connection in the middle of a message.
//!
//! `session` is the protocol state machine, `mail` reads the stored messages back,
//! `maildir` also writes each one to a Maildir when the sink has one.

mod mail;
pub mod maildir;
mod session;
#[cfg(test)]
mod tests;

pub use mail::ReceivedMail;

use session::{HOSTNAME, MAX_LINE, Session};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A way the sink misbehaves, for testing what a sender does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpFault {
    /// `AUTH` is answered `535` (the credentials are refused).
    RefuseAuth,
    /// The connection is closed, without a reply, on the first line of a message's data.
    DropInData,
}

/// The sink; clones share the same mailbox.
#[derive(Clone, Default)]
pub struct SmtpSink {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    mails: Mutex<Vec<ReceivedMail>>,
    /// Woken on every delivery, for [`SmtpSink::wait_for`].
    arrived: Notify,
    refusing: AtomicBool,
    fault: Mutex<Option<SmtpFault>>,
    /// Where each message is also written, one file each.
    maildir: Option<PathBuf>,
}

impl SmtpSink {
    pub fn new() -> SmtpSink {
        SmtpSink::default()
    }

    /// A sink that also writes every message it receives to the Maildir `dir` (created
    /// with its `tmp/`, `new/` and `cur/` if missing) before acknowledging it.
    pub fn with_maildir(dir: PathBuf) -> io::Result<SmtpSink> {
        maildir::create(&dir)?;
        Ok(SmtpSink {
            inner: Arc::new(Inner {
                maildir: Some(dir),
                ..Inner::default()
            }),
        })
    }

    /// The Maildir messages are written to, if any.
    pub fn maildir(&self) -> Option<&std::path::Path> {
        self.inner.maildir.as_deref()
    }

    /// Accepts connections until `shutdown` is cancelled; open sessions are then told
    /// 421 and closed, and this returns once they are gone.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
        tracing::info!(addr = %listener.local_addr()?, "sandbox SMTP sink listening");
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let (sink, shutdown) = (self.clone(), shutdown.clone());
                    tracker.spawn(async move {
                        if let Err(e) = sink.connection(stream, shutdown).await {
                            tracing::debug!(%peer, error = %e, "SMTP connection ended with an error");
                        }
                    });
                }
                // Such errors (e.g. too many open files) concern one connection only.
                Err(e) => tracing::warn!(error = %e, "SMTP sink could not accept a connection"),
            }
        }
        tracker.close();
        tracker.wait().await;
        Ok(())
    }

    /// A snapshot of the messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.mails().clone()
    }

    /// Waits until at least `n` messages have arrived and returns them all. It waits
    /// as long as it takes: wrap it in `tokio::time::timeout` where that matters.
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the check, so a delivery in between is not missed.
            arrived.as_mut().enable();
            {
                let mails = self.mails();
                if mails.len() >= n {
                    return mails.clone();
                }
            }
            arrived.await;
        }
    }

    /// While true, new connections get 421 and `DATA` gets 451.
    pub fn set_refusing(&self, refuse: bool) {
        self.inner.refusing.store(refuse, Ordering::Relaxed);
    }

    /// Makes the sink misbehave as `fault` says from the next line on; `None` heals it.
    pub fn set_fault(&self, fault: Option<SmtpFault>) {
        *self
            .inner
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    fn fault(&self) -> Option<SmtpFault> {
        *self
            .inner
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn refusing(&self) -> bool {
        self.inner.refusing.load(Ordering::Relaxed)
    }

    /// The mailbox; every change is a single push, so a poisoned lock is taken over.
    fn mails(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.inner
            .mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `mail` (in the Maildir first, when there is one); an error means the message
    /// was not kept.
    async fn deliver(&self, mail: ReceivedMail) -> io::Result<()> {
        if let Some(dir) = &self.inner.maildir {
            let path = maildir::store(dir, &mail).await?;
            tracing::debug!(path = %path.display(), "SMTP sink wrote a message to the Maildir");
        }
        tracing::debug!(from = %mail.mail_from, recipients = mail.rcpt_to.len(), "SMTP sink received a message");
        self.mails().push(mail);
        self.inner.arrived.notify_waiters();
        Ok(())
    }

    async fn connection(self, stream: TcpStream, shutdown: CancellationToken) -> io::Result<()> {
        let (read, mut write) = stream.into_split();
        if self.refusing() {
            let bye = "421 4.3.2 Service not available, closing transmission channel\r\n";
            return write.write_all(bye.as_bytes()).await;
        }
        let greeting = format!("220 {HOSTNAME} ESMTP groupsync sandbox ready\r\n");
        write.write_all(greeting.as_bytes()).await?;
        let mut reader = BufReader::new(read);
        let mut session = Session::default();
        let mut line = Vec::new();
        loop {
            let read = tokio::select! {
                () = shutdown.cancelled() => {
                    return write.write_all(b"421 4.3.2 Shutting down\r\n").await;
                }
                read = read_line(&mut reader, &mut line, MAX_LINE) => read?,
            };
            match (self.fault(), read) {
                (Some(SmtpFault::DropInData), LineRead::Line | LineRead::TooLong)
                    if session.in_data() =>
                {
                    return Ok(());
                }
                (Some(SmtpFault::RefuseAuth), LineRead::Line)
                    if session.at_command() && is_auth(&line) =>
                {
                    let refused = "535 5.7.8 Authentication credentials invalid\r\n";
                    write.write_all(refused.as_bytes()).await?;
                    continue;
                }
                _ => {}
            }
            let step = match read {
                LineRead::Eof => return Ok(()),
                LineRead::TooLong => session.on_overlong_line(),
                LineRead::Line => session.on_line(&line, self.refusing()),
            };
            // Stored before the 250 goes out, so a client that saw success finds it.
            let mut reply = step.reply;
            if let Some(mail) = step.delivered
                && let Err(e) = self.deliver(mail).await
            {
                tracing::warn!(error = %e, "SMTP sink could not write a message to the Maildir");
                reply = Some("451 4.3.0 Cannot write the message to the Maildir".into());
            }
            if let Some(reply) = reply {
                write.write_all(format!("{reply}\r\n").as_bytes()).await?;
            }
            if step.close {
                return Ok(());
            }
        }
    }
}

/// Whether a command line is `AUTH …`.
fn is_auth(line: &[u8]) -> bool {
    line.len() >= 4
        && line[..4].eq_ignore_ascii_case(b"AUTH")
        && line.get(4).is_none_or(|b| *b == b' ')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineRead {
    /// `buf` holds the line without its line end.
    Line,
    /// The line was longer than the cap; it was read and dropped.
    TooLong,
    Eof,
}

/// Reads one line (ending in LF, an optional CR before it is removed), keeping at most
/// `cap` bytes in memory however long the line is. A partial line at EOF is dropped.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(LineRead::Eof);
        }
        let (chunk, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..=at], true),
            None => (available, false),
        };
        if !too_long && buf.len() + chunk.len() > cap {
            too_long = true;
            buf.clear();
        }
        if !too_long {
            buf.extend_from_slice(chunk);
        }
        let used = chunk.len();
        reader.consume(used);
        if complete {
            if too_long {
                return Ok(LineRead::TooLong);
            }
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
    }
}
