//! The cluster section (DESIGN.md §9): `FEEDGATE_ROLE`, `FEEDGATE_REDIS_URL`, `FEEDGATE_NODE`,
//! `FEEDGATE_SECRET_KEY`. The Redis URL may carry a password, so it is kept as a secret and
//! shown only in its redacted form (in errors, logs and health alike); the secret key is never
//! shown at all.

use super::reader::Reader;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// What this process does in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One process, no Redis: today's gateway (the default).
    All,
    /// Candidate for leadership: holds the broker sockets while it leads.
    Ingest,
    /// Serves clients; never opens a broker socket.
    Edge,
    /// Both, in one process (still clustered: leads only while it holds the lock).
    IngestEdge,
}

impl Role {
    /// The name `FEEDGATE_ROLE` takes and health shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Edge => "edge",
            Role::IngestEdge => "ingest,edge",
        }
    }

    /// Takes part in a cluster through Redis.
    pub fn clustered(self) -> bool {
        self != Role::All
    }

    /// May hold the broker sockets (alone, or while leading).
    pub fn ingests(self) -> bool {
        self != Role::Edge
    }

    /// Serves clients as an edge of a cluster (and so publishes its demand).
    pub fn edges(self) -> bool {
        matches!(self, Role::Edge | Role::IngestEdge)
    }

    /// Parses `ingest`, `edge`, `all` or a comma list of `ingest` and `edge` (either order).
    fn parse(raw: &str) -> Option<Role> {
        let lower = raw.to_ascii_lowercase();
        let mut parts: Vec<&str> = lower
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        match parts.as_slice() {
            ["all"] => Some(Role::All),
            ["ingest"] => Some(Role::Ingest),
            ["edge"] => Some(Role::Edge),
            ["edge", "ingest"] => Some(Role::IngestEdge),
            _ => None,
        }
    }
}

/// `FEEDGATE_REDIS_URL`: the URL as given (a secret: it may hold the password) and its form
/// with the password replaced, for every log line and the health document.
#[derive(Clone)]
pub struct RedisUrl {
    url: SecretString,
    redacted: String,
}

impl RedisUrl {
    /// Parses `redis://[user][:password@]host[:port][/db]` or `rediss://…`; `None` when it is
    /// not such a URL.
    pub fn parse(raw: &str) -> Option<RedisUrl> {
        let mut url = url::Url::parse(raw).ok()?;
        let scheme_ok = matches!(url.scheme(), "redis" | "rediss");
        let host_ok = url.host_str().is_some_and(|h| !h.is_empty());
        let db = url.path().trim_start_matches('/');
        let db_ok = db.is_empty() || db.parse::<u16>().is_ok();
        if !(scheme_ok && host_ok && db_ok && url.query().is_none() && url.fragment().is_none()) {
            return None;
        }
        if url.password().is_some() && url.set_password(Some("***")).is_err() {
            return None;
        }
        Some(RedisUrl {
            url: SecretString::from(raw.to_string()),
            redacted: url.to_string(),
        })
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The URL as given, for the Redis client only.
    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// The cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `FEEDGATE_ROLE`.
    pub role: Role,
    /// `FEEDGATE_REDIS_URL`: required by every role but `all` (and ignored by it).
    pub redis: Option<RedisUrl>,
    /// `FEEDGATE_NODE`: this process's name in the cluster (default: the host name).
    pub node: String,
    /// `FEEDGATE_SECRET_KEY`: seals the broker token the nodes share through Redis; required
    /// by every role but `all` (and ignored by it), the same on every node of a cluster.
    pub secret_key: Option<SecretString>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            role: Role::All,
            redis: None,
            node: host_name(),
            secret_key: None,
        }
    }
}

/// The host name, or `feedgate` when the system has none to give.
fn host_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_string();
    if name.is_empty() {
        "feedgate".to_string()
    } else {
        name
    }
}

const ROLE: &str = "FEEDGATE_ROLE";
const REDIS: &str = "FEEDGATE_REDIS_URL";
const NODE: &str = "FEEDGATE_NODE";
const SECRET_KEY: &str = "FEEDGATE_SECRET_KEY";
/// The shortest secret key taken: 32 characters (`openssl rand -hex 32` makes 64).
pub const SECRET_KEY_MIN: usize = 32;

