//! Tracing subscriber set-up: `FEEDGATE_LOG` is the filter (default `info`),
//! `FEEDGATE_LOG_FORMAT=json` switches to JSON lines. Logs go to stderr so stdout stays
//! machine-readable (`feedgate session` prints JSON there; `feedgate sim` its address).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let mut filter =
        EnvFilter::try_from_env("FEEDGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Targets that would print an access token (even at `FEEDGATE_LOG=trace`) stay silent.
    for d in feedgate_gateway::secret::SECRET_LOG_DIRECTIVES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
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
