//! Roles a person can hold. A person may hold several; the rules in
//! [`crate::authorize`] still forbid acting on one's own work.

use std::fmt;
use std::str::FromStr;

/// A role granted to a user by an administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Submits analysis jobs in the projects they are a member of.
    Researcher,
    /// Reviews release requests from projects they are not a member of.
    Checker,
    /// Reads the audit trail and provenance; changes nothing.
    Compliance,
    /// Registers users, projects and datasets; cannot approve releases.
    Admin,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [
        Role::Researcher,
        Role::Checker,
        Role::Compliance,
        Role::Admin,
    ];

    /// The stable lower-case name used in configuration, the database and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Researcher => "researcher",
            Role::Checker => "checker",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Researcher => 1,
            Role::Checker => 2,
            Role::Compliance => 4,
            Role::Admin => 8,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected researcher, checker, compliance or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles held by one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    /// The empty set: a user with no role may only ask for help and `whoami`.
    pub const EMPTY: RoleSet = RoleSet(0);

    /// A set holding exactly the given roles.
    pub fn of(roles: &[Role]) -> RoleSet {
        roles
            .iter()
            .fold(RoleSet::EMPTY, |set, role| set.with(*role))
    }

    /// This set plus `role`.
    #[must_use]
    pub fn with(self, role: Role) -> RoleSet {
        RoleSet(self.0 | role.bit())
    }

    /// Whether `role` is in the set.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL
            .into_iter()
            .filter(move |role| self.contains(*role))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
    }

    #[test]
    fn role_set_holds_what_was_added() {
        let set = RoleSet::of(&[Role::Checker, Role::Admin]);
        assert!(set.contains(Role::Checker));
        assert!(set.contains(Role::Admin));
        assert!(!set.contains(Role::Researcher));
        assert_eq!(set.to_string(), "checker,admin");
        assert_eq!(RoleSet::EMPTY.to_string(), "none");
    }
}