/// `FEEDGATE_ROLE`, `FEEDGATE_REDIS_URL`, `FEEDGATE_NODE`, `FEEDGATE_SECRET_KEY`.
pub(super) fn cluster(r: &mut Reader<'_>) -> ClusterConfig {
    let role = match r.raw(ROLE) {
        None => Role::All,
        Some(raw) => Role::parse(raw).unwrap_or_else(|| {
            r.fail(ROLE, raw, "all, ingest, edge or ingest,edge");
            Role::All
        }),
    };
    let redis = match r.raw(REDIS) {
        None => None,
        Some(raw) => {
            let parsed = RedisUrl::parse(raw);
            if parsed.is_none() {
                // The value may hold a password: show only its scheme and host part.
                r.fail(
                    REDIS,
                    &shown(raw),
                    "redis://[:password@]host[:port][/db] or rediss://… (TLS)",
                );
            }
            parsed
        }
    };
    if role.clustered() && redis.is_none() && r.raw(REDIS).is_none() {
        r.fail(
            REDIS,
            "",
            format!(
                "a Redis URL (redis://host:6379/0): {ROLE}={} needs Redis",
                role.as_str()
            ),
        );
    }
    let node = match r.raw(NODE) {
        None => host_name(),
        Some(n) if valid_node(n) => n.to_string(),
        Some(n) => {
            r.fail(
                NODE,
                n,
                "1 to 64 letters, digits, '.', '_' or '-' (the node's name in the cluster)",
            );
            host_name()
        }
    };
    let secret_key = secret_key(r, role);
    ClusterConfig {
        role,
        redis,
        node,
        secret_key,
    }
}

/// `FEEDGATE_SECRET_KEY`: a clustered role refuses to start without one, because the login
/// token the leader shares in Redis is sealed with it and a standby that cannot open it cannot
/// use the login after a failover. The value itself never appears in an error.
fn secret_key(r: &mut Reader<'_>, role: Role) -> Option<SecretString> {
    let raw = r.raw(SECRET_KEY);
    let how = "make one with `openssl rand -hex 32` and give every node of the cluster the same";
    match raw {
        _ if !role.clustered() => None,
        None => {
            r.fail(
                SECRET_KEY,
                "",
                format!(
                    "a secret key of at least {SECRET_KEY_MIN} characters: {ROLE}={} shares the broker login through Redis sealed with it, so that a standby can use the login after a failover; {how}",
                    role.as_str()
                ),
            );
            None
        }
        Some(v) if v.chars().count() < SECRET_KEY_MIN => {
            r.fail(
                SECRET_KEY,
                &format!("({} characters)", v.chars().count()),
                format!("at least {SECRET_KEY_MIN} characters; {how}"),
            );
            None
        }
        Some(v) => Some(SecretString::from(v.to_string())),
    }
}

