//! Access scopes of a feedgate key (DESIGN.md §10): `read`, `admin`, `orders`, as a small set.

use std::fmt;

/// One permission a key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The feed, quotes, candles, instruments and the health document.
    Read,
    /// Everything: the broker login, verify, `/metrics`, the simulator's control routes.
    Admin,
    /// Order updates relayed from the broker.
    Orders,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Admin, Scope::Orders];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Admin => "admin",
            Self::Orders => "orders",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|sc| sc.as_str().eq_ignore_ascii_case(s.trim()))
    }

    fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::Admin => 2,
            Self::Orders => 4,
        }
    }
}

/// A set of scopes. `admin` grants every scope (it is "everything" in the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);
    /// What an unauthenticated caller holds when access control is off.
    pub const ALL: Scopes = Scopes(7);

    pub fn with(self, s: Scope) -> Self {
        Self(self.0 | s.bit())
    }

    /// Whether a caller holding these scopes may do what needs `s`.
    pub fn allows(self, s: Scope) -> bool {
        self.0 & (s.bit() | Scope::Admin.bit()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes held, in a fixed order (for files and listings).
    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .map(Scope::as_str)
            .collect()
    }

    /// `read+admin` style lists (`+` or `,` separated); `Err` names the first unknown scope.
    pub fn parse_list(s: &str) -> Result<Self, String> {
        s.split(['+', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .try_fold(Self::NONE, |acc, p| {
                Scope::parse(p)
                    .map(|sc| acc.with(sc))
                    .ok_or_else(|| p.to_string())
            })
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_read_only_read() {
        let admin = Scopes::NONE.with(Scope::Admin);
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        let read = Scopes::NONE.with(Scope::Read);
        assert!(read.allows(Scope::Read));
        assert!(!read.allows(Scope::Admin));
        assert!(!read.allows(Scope::Orders));
        assert!(!Scopes::NONE.allows(Scope::Read));
    }

    #[test]
    fn lists_parse_and_print() {
        let s = Scopes::parse_list("read+Orders").unwrap();
        assert_eq!(s.to_string(), "read+orders");
        assert_eq!(
            Scopes::parse_list("read,admin").unwrap().names(),
            ["read", "admin"]
        );
        assert_eq!(Scopes::parse_list("read+root"), Err("root".to_string()));
    }
}
