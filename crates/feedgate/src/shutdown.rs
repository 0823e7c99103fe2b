//! Waits for SIGINT (Ctrl-C) or SIGTERM, whichever comes first. The handlers are installed by
//! [`Signals::install`] before anything starts serving: a signal's default action kills the
//! process outright, so a SIGTERM that arrived between "serving" and the first wait for it (a
//! service manager stopping feedgate right after start) would skip the orderly shutdown.

/// Installed signal handlers; [`Signals::recv`] waits for the first signal.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Registers the handlers now (must run inside the runtime). A handler that cannot be
    /// installed is logged and never fires; the other still does.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let interrupt = signal(SignalKind::interrupt())
                .inspect_err(|err| tracing::warn!(error = %err, "cannot listen for ctrl-c"))
                .ok();
            let terminate = signal(SignalKind::terminate())
                .inspect_err(|err| tracing::warn!(error = %err, "cannot listen for SIGTERM"))
                .ok();
            Self {
                interrupt,
                terminate,
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for Ctrl-C or SIGTERM.
    pub async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => tracing::info!("ctrl-c received; shutting down"),
                () = next(self.terminate) => tracing::info!("SIGTERM received; shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %err, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received; shutting down");
        }
    }
}
