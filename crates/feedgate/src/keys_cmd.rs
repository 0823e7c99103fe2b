//! `feedgate keys add|list|revoke`: the keys of `FEEDGATE_DATA_DIR/keys.json` (DESIGN.md §10).
//! `add` prints the new key's id and secret once; only a hash of the secret is stored, so
//! `list` can show everything but the secret. A running gateway picks changes up by itself.

use crate::config_load;
use anyhow::Context;
use feedgate_gateway::access::keys::{self, KeySpec};
use feedgate_gateway::model::scope::{Scope, Scopes};
use secrecy::ExposeSecret;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// What `feedgate keys` was asked to do.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints KEY_ID and SECRET once.
    Add {
        /// A name for people (who or what uses the key).
        name: String,
        /// read, admin or orders; repeat for several (default: read).
        #[arg(long = "scope", value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// WebSocket connections this key may hold open at once.
        #[arg(long)]
        max_connections: Option<u32>,
        /// Instruments one of its connections may subscribe to (the smaller of this and
        /// FEEDGATE_MAX_SYMBOLS_PER_CLIENT applies).
        #[arg(long)]
        max_symbols: Option<u32>,
    },
    /// List the keys (never their secrets).
    List,
    /// Delete a key; clients using it are refused from then on.
    Revoke {
        /// The key's id (fgk_…).
        key_id: String,
    },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| format!("unknown scope {s:?}: use read, admin or orders"))
}

pub fn run(cmd: KeysCommand, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let vars = config_load::collect(config)?;
    let cfg = config_load::gateway_config(&vars)?;
    let path = cfg.data_dir.join(keys::FILE_NAME);
    let mut out = std::io::stdout().lock();
    match cmd {
        KeysCommand::Add {
            name,
            scopes,
            max_connections,
            max_symbols,
        } => {
            let scopes = if scopes.is_empty() {
                Scopes::NONE.with(Scope::Read)
            } else {
                scopes.into_iter().collect()
            };
            let spec = KeySpec {
                name,
                scopes,
                max_connections,
                max_symbols,
            };
            add(&path, &cfg.data_dir, spec, &mut out)
        }
        KeysCommand::List => list(&path, &mut out),
        KeysCommand::Revoke { key_id } => revoke(&path, &key_id, &mut out),
    }
}

fn add(path: &Path, dir: &Path, spec: KeySpec, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    feedgate_gateway::store::atomic::create_private_dir(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let mut all = keys::load(path)?;
    let new = keys::generate(spec, chrono::Utc::now());
    all.push(new.record.clone());
    keys::save(path, &all)?;
    let cred = new.credential.expose_secret();
    let secret = cred.split_once(':').map_or("", |(_, s)| s);
    writeln!(out, "KEY_ID  {}", new.record.id)?;
    writeln!(out, "SECRET  {secret}")?;
    writeln!(out, "scopes  {}", new.record.scopes)?;
    writeln!(
        out,
        "\nThe secret is shown only now. Present the key as `Authorization: Bearer {}:SECRET`,\n\
         ?api_key={}&access_token=SECRET on WebSockets, or sign in on the dashboard.\nStored (hashed) in {}",
        new.record.id,
        new.record.id,
        path.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn list(path: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let all = keys::load(path)?;
    if all.is_empty() {
        writeln!(
            out,
            "no keys in {} (add one with `feedgate keys add NAME --scope read`)",
            path.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let limit = |v: Option<u32>| v.map_or("-".to_string(), |n| n.to_string());
    writeln!(
        out,
        "{:<22} {:<20} {:<18} {:>9} {:>9}  created",
        "KEY_ID", "NAME", "SCOPES", "MAX_CONN", "MAX_SYMS"
    )?;
    for k in all {
        writeln!(
            out,
            "{:<22} {:<20} {:<18} {:>9} {:>9}  {}",
            k.id,
            k.name,
            k.scopes.to_string(),
            limit(k.max_connections),
            limit(k.max_symbols),
            k.created.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(path: &Path, key_id: &str, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let mut all = keys::load(path)?;
    let before = all.len();
    all.retain(|k| k.id != key_id);
    if all.len() == before {
        eprintln!(
            "feedgate: no key {key_id:?} in {} (see `feedgate keys list`)",
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    keys::save(path, &all).with_context(|| format!("cannot update {}", path.display()))?;
    writeln!(
        out,
        "revoked {key_id}; clients using it are refused from now on"
    )?;
    Ok(ExitCode::SUCCESS)
}
