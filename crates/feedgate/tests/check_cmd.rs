//! `feedgate check` as a newcomer meets it: every problem in one report (not half in the log),
//! "configuration is valid" only when it is, the root cause of a network failure named, and a
//! non-zero exit whenever anything fails.

use std::process::{Command, Output};

/// Runs `feedgate check` with only the given variables (no `.env`: an empty working directory).
fn check(vars: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedgate"));
    cmd.arg("check")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FEEDGATE_DATA_DIR", dir.path().join("data"))
        .current_dir(dir.path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run feedgate check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, report)
}

#[test]
fn no_credentials_lists_every_problem_and_fails() {
    let (out, report) = check(&[]);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[0].starts_with("FAIL  ZERODHA_API_KEY is not set"),
        "{report}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warn  ZERODHA_API_SECRET is not set")),
        "the missing secret belongs in the report: {report}"
    );
    assert!(!report.contains("configuration is valid"), "{report}");
    assert!(
        report.contains("skip  the access token is not checked"),
        "{report}"
    );
    // (The warning count depends on the date: the calendar warns near the end of its year.)
    assert!(report.contains("not ready: 1 problem(s), "), "{report}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("ZERODHA_API_SECRET"),
        "findings go to the report, not the log"
    );
}

#[test]
fn invalid_settings_and_typos_are_all_reported() {
    let (out, report) = check(&[
        ("FEED_STALE_THRESHOLD", "soon"),
        ("FEEDGATE_BROKER", "upstox"),
        ("FEEDGATE_LISTN", "0.0.0.0:80"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("warn  unknown setting FEEDGATE_LISTN"),
        "{report}"
    );
    assert!(
        report.contains("FAIL  FEED_STALE_THRESHOLD=\"soon\""),
        "{report}"
    );
    assert!(
        report.contains("FAIL  FEEDGATE_BROKER=\"upstox\""),
        "{report}"
    );
}

#[test]
fn an_unreachable_broker_names_the_cause() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let api = format!("http://{addr}");
    let base = [
        ("ZERODHA_API_KEY", "k"),
        ("ZERODHA_API_SECRET", "s"),
        ("ZERODHA_ACCESS_TOKEN", "tok-s3cret"),
    ];
    let mut vars = base.to_vec();
    vars.push(("KITE_API_URL", &api));
    let (out, report) = check(&vars);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("ok    configuration is valid"), "{report}");
    assert!(
        report.contains(&format!("connection refused by {addr}")),
        "{report}"
    );

    let mut vars = base.to_vec();
    vars.push(("KITE_API_URL", "http://feedgate-test.invalid"));
    let (_, report) = check(&vars);
    assert!(
        report.contains("could not resolve host feedgate-test.invalid"),
        "{report}"
    );
    assert!(
        !report.contains("tok-s3cret"),
        "the token never appears: {report}"
    );
}

/// A clustered role: Redis answers (the round trip is reported) or does not (a problem naming
/// the URL with its password replaced).
#[test]
fn a_clustered_role_checks_that_redis_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("redis://:s3cret-pass@127.0.0.1:{port}/0");
    let shown = format!("redis://:***@127.0.0.1:{port}/0");
    let vars = [
        ("FEEDGATE_ROLE", "ingest"),
        ("FEEDGATE_REDIS_URL", url.as_str()),
        (
            "FEEDGATE_SECRET_KEY",
            "3f9c1b7e5a2d4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
        ),
    ];
    let (out, report) = check(&vars);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "FAIL  Redis at {shown} (FEEDGATE_REDIS_URL) does not answer"
        )),
        "{report}"
    );
    assert!(!report.contains("s3cret-pass"), "{report}");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            "s3cret-pass",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (scripts/setup-test-deps installs it)");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "redis-server starts"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (_, report) = check(&vars);
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(
        report.contains(&format!("ok    Redis at {shown} answers (")),
        "{report}"
    );
    assert!(
        report.contains("node ") && report.contains("role ingest"),
        "{report}"
    );
    assert!(!report.contains("s3cret-pass"), "{report}");
}
