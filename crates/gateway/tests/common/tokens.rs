//! The token file in the data directory: where it is, what it holds, and replacing it the way
//! a script would.

use super::Env;
use serde_json::Value;
use std::path::PathBuf;

/// `<broker>_token.json` in the data directory: where the gateway keeps the broker's token
/// unless told otherwise.
pub fn token_path(env: &Env) -> PathBuf {
    env.data_dir
        .path()
        .join(format!("{}_token.json", env.broker.name()))
}

/// The token file as the gateway wrote it (JSON), or `None` if there is none.
pub fn stored_token_file(env: &Env) -> Option<Value> {
    let text = std::fs::read_to_string(token_path(env)).ok()?;
    Some(serde_json::from_str(&text).expect("token file is JSON"))
}

/// The access token in the token file, if there is one.
pub fn stored_token(env: &Env) -> Option<String> {
    stored_token_file(env)?["access_token"]
        .as_str()
        .map(str::to_string)
}

/// Replaces the token file the way a script would: write a temporary file, rename it over.
pub fn drop_in_token_file(env: &Env, contents: &str) {
    let tmp = env
        .data_dir
        .path()
        .join(format!("{}_token.json.new", env.broker.name()));
    std::fs::write(&tmp, contents).expect("write token file");
    std::fs::rename(&tmp, token_path(env)).expect("rename token file");
}
