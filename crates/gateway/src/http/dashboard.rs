//! The embedded web dashboard: the files under `web/` compiled into the binary and served byte
//! for byte at `/` (the page) and `/assets/…` (stylesheet, ES modules, icon) with their content
//! types, caching and security headers. Not the API the page talks to (the rest of [`crate::http`]):
//! no templating and no build step, the browser loads the modules as they are in the repository.
//!
//! Caching: every file is served with `Cache-Control: no-cache` and a strong `ETag` (a hash of
//! its bytes computed at compile time); a request whose `If-None-Match` matches gets `304 Not
//! Modified` and no body. This was chosen over content-hashed URLs with `immutable` caching:
//! the dashboard is a few small files served by a gateway on the same machine or network, so a
//! revalidation costs one tiny round trip, while hashed URLs would need `index.html` and every
//! `import` rewritten at build time. Revalidating also means a browser never mixes an old page
//! with new modules after feedgate is upgraded: the first load after an upgrade gets the new
//! files, every later one a `304`.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The page may load its own files and talk to its own origin (HTTP and WebSocket), nothing
/// else; no inline script or style, and no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
#[derive(Debug)]
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Strong validator: `"` + 16 hex digits of the body's FNV-1a hash + `"`.
    etag: &'static str,
}

const ETAG_LEN: usize = 18;

/// FNV-1a (64 bit) of `bytes`, as a quoted hex entity tag; `const` so it runs at compile time.
/// A cache validator, not a security measure: collisions only cost a missed update, and a
/// 64-bit hash of a handful of files makes even that vanishingly unlikely.
const fn etag_of(bytes: &[u8]) -> [u8; ETAG_LEN] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; ETAG_LEN];
    let mut d = 0;
    while d < 16 {
        out[1 + d] = HEX[((hash >> (60 - 4 * d)) & 0xf) as usize];
        d += 1;
    }
    out
}

/// An [`Asset`] for `web/$file` served at `$path`, with its tag computed at compile time.
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {{
        const BODY: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $file));
        const TAG: [u8; ETAG_LEN] = etag_of(BODY);
        Asset {
            path: $path,
            content_type: $content_type,
            body: BODY,
            etag: match core::str::from_utf8(&TAG) {
                Ok(tag) => tag,
                Err(_) => panic!("an entity tag is ASCII"),
            },
        }
    }};
}

/// Every file of the dashboard. A unit test checks that this list, `index.html` and the
/// modules' imports agree, so a new module cannot be forgotten here.
static ASSETS: [Asset; 20] = [
    asset!("/", "index.html", HTML),
    asset!("/assets/app.css", "app.css", CSS),
    asset!("/assets/favicon.svg", "favicon.svg", SVG),
    asset!("/assets/js/main.js", "js/main.js", JS),
    asset!("/assets/js/backoff.js", "js/backoff.js", JS),
    asset!("/assets/js/banner.js", "js/banner.js", JS),
    asset!("/assets/js/banner-model.js", "js/banner-model.js", JS),
    asset!("/assets/js/candles.js", "js/candles.js", JS),
    asset!("/assets/js/chart.js", "js/chart.js", JS),
    asset!("/assets/js/chart-scale.js", "js/chart-scale.js", JS),
    asset!("/assets/js/feed.js", "js/feed.js", JS),
    asset!("/assets/js/format.js", "js/format.js", JS),
    asset!("/assets/js/health.js", "js/health.js", JS),
    asset!("/assets/js/pager.js", "js/pager.js", JS),
    asset!("/assets/js/screener.js", "js/screener.js", JS),
    asset!("/assets/js/series.js", "js/series.js", JS),
    asset!("/assets/js/session.js", "js/session.js", JS),
    asset!("/assets/js/sparkline.js", "js/sparkline.js", JS),
    asset!("/assets/js/suggest.js", "js/suggest.js", JS),
    asset!("/assets/js/watchlist.js", "js/watchlist.js", JS),
];

