//! Received messages as a Maildir, so that any mail reader (or `ls` and `cat`) can read
//! them: one file per message, written into `tmp/` and then renamed into `new/`, so a
//! reader never sees half a message.

use super::ReceivedMail;
use super::session::HOSTNAME;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The three folders of a Maildir.
pub const FOLDERS: [&str; 3] = ["tmp", "new", "cur"];

/// Creates `dir` and its `tmp/`, `new/` and `cur/` (existing ones are kept).
pub fn create(dir: &Path) -> io::Result<()> {
    for folder in FOLDERS {
        std::fs::create_dir_all(dir.join(folder))?;
    }
    Ok(())
}

/// Writes `mail` into `dir/tmp/` and moves it to `dir/new/`; the path in `new/`.
pub async fn store(dir: &Path, mail: &ReceivedMail) -> io::Result<PathBuf> {
    let name = unique_name();
    let (tmp, new) = (dir.join("tmp").join(&name), dir.join("new").join(&name));
    tokio::fs::write(&tmp, file_text(mail)).await?;
    tokio::fs::rename(&tmp, &new).await?;
    Ok(new)
}

/// `<seconds>.M<microseconds>P<pid>Q<n>.<host>`: unique within this host, and in
/// arrival order when sorted by the seconds.
fn unique_name() -> String {
    static DELIVERIES: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.M{}P{}Q{}.{HOSTNAME}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        DELIVERIES.fetch_add(1, Ordering::Relaxed)
    )
}

/// The message as a Maildir file: a `Return-Path` with the envelope sender, then the
/// message with line ends as `\n`, as mail readers expect on disk.
fn file_text(mail: &ReceivedMail) -> String {
    let mut text = format!("Return-Path: <{}>\n", mail.mail_from);
    text.push_str(&mail.data.replace("\r\n", "\n"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_lands_in_new_and_tmp_is_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mail");
        create(&root).unwrap();
        let mail = ReceivedMail {
            mail_from: "a@example.com".into(),
            rcpt_to: vec!["b@example.com".into()],
            data: "Subject: hi\r\n\r\nline 1\r\nline 2".into(),
        };
        let first = store(&root, &mail).await.unwrap();
        let second = store(&root, &mail).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(first.parent(), Some(root.join("new").as_path()));
        assert_eq!(
            std::fs::read_to_string(&first).unwrap(),
            "Return-Path: <a@example.com>\nSubject: hi\n\nline 1\nline 2\n"
        );
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(root.join("cur")).unwrap().count(), 0);
    }
}
