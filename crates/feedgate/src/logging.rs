//! Tracing subscriber set-up: `FEEDGATE_LOG` is the filter (default `info`),
//! `FEEDGATE_LOG_FORMAT=json` switches to JSON lines. Logs go to stderr so stdout stays
//! machine-readable (`feedgate session` prints JSON there; `feedgate sim` its address).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("FEEDGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("FEEDGATE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