/// A node name fits in a log field, a Redis value and a JSON string unescaped.
fn valid_node(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An invalid URL as an error may show it: anything between `://` and the last `@` (where a
/// password would be) is replaced.
fn shown(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &raw[..s], &raw[at..]),
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;
    use std::collections::BTreeMap;

    /// A secret key as `openssl rand -hex 32` makes one.
    const KEY: (&str, &str) = (
        "FEEDGATE_SECRET_KEY",
        "6b1f0e6c2a9d4e83b7c15f20a4d98e3c71b2f5a6c8d9e0f1a2b3c4d5e6f70819",
    );

    fn parse(pairs: &[(&str, &str)]) -> Result<ClusterConfig, String> {
        let vars: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayConfig::from_vars(&vars)
            .map(|c| c.cluster)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_default_is_one_process_without_redis() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.role, Role::All);
        assert!(c.redis.is_none());
        assert!(!c.node.is_empty());
        // `all` ignores a Redis URL rather than refusing it.
        let c = parse(&[("FEEDGATE_REDIS_URL", "redis://h:6379")]).unwrap();
        assert_eq!(c.role, Role::All);
    }

    #[test]
    fn roles_parse_in_any_order_and_case() {
        for (raw, want) in [
            ("all", Role::All),
            ("ingest", Role::Ingest),
            ("EDGE", Role::Edge),
            ("ingest,edge", Role::IngestEdge),
            ("edge, ingest", Role::IngestEdge),
            ("ingest,ingest", Role::Ingest),
        ] {
            let c = parse(&[
                ("FEEDGATE_ROLE", raw),
                ("FEEDGATE_REDIS_URL", "redis://h"),
                KEY,
            ]);
            assert_eq!(c.unwrap().role, want, "{raw}");
        }
        for bad in ["leader", "all,edge", "ingest;edge"] {
            let e =
                parse(&[("FEEDGATE_ROLE", bad), ("FEEDGATE_REDIS_URL", "redis://h")]).unwrap_err();
            assert!(e.contains("FEEDGATE_ROLE") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_clustered_role_needs_a_redis_url() {
        for role in ["ingest", "edge", "ingest,edge"] {
            let e = parse(&[("FEEDGATE_ROLE", role)]).unwrap_err();
            assert!(
                e.contains("FEEDGATE_REDIS_URL") && e.contains("needs Redis"),
                "{e}"
            );
        }
    }

    #[test]
    fn urls_are_checked_and_redacted() {
        let table = [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:s3cret@h:6380/2", "redis://:***@h:6380/2"),
            ("rediss://user:s3cret@h", "rediss://user:***@h"),
            ("redis://h", "redis://h"),
        ];
        for (raw, redacted) in table {
            let c = parse(&[
                ("FEEDGATE_ROLE", "ingest"),
                ("FEEDGATE_REDIS_URL", raw),
                KEY,
            ])
            .unwrap();
            let url = c.redis.unwrap();
            assert_eq!(url.redacted(), redacted);
            assert_eq!(url.expose(), raw);
            assert!(!format!("{url:?} {url}").contains("s3cret"));
        }
        for bad in [
            "http://h:6379",
            "redis://:s3cret@h:6379/x",
            "redis://",
            "h:6379",
            "redis://h/0?x=1",
        ] {
            let e =
                parse(&[("FEEDGATE_ROLE", "edge"), ("FEEDGATE_REDIS_URL", bad), KEY]).unwrap_err();
            assert!(e.contains("FEEDGATE_REDIS_URL"), "{e}");
            assert!(!e.contains("s3cret"), "the password leaked: {e}");
            assert!(!e.contains("needs Redis"), "one error per variable: {e}");
        }
    }

    #[test]
    fn a_clustered_role_needs_a_secret_key() {
        for role in ["ingest", "edge", "ingest,edge"] {
            let base = [("FEEDGATE_ROLE", role), ("FEEDGATE_REDIS_URL", "redis://h")];
            let e = parse(&base).unwrap_err();
            assert!(
                e.contains("FEEDGATE_SECRET_KEY")
                    && e.contains("openssl rand -hex 32")
                    && e.contains("failover"),
                "{e}"
            );
            let short = "0123456789abcdef0123456789abcde";
            let e = parse(&[base[0], base[1], ("FEEDGATE_SECRET_KEY", short)]).unwrap_err();
            assert!(e.contains("at least 32"), "{e}");
            assert!(!e.contains(short), "the key leaked: {e}");
            let c = parse(&[base[0], base[1], KEY]).unwrap();
            assert!(!format!("{c:?}").contains(KEY.1), "Debug shows the key");
            assert_eq!(c.secret_key.unwrap().expose_secret(), KEY.1);
        }
        // Role `all` never needs one (and ignores one given).
        assert!(parse(&[]).unwrap().secret_key.is_none());
        assert!(parse(&[KEY]).unwrap().secret_key.is_none());
    }

    #[test]
    fn node_names_are_checked() {
        let c = parse(&[("FEEDGATE_NODE", "ingest-1.eu")]).unwrap();
        assert_eq!(c.node, "ingest-1.eu");
        let e = parse(&[("FEEDGATE_NODE", "a b")]).unwrap_err();
        assert!(e.contains("FEEDGATE_NODE"), "{e}");
    }
}