/// The dashboard's routes: `/` and `/assets/…`, GET and HEAD. Stateless, so it merges into
/// any router.
pub fn router() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve(asset, &headers) }),
        )
    })
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, etag);
    if matches_etag(request, asset.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == HTML {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    (StatusCode::OK, headers, asset.body).into_response()
}

/// `If-None-Match` per RFC 9110 §13.1.2: `*`, or a list of tags compared weakly (a `W/` prefix
/// is ignored). A header that is not visible ASCII matches nothing.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    //! The gateway crate has no `tower` dependency, so instead of `ServiceExt::oneshot` these
    //! tests do what STYLE.md asks of server tests: start the real router on port 0 and speak
    //! HTTP/1.1 bytes to it (which also covers hyper's HEAD and 304 handling).

    use super::*;
    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web");

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    async fn start() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router()).await });
        addr
    }

    async fn request(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: feedgate.test\r\nConnection: close\r\n");
        for (name, value) in extra {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
            .await
            .expect("the server answers within the deadline")
            .unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        Reply {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn asset(path: &str) -> &'static Asset {
        ASSETS.iter().find(|a| a.path == path).unwrap()
    }

    #[tokio::test]
    async fn every_file_is_served_with_its_type_and_validators() {
        let addr = start().await;
        for a in &ASSETS {
            let r = request(addr, "GET", a.path, &[]).await;
            assert_eq!(r.status, 200, "{}", a.path);
            assert_eq!(r.header("content-type"), Some(a.content_type), "{}", a.path);
            assert_eq!(r.header("cache-control"), Some("no-cache"), "{}", a.path);
            assert_eq!(r.header("etag"), Some(a.etag), "{}", a.path);
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{}",
                a.path
            );
            assert_eq!(
                r.header("content-length"),
                Some(a.body.len().to_string().as_str())
            );
            assert_eq!(r.body, a.body, "{}", a.path);
        }
    }

    #[tokio::test]
    async fn the_page_carries_a_strict_content_security_policy() {
        let addr = start().await;
        let r = request(addr, "GET", "/", &[]).await;
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(
            !csp.contains("unsafe-inline"),
            "no inline script or style: {csp}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        let js = request(addr, "GET", "/assets/js/main.js", &[]).await;
        assert_eq!(
            js.header("content-security-policy"),
            None,
            "only documents need one"
        );
    }

    #[tokio::test]
    async fn if_none_match_revalidates_without_a_body() {
        let addr = start().await;
        let a = asset("/assets/app.css");
        let weak = format!("W/{}", a.etag);
        let listed = format!("\"0000000000000000\", {}", a.etag);
        let table: [(&str, u16); 6] = [
            (a.etag, 304),
            (&weak, 304),
            (&listed, 304),
            ("*", 304),
            ("\"0000000000000000\"", 200),
            ("garbage", 200),
        ];
        for (tag, status) in table {
            let r = request(addr, "GET", a.path, &[("If-None-Match", tag)]).await;
            assert_eq!(r.status, status, "If-None-Match: {tag}");
            assert_eq!(r.header("etag"), Some(a.etag), "If-None-Match: {tag}");
            assert_eq!(r.header("cache-control"), Some("no-cache"));
            if status == 304 {
                assert!(r.body.is_empty(), "a 304 has no body");
            } else {
                assert_eq!(r.body, a.body);
            }
        }
    }

    #[tokio::test]
    async fn head_answers_headers_only_and_other_methods_are_refused() {
        let addr = start().await;
        let a = asset("/");
        let head = request(addr, "HEAD", "/", &[]).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some(HTML));
        assert_eq!(head.header("etag"), Some(a.etag));
        assert!(head.body.is_empty());
        let post = request(addr, "POST", "/", &[("Content-Length", "0")]).await;
        assert_eq!(post.status, 405);
        let missing = request(addr, "GET", "/assets/js/nope.js", &[]).await;
        assert_eq!(missing.status, 404);
    }

    #[test]
    fn etags_are_quoted_hex_and_follow_the_content() {
        for a in &ASSETS {
            assert_eq!(a.etag.len(), ETAG_LEN);
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        // FNV-1a 64 reference values.
        assert_eq!(&etag_of(b""), b"\"cbf29ce484222325\"");
        assert_eq!(&etag_of(b"a"), b"\"af63dc4c8601ec8c\"");
        let tags: HashSet<_> = ASSETS.iter().map(|a| a.etag).collect();
        assert_eq!(tags.len(), ASSETS.len(), "distinct files, distinct tags");
    }

    /// Paths the page and its modules load: `src="/…"`/`href="/…"` in the HTML and
    /// `from './x.js'` in the modules.
    fn references() -> Vec<(String, String)> {
        let mut refs = Vec::new();
        let html = std::str::from_utf8(asset("/").body).unwrap();
        for attr in ["src=\"", "href=\""] {
            for piece in html.split(attr).skip(1) {
                let url = piece.split('"').next().unwrap();
                if url.starts_with("/assets/") {
                    refs.push(("index.html".to_string(), url.to_string()));
                }
            }
        }
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let src = std::str::from_utf8(a.body).unwrap();
            for piece in src.split("from './").skip(1) {
                let name = piece.split('\'').next().unwrap();
                refs.push((a.path.to_string(), format!("/assets/js/{name}")));
            }
        }
        refs
    }

    #[test]
    fn the_page_and_modules_only_load_embedded_files() {
        let served: HashSet<&str> = ASSETS.iter().map(|a| a.path).collect();
        let refs = references();
        assert!(
            refs.len() > ASSETS.len(),
            "the scan finds the imports: {refs:?}"
        );
        for (from, path) in &refs {
            assert!(
                served.contains(path.as_str()),
                "{from} loads {path}, which is not embedded"
            );
        }
    }

    #[test]
    fn every_file_in_web_is_embedded() {
        let served: HashSet<&str> = ASSETS.iter().map(|a| a.path).collect();
        let mut on_disk = vec![
            ("/assets/app.css".to_string(), format!("{WEB}/app.css")),
            (
                "/assets/favicon.svg".to_string(),
                format!("{WEB}/favicon.svg"),
            ),
        ];
        for entry in std::fs::read_dir(format!("{WEB}/js")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".js") {
                on_disk.push((format!("/assets/js/{name}"), format!("{WEB}/js/{name}")));
            }
        }
        for (path, file) in on_disk {
            assert!(served.contains(path.as_str()), "{file} is not in ASSETS");
            assert_eq!(asset(&path).body, std::fs::read(&file).unwrap(), "{file}");
        }
    }
}
