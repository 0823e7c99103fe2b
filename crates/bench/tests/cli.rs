//! The harness's command line answers and lists its scenarios. Also makes `cargo test` build
//! the harness binary with the test build's features, so the suite's bench smoke run reuses it
//! instead of rebuilding its dependencies with a second feature set.

use std::process::Command;

#[test]
fn help_lists_the_scenarios() {
    let out = Command::new(env!("CARGO_BIN_EXE_feedgate-bench"))
        .arg("--help")
        .output()
        .expect("run feedgate-bench --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for scenario in ["smoke", "chaos", "all"] {
        assert!(help.contains(scenario), "--help lacks {scenario}:\n{help}");
    }
}
