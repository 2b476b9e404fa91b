//! Authentication and roles, following Redis's conventions.
//!
//! - `--requirepass PASS` (or `requirepass` in the TOML file) gives the user
//!   `default` that password and the admin role.
//! - `[[users]]` tables in the TOML file add users, each with a role
//!   (`read-only`, `read-write`, `admin`) and either `password` (hashed at
//!   start) or `password-hash` (an Argon2 PHC string, e.g. from
//!   `snowflk-server --hash-password`).
//! - With either, a connection must authenticate (`AUTH [user] password` or
//!   `HELLO 3 AUTH user password`) before anything but AUTH, HELLO, PING and
//!   QUIT; other commands get `-NOAUTH Authentication required.`. Without
//!   either, every connection is the admin user `default`.
//!
//! Passwords are kept only as Argon2id hashes and checked with the
//! `argon2` crate, whose comparison runs in constant time. A failed attempt
//! is logged with the client's address and the user name, never the
//! password.
//!
//! Roles: **read-only** runs reads and connection commands; **read-write**
//! also runs writes except `FLUSHDB`; **admin** runs everything, including
//! `FLUSHDB`, `CONFIG` and the `SNOWFLK` commands that change the cluster or
//! write files (`TRANSFER-LEADER`, `BACKUP`). `SNOWFLK LEADER`, `MEMBERS` and
//! `HELP` and `ACL WHOAMI` are open to every authenticated user; `ACL LIST`
//! is admin only.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;

use crate::commands::table;
use crate::ops::Reply;

/// The reply to a command other than AUTH, HELLO, PING and QUIT before
/// authentication (Redis's words, which clients match on).
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// The reply to `HELLO` without `AUTH` before authentication.
pub const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// The reply to a wrong password or an unknown user (not told apart).
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reads and connection commands.
    ReadOnly,
    /// Reads and writes, except `FLUSHDB`.
    ReadWrite,
    /// Everything.
    Admin,
}

impl Role {
    /// The name used in the config file and `ACL LIST`.
    pub fn name(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::ReadWrite => "read-write",
            Role::Admin => "admin",
        }
    }
}

/// One `[[users]]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UserConfig {
    /// The user name (`AUTH name password`).
    pub name: String,
    /// The password in clear; hashed at start. Give this or `password-hash`.
    pub password: Option<String>,
    /// The password's Argon2 hash in PHC form (`$argon2id$...`).
    pub password_hash: Option<String>,
    /// The user's role.
    pub role: Role,
}

/// Why the users in the configuration are unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither or both of `password` and `password-hash`.
    #[error("user {0:?} needs exactly one of password and password-hash")]
    Password(String),
    /// `password-hash` is not an Argon2 PHC string.
    #[error("user {user:?}: password-hash is not an Argon2 PHC string: {reason}")]
    BadHash {
        /// The user.
        user: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Two users share a name (`default` is taken by `requirepass`).
    #[error("user {0:?} is defined twice")]
    Duplicate(String),
    /// An empty name or one with spaces or control characters.
    #[error("user name {0:?} must be non-empty printable ASCII without spaces")]
    BadName(String),
    /// Hashing failed.
    #[error("cannot hash the password of user {user:?}: {reason}")]
    Hash {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    hash: String,
    role: Role,
}

/// The users a server knows.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: Vec<User>,
}

/// An authenticated connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Identity {
    /// The identity of every connection when no authentication is set up.
    pub fn open() -> Self {
        Self {
            name: "default".into(),
            role: Role::Admin,
        }
    }
}

/// Hashes `password` with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

impl Users {
    /// The users of `requirepass` and `users`.
    pub fn from_config(
        requirepass: Option<&str>,
        users: &[UserConfig],
    ) -> Result<Self, AuthConfigError> {
        let mut out = Users::default();
        if let Some(pass) = requirepass {
            out.users.push(User {
                name: "default".into(),
                hash: hash_password(pass.as_bytes()).map_err(|reason| AuthConfigError::Hash {
                    user: "default".into(),
                    reason,
                })?,
                role: Role::Admin,
            });
        }
        for u in users {
            if u.name.is_empty() || u.name.bytes().any(|b| b <= b' ' || b > b'~') {
                return Err(AuthConfigError::BadName(u.name.clone()));
            }
            if out.users.iter().any(|x| x.name == u.name) {
                return Err(AuthConfigError::Duplicate(u.name.clone()));
            }
            let hash = match (&u.password, &u.password_hash) {
                (Some(p), None) => {
                    hash_password(p.as_bytes()).map_err(|reason| AuthConfigError::Hash {
                        user: u.name.clone(),
                        reason,
                    })?
                }
                (None, Some(h)) => {
                    PasswordHash::new(h).map_err(|e| AuthConfigError::BadHash {
                        user: u.name.clone(),
                        reason: e.to_string(),
                    })?;
                    h.clone()
                }
                _ => return Err(AuthConfigError::Password(u.name.clone())),
            };
            out.users.push(User {
                name: u.name.clone(),
                hash,
                role: u.role,
            });
        }
        Ok(out)
    }

