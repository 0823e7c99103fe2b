//! `feedgate keys add|list|revoke` and the secure-by-default start, as users run them: the
//! key file's mode, a secret printed once and never listed, and `serve` on a reachable address
//! refusing to start without a key, saying how to add one.

use std::path::Path;
use std::process::{Command, Output};

fn feedgate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedgate"))
        .args(args)
        .env_clear()
        .env("FEEDGATE_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        // No `.env` of the developer's: a fresh working directory.
        .current_dir(dir)
        .output()
        .expect("run feedgate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The value after `label` on its line of `out`.
fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} in {out}"))
}

#[test]
fn keys_are_added_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = feedgate(
        dir.path(),
        &[
            "keys",
            "add",
            "desk",
            "--scope",
            "read",
            "--scope",
            "admin",
            "--max-connections",
            "3",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let id = field(&stdout, "KEY_ID");
    let secret = field(&stdout, "SECRET");
    assert!(id.starts_with("fgk_"), "{stdout}");
    assert_eq!(secret.len(), 64, "256 random bits in hex");
    let file = dir.path().join("data/keys.json");
    let stored = std::fs::read_to_string(&file).expect("keys.json");
    assert!(!stored.contains(&secret), "only a hash is stored");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600, "keys.json");
        assert_eq!(mode(&dir.path().join("data")), 0o700, "the data directory");
    }

    let out = feedgate(dir.path(), &["keys", "list"], &[]);
    let list = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        list.contains(&id) && list.contains("desk") && list.contains("read+admin"),
        "{list}"
    );
    assert!(!list.contains(&secret), "list never shows a secret: {list}");

    let bad = feedgate(dir.path(), &["keys", "add", "x", "--scope", "root"], &[]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("read, admin or orders"),
        "{}",
        text(&bad.stderr)
    );

    let out = feedgate(dir.path(), &["keys", "revoke", &id], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&feedgate(dir.path(), &["keys", "list"], &[]).stdout);
    assert!(!list.contains(&id), "{list}");
    let again = feedgate(dir.path(), &["keys", "revoke", &id], &[]);
    assert!(!again.status.success(), "revoking an unknown key fails");
}

#[test]
fn serve_on_a_reachable_address_without_a_key_refuses_and_says_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = feedgate(
        dir.path(),
        &["serve"],
        &[("FEEDGATE_LISTEN", "0.0.0.0:0"), ("ZERODHA_API_KEY", "k")],
    );
    assert!(!out.status.success(), "must not start");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("feedgate keys add NAME"), "{stderr}");
    assert!(stderr.contains("FEEDGATE_AUTH=off"), "{stderr}");
}
