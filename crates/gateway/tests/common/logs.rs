//! Capturing what the gateway logs ([`Capture`]) and checking that no secret reaches a log line
//! or a response body ([`assert_no_secret`]).

use super::Env;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything logged through the subscriber it is installed in, as bytes.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Makes this capture the process-wide subscriber, with `filter` and no colours. Global
    /// (the binary installs a global subscriber too), so nothing on any thread escapes; it also
    /// forwards `log` records (tungstenite, reqwest), as `feedgate serve` does. Fails if this
    /// test binary has installed one already.
    pub fn install(
        &self,
        filter: tracing_subscriber::EnvFilter,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(self.clone())
            .with_ansi(false)
            .try_init()
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Logged lines that mention `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The most verbose filter `feedgate serve` can run with (`FEEDGATE_LOG=trace`): every level of
/// every crate, minus the directives the binary always adds for targets that print credentials.
pub fn everything_the_binary_may_log() -> tracing_subscriber::EnvFilter {
    let mut f = tracing_subscriber::EnvFilter::new("trace");
    for d in feedgate_gateway::model::secret::SECRET_LOG_DIRECTIVES {
        f = f.add_directive(d.parse().expect("a valid directive"));
    }
    f
}

/// Fails if any secret appears in `text`, showing the offending line with the secret masked.
pub fn assert_no_secret(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        if let Some(line) = text.lines().find(|l| l.contains(s.as_str())) {
            panic!(
                "{what} contains a secret: {}",
                line.replace(s.as_str(), "<SECRET>")
            );
        }
    }
}

/// What the gateway serves at each of `paths` (GET), to check for secrets.
pub async fn served_bodies(env: &Env, paths: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        out.push(env.get_text(path).await);
    }
    out
}
