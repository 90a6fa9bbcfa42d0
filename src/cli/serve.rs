//! `groupsync serve`: bind `server.listen`, run the daemon until SIGTERM or SIGINT.

use crate::config::Settings;
use crate::daemon;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn run(settings: Arc<Settings>) -> ExitCode {
    let listen = settings.server.listen;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen} (server.listen): {e}");
            return ExitCode::from(1);
        }
    };
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        on_signal.cancel();
    });
    match daemon::serve(listener, settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (daemon::DaemonError::Setup(_) | daemon::DaemonError::Store(_))) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Waits for SIGINT or SIGTERM (Kubernetes and systemd send SIGTERM).
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
