//! Names the root cause of a failed network call in words an operator can act on ("could not
//! resolve host api.kite.trade", "connection refused by 127.0.0.1:9", "TLS: invalid peer
//! certificate …"). HTTP and WebSocket clients wrap the cause several layers deep (reqwest →
//! hyper → io → resolver), and their top-level message ("error sending request") hides it, so
//! this walks the whole source chain. Pure: it reads errors, it performs no I/O.

use std::error::Error;
use std::io;

/// What went wrong, with the innermost message kept for detail. `host` (no path, no query:
/// URLs may carry credentials) names the peer when the caller knows it.
pub fn describe(err: &(dyn Error + 'static), host: Option<&str>) -> String {
    let chain = chain(err);
    let innermost = chain.last().map(|e| e.to_string()).unwrap_or_default();
    let peer = host.map(|h| format!(" {h}")).unwrap_or_default();
    let cause = match classify(&chain) {
        Cause::Dns => format!("could not resolve host{peer}"),
        Cause::Refused => format!("connection refused by{}", or_peer(host)),
        Cause::Reset => format!("connection reset by{}", or_peer(host)),
        Cause::TimedOut => format!("timed out talking to{}", or_peer(host)),
        Cause::Unreachable => format!("network unreachable for{}", or_peer(host)),
        Cause::Tls => format!("TLS handshake with{} failed", or_peer(host)),
        Cause::Other => return with_host(&innermost, host),
    };
    if innermost.is_empty() {
        cause
    } else {
        format!("{cause} ({innermost})")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Dns,
    Refused,
    Reset,
    TimedOut,
    Unreachable,
    Tls,
    Other,
}

fn chain<'a>(err: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut out = vec![err];
    let mut next = err.source();
    // Bounded: a buggy error type whose source points back at itself must not hang us.
    while let Some(e) = next {
        if out.len() >= 16 {
            break;
        }
        out.push(e);
        next = e.source();
    }
    out
}

/// The most specific cause anywhere in the chain: an `io::Error`'s kind where there is one,
/// otherwise what the messages say (resolvers and TLS stacks report through strings).
fn classify(chain: &[&(dyn Error + 'static)]) -> Cause {
    for e in chain.iter().rev() {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Cause::Refused,
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                    return Cause::Reset;
                }
                io::ErrorKind::TimedOut => return Cause::TimedOut,
                io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                    return Cause::Unreachable;
                }
                _ => {}
            }
        }
    }
    let text = chain
        .iter()
        .map(|e| e.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" | ");
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no address associated",
        "temporary failure in name resolution",
        "nodename nor servname",
    ]) {
        Cause::Dns
    } else if has(&["connection refused"]) {
        Cause::Refused
    } else if has(&["certificate", "tls", "handshake", "alert"]) {
        Cause::Tls
    } else if has(&["timed out", "deadline has elapsed"]) {
        Cause::TimedOut
    } else if has(&["connection reset", "broken pipe"]) {
        Cause::Reset
    } else {
        Cause::Other
    }
}

fn or_peer(host: Option<&str>) -> String {
    match host {
        Some(h) => format!(" {h}"),
        None => " the peer".to_string(),
    }
}

fn with_host(message: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => format!("{message} (talking to {h})"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    /// An error with a source, as HTTP clients nest them.
    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn Error + 'static>);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    fn nested(inner: Box<dyn Error>) -> Wrap {
        Wrap(
            "error sending request",
            Box::new(Wrap("client error (Connect)", inner)),
        )
    }

    #[test]
    fn a_resolver_failure_names_the_host() {
        let inner =
            io::Error::other("failed to lookup address information: Name or service not known");
        let e = nested(Box::new(Wrap("dns error", Box::new(inner))));
        assert_eq!(
            describe(&e, Some("api.kite.trade")),
            "could not resolve host api.kite.trade (failed to lookup address information: Name or service not known)"
        );
    }

    #[test]
    fn io_kinds_win_over_the_wording() {
        let e = nested(Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert!(
            describe(&e, Some("127.0.0.1:9")).starts_with("connection refused by 127.0.0.1:9 (")
        );
        let e = nested(Box::new(io::Error::from(io::ErrorKind::TimedOut)));
        assert!(describe(&e, None).starts_with("timed out talking to the peer"));
    }

    #[test]
    fn tls_failures_are_named() {
        let inner = io::Error::other("invalid peer certificate: UnknownIssuer");
        let e = nested(Box::new(inner));
        assert_eq!(
            describe(&e, Some("api.kite.trade")),
            "TLS handshake with api.kite.trade failed (invalid peer certificate: UnknownIssuer)"
        );
    }

    #[test]
    fn anything_else_keeps_the_innermost_message() {
        let e = nested(Box::new(io::Error::other("something odd")));
        assert_eq!(describe(&e, Some("h")), "something odd (talking to h)");
        assert_eq!(describe(&io::Error::other("x"), None), "x");
    }
}
