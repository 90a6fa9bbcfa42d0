//! Notices: composition rules, and delivery to a small SMTP listener on 127.0.0.1.

mod compose;
mod mailer;
mod once;
mod outbox;
