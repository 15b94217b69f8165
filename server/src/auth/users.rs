//! The users of `--auth users`: a TOML file with one `[[users]]` table per
//! user, each a name, a role and an argon2id password hash.

use std::collections::HashMap;
use std::path::Path;

use app::model::Role;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    role: String,
    password_hash: String,
}

struct User {
    role: Role,
    /// An argon2id PHC string, checked when the file was read.
    hash: String,
}

/// Who may sign in. `Debug` names users and roles, never hashes.
pub struct Users {
    by_name: HashMap<String, User>,
    /// Checked against when the name is unknown, so that an unknown name
    /// costs as much time as a wrong password and the two cannot be told apart.
    decoy: String,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.by_name.iter().map(|(name, user)| (name, user.role)))
            .finish()
    }
}

impl Users {
    /// Reads and checks the users file: every error names the file and what to fix.
    pub fn load(path: &Path) -> Result<Users, String> {
        let where_ = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the users file {where_}: {e}"))?;
        Users::parse(&text).map_err(|e| format!("users file {where_}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Users, String> {
        let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.users.is_empty() {
            return Err("no [[users]] table: nobody could sign in".to_owned());
        }
        let mut by_name = HashMap::new();
        for entry in file.users {
            let name = entry.name.trim().to_owned();
            if name.is_empty() {
                return Err("a user has an empty name".to_owned());
            }
            let role = match entry.role.as_str() {
                "viewer" => Role::Viewer,
                "operator" => Role::Operator,
                other => {
                    return Err(format!(
                        "user {name:?}: role {other:?} is neither \"viewer\" nor \"operator\""
                    ))
                }
            };
            check_hash(&entry.password_hash).map_err(|e| format!("user {name:?}: {e}"))?;
            let user = User {
                role,
                hash: entry.password_hash,
            };
            if by_name.insert(name.clone(), user).is_some() {
                return Err(format!("user {name:?} is listed twice"));
            }
        }
        let decoy = hash_password(&random_text())?;
        Ok(Users { by_name, decoy })
    }

    /// Whether `name` is a user (for logs: never log what was typed otherwise).
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The user's role when the password is right. Deliberately slow (argon2id):
    /// call it off the async threads.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        match self.by_name.get(name) {
            Some(user) => matches(&user.hash, password).then_some(user.role),
            None => {
                // Same work, same time, same answer as a wrong password.
                let _ = matches(&self.decoy, password);
                None
            }
        }
    }
}

fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| format!("password_hash is not a PHC string ({e}); make one with `leasehold hash-password`"))?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return Err(format!(
            "password_hash uses {}, not argon2id; make one with `leasehold hash-password`",
            parsed.algorithm
        ));
    }
    // The parameters are checked without hashing: a big users file must
    // not cost an argon2 run per user at start.
    argon2::Params::try_from(&parsed).map(|_| ()).map_err(|e| {
        format!("password_hash has unusable argon2 parameters ({e}); make one with `leasehold hash-password`")
    })
}

fn matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

fn random_text() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash of `password` with a fresh random salt, as a PHC string
/// (argon2's recommended parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(role: &str, hash: &str) -> String {
        format!("[[users]]\nname = \"ada\"\nrole = \"{role}\"\npassword_hash = \"{hash}\"\n")
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let Ok(hash) = hash_password("correct horse") else {
            panic!("hashing failed")
        };
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let Ok(users) = Users::parse(&file("operator", &hash)) else {
            panic!("a valid file")
        };
        assert_eq!(users.verify("ada", "correct horse"), Some(Role::Operator));
        assert_eq!(users.verify("ada", "wrong"), None);
        assert_eq!(users.verify("bob", "correct horse"), None);
        assert!(!format!("{users:?}").contains("argon2"), "{users:?}");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let Ok(hash) = hash_password("x") else {
            panic!("hashing failed")
        };
        let error = |text: &str| Users::parse(text).err().unwrap_or_default();
        assert!(
            error(&file("admin", &hash)).contains("neither"),
            "{}",
            error(&file("admin", &hash))
        );
        assert!(error(&file("viewer", "plain")).contains("hash-password"));
        let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        assert!(error(&file("viewer", bcrypt)).contains("hash-password"));
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$mO+5JPDB5J0/KRWLpYa1Dg";
        assert!(
            error(&file("viewer", argon2i)).contains("not argon2id"),
            "{}",
            error(&file("viewer", argon2i))
        );
        let no_memory = "$argon2id$v=19$m=0,t=2,p=1$c29tZXNhbHQ$mO+5JPDB5J0/KRWLpYa1Dg";
        let why = error(&file("viewer", no_memory));
        assert!(why.contains("parameters"), "{why}");
        assert!(error("").contains("no [[users]]"));
        assert!(error("[[users]]\nname = \"a\"\n").contains("missing field"));
        let twice = format!("{}{}", file("viewer", &hash), file("operator", &hash));
        assert!(error(&twice).contains("twice"));
    }
}
