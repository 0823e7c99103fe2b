//! Which browser origins and `Host` names feedgate answers (DESIGN.md §10). Pure decisions; the
//! middleware is `http::guard`.
//!
//! Hosts (DNS-rebinding defence): a request's `Host` must be an IP address literal (a rebinding
//! attack needs a name it controls, never a literal), `localhost` (or `*.localhost`), the host
//! of `FEEDGATE_PUBLIC_URL`, or the host of an origin in `FEEDGATE_ALLOWED_ORIGINS`; any other
//! name gets 421 Misdirected Request. Reaching feedgate under a DNS name (a container name,
//! a LAN name) therefore needs that name in `FEEDGATE_PUBLIC_URL` or the allowed origins.
//!
//! Origins: a browser request's `Origin` must be the page's own (its authority equals the
//! request's `Host`), the public URL's origin, or one of `FEEDGATE_ALLOWED_ORIGINS` (`*`: any).
//! No `Origin` header means a non-browser client, which is allowed.

use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Extra allowed origins, lower case, without a trailing `/`.
    allowed: Vec<String>,
    any: bool,
    /// The public URL's origin (`scheme://host[:port]`), lower case.
    public_origin: String,
    /// Host names (no port) besides literals and localhost.
    hosts: Vec<String>,
}

impl OriginPolicy {
    pub fn new(public_url: &str, allowed: &[String]) -> Self {
        let origin_of = |u: &str| {
            url::Url::parse(u)
                .ok()
                .map(|u| u.origin().ascii_serialization())
        };
        let host_of = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        };
        let hosts = std::iter::once(public_url)
            .chain(allowed.iter().map(String::as_str))
            .filter_map(host_of)
            .collect();
        Self {
            allowed: allowed
                .iter()
                .filter(|o| *o != "*")
                .filter_map(|o| origin_of(o))
                .collect(),
            any: allowed.iter().any(|o| o == "*"),
            public_origin: origin_of(public_url).unwrap_or_default(),
            hosts,
        }
    }

    /// Whether a request with this `Host` header value is for this gateway.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            // An IPv6 literal, `[::1]:8080`.
            Some(rest) => {
                return rest
                    .split(']')
                    .next()
                    .is_some_and(|ip| ip.parse::<IpAddr>().is_ok());
            }
            None => host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n),
        };
        let name = name.trim_end_matches('.');
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.hosts.iter().any(|h| h == name)
    }

    /// Whether a browser page at `origin` may use this gateway; `host` is the request's `Host`.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        if self.any || origin == self.public_origin || self.allowed.contains(&origin) {
            return true;
        }
        let authority = origin.split_once("://").map(|(_, a)| a);
        matches!((authority, host), (Some(a), Some(h)) if a == h.trim().to_ascii_lowercase())
    }

    /// Whether `origin` is allowed as a *cross*-origin caller (it gets CORS headers).
    pub fn cors_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        self.any || self.allowed.contains(&origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_literals_localhost_and_configured_names() {
        let p = OriginPolicy::new("https://feed.example.com", &["http://dash.lan:3000".into()]);
        for ok in [
            "127.0.0.1:8080",
            "10.1.2.3",
            "[::1]:8080",
            "localhost:8080",
            "app.localhost",
            "feed.example.com",
            "FEED.example.com.:443",
            "dash.lan:8080",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "feed.example.com.attacker.example:8080",
            "[evil]",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn origins_own_public_and_listed() {
        let p = OriginPolicy::new("https://feed.example.com", &["http://dash.lan:3000".into()]);
        assert!(
            p.origin_allowed("http://127.0.0.1:8080", Some("127.0.0.1:8080")),
            "same origin"
        );
        assert!(p.origin_allowed("https://feed.example.com", Some("10.0.0.1")));
        assert!(p.origin_allowed("http://dash.lan:3000", Some("127.0.0.1:8080")));
        assert!(p.cors_allowed("http://dash.lan:3000"));
        assert!(!p.origin_allowed("https://evil.example", Some("127.0.0.1:8080")));
        assert!(!p.origin_allowed("null", Some("127.0.0.1:8080")));
        assert!(
            !p.cors_allowed("https://feed.example.com"),
            "own origin needs no CORS"
        );
        let any = OriginPolicy::new("http://127.0.0.1:8080", &["*".into()]);
        assert!(any.origin_allowed("https://evil.example", None));
    }
}
