//! Reading a presented key: `Authorization: Bearer ID:SECRET` or Kite's `token ID:SECRET`,
//! and the `ID:SECRET` pair itself. Pure parsing; checking happens in [`super::keyring`].

use secrecy::SecretString;

/// A key as a caller presented it. The secret stays wrapped so it cannot reach a log line.
#[derive(Debug, Clone)]
pub struct Presented {
    pub id: String,
    pub secret: SecretString,
}

/// Longest credential read (an id of ≤ 64 and a secret of ≤ 128 characters fit easily);
/// longer input is refused before any work is done on it.
const MAX_LEN: usize = 256;

impl Presented {
    /// `ID:SECRET`; `None` when malformed (no colon, an empty side, too long).
    pub fn parse_pair(s: &str) -> Option<Self> {
        if s.len() > MAX_LEN {
            return None;
        }
        let (id, secret) = s.trim().split_once(':')?;
        Self::from_parts(id, secret)
    }

    /// The two halves given separately (Kite's `?api_key=ID&access_token=SECRET`).
    pub fn from_parts(id: &str, secret: &str) -> Option<Self> {
        if id.is_empty() || secret.is_empty() || id.len() + secret.len() > MAX_LEN {
            return None;
        }
        Some(Self {
            id: id.to_string(),
            secret: SecretString::from(secret.to_string()),
        })
    }

    /// An `Authorization` header value: `Bearer ID:SECRET` or `token ID:SECRET` (scheme
    /// case-insensitive, as RFC 9110 says). `None` for any other scheme or a malformed pair.
    pub fn from_authorization(value: &str) -> Option<Self> {
        let (scheme, rest) = value.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            Self::parse_pair(rest)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn pair(p: Option<Presented>) -> Option<(String, String)> {
        p.map(|p| (p.id, p.secret.expose_secret().to_string()))
    }

    #[test]
    fn both_header_schemes_are_read() {
        let want = Some(("fgk_1".to_string(), "s3cr:et".to_string()));
        assert_eq!(
            pair(Presented::from_authorization("Bearer fgk_1:s3cr:et")),
            want
        );
        assert_eq!(
            pair(Presented::from_authorization("token fgk_1:s3cr:et")),
            want
        );
        assert_eq!(
            pair(Presented::from_authorization("BEARER  fgk_1:s3cr:et")),
            want
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        for v in [
            "",
            "Bearer",
            "Bearer fgk_1",
            "Bearer :secret",
            "Bearer fgk_1:",
            "Basic Zm9vOmJhcg==",
            &format!("Bearer id:{}", "x".repeat(300)),
        ] {
            assert!(Presented::from_authorization(v).is_none(), "{v:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_is_read_or_refused_never_a_panic(v in ".{0,300}") {
            if let Some(p) = Presented::from_authorization(&v) {
                proptest::prop_assert!(!p.id.is_empty() && !p.secret.expose_secret().is_empty());
                proptest::prop_assert!(!p.id.contains(':'));
            }
        }

        #[test]
        fn a_pair_comes_back_as_it_was_sent(id in "[A-Za-z0-9_-]{1,64}", secret in "[!-~]{1,128}") {
            let p = Presented::from_authorization(&format!("Bearer {id}:{secret}"));
            proptest::prop_assert_eq!(pair(p), Some((id, secret)));
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Presented::parse_pair("id:hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