    /// True if connections must authenticate.
    pub fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// The identity `name` gets with `password`, or None (unknown user or
    /// wrong password; the two are not told apart).
    pub fn check(&self, name: &str, password: &[u8]) -> Option<Identity> {
        let argon = argon2::Argon2::default();
        let dummy;
        let (user, hash) = match self.users.iter().find(|u| u.name == name) {
            Some(u) => (Some(u), u.hash.as_str()),
            None => {
                // Verify against a throwaway hash anyway, so an unknown
                // user costs as long as a wrong password.
                dummy = self
                    .users
                    .first()
                    .map(|u| u.hash.clone())
                    .unwrap_or_default();
                (None, dummy.as_str())
            }
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = argon.verify_password(password, &parsed).is_ok();
        match user {
            Some(u) if ok => Some(Identity {
                name: u.name.clone(),
                role: u.role,
            }),
            _ => None,
        }
    }

    /// `ACL LIST`: one line per user, passwords as their hashes.
    pub fn acl_list(&self) -> Vec<String> {
        self.users
            .iter()
            .map(|u| format!("user {} on {} role={}", u.name, u.hash, u.role.name()))
            .collect()
    }
}

/// Commands an unauthenticated connection may run.
pub fn allowed_before_auth(name: &str) -> bool {
    matches!(name, "AUTH" | "HELLO" | "PING" | "QUIT")
}

/// `Ok` if `who` may run the command `name` (upper case) with `sub` (its
/// upper-case first argument, if any); else the `-NOPERM` reply.
pub fn permit(who: &Identity, name: &str, sub: Option<&str>) -> Result<(), Reply> {
    if who.role == Role::Admin {
        return Ok(());
    }
    let admin_only = match name {
        "FLUSHDB" | "CONFIG" => true,
        "SNOWFLK" => !matches!(sub, Some("LEADER" | "MEMBERS" | "HELP") | None),
        "ACL" => !matches!(sub, Some("WHOAMI" | "HELP") | None),
        _ => false,
    };
    let writes = table::find(name).is_some_and(|s| s.flags.contains(&"write"));
    let allowed = !admin_only && (!writes || who.role == Role::ReadWrite);
    if allowed {
        Ok(())
    } else {
        Err(Reply::error(format!(
            "NOPERM User {} has no permissions to run the '{}' command",
            who.name,
            name.to_ascii_lowercase()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users::from_config(
            Some("root-pass"),
            &[
                UserConfig {
                    name: "reader".into(),
                    password: Some("r".into()),
                    password_hash: None,
                    role: Role::ReadOnly,
                },
                UserConfig {
                    name: "writer".into(),
                    password: None,
                    password_hash: Some(hash_password(b"w").unwrap()),
                    role: Role::ReadWrite,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn passwords_are_checked_and_stored_hashed() {
        let u = users();
        assert!(u.required());
        assert_eq!(u.check("default", b"root-pass").unwrap().role, Role::Admin);
        assert_eq!(u.check("reader", b"r").unwrap().role, Role::ReadOnly);
        assert_eq!(u.check("writer", b"w").unwrap().role, Role::ReadWrite);
        assert!(u.check("reader", b"w").is_none());
        assert!(u.check("nobody", b"r").is_none());
        for line in u.acl_list() {
            assert!(line.contains("$argon2id$"), "{line}");
            assert!(
                !line.contains("root-pass") && !line.ends_with(" r"),
                "{line}"
            );
        }
        assert!(!Users::default().required());
    }

    #[test]
    fn bad_user_tables_are_refused() {
        let user = |password: Option<&str>, hash: Option<&str>| UserConfig {
            name: "u".into(),
            password: password.map(Into::into),
            password_hash: hash.map(Into::into),
            role: Role::Admin,
        };
        assert!(Users::from_config(None, &[user(None, None)]).is_err());
        assert!(Users::from_config(None, &[user(Some("a"), Some("b"))]).is_err());
        assert!(Users::from_config(None, &[user(None, Some("plain"))]).is_err());
        assert!(Users::from_config(None, &[user(Some("a"), None), user(Some("b"), None)]).is_err());
    }

    #[test]
    fn roles_permit_what_they_say() {
        let who = |role| Identity {
            name: "u".into(),
            role,
        };
        let ro = who(Role::ReadOnly);
        let rw = who(Role::ReadWrite);
        let admin = who(Role::Admin);
        assert!(permit(&ro, "GET", None).is_ok());
        assert!(permit(&ro, "SET", None).is_err());
        assert!(permit(&rw, "SET", None).is_ok());
        assert!(permit(&rw, "FLUSHDB", None).is_err());
        assert!(permit(&rw, "SNOWFLK", Some("BACKUP")).is_err());
        assert!(permit(&ro, "SNOWFLK", Some("LEADER")).is_ok());
        assert!(permit(&rw, "CONFIG", Some("GET")).is_err());
        assert!(permit(&ro, "ACL", Some("WHOAMI")).is_ok());
        assert!(permit(&ro, "ACL", Some("LIST")).is_err());
        assert!(permit(&admin, "FLUSHDB", None).is_ok());
        let e = permit(&ro, "DEL", None).unwrap_err();
        assert!(matches!(e, Reply::Error(m) if m.starts_with("NOPERM")));
    }
}
