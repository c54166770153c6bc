//! Password hashing (Django's `django.contrib.auth.hashers`): new passwords are hashed with
//! Argon2id; hashes in Django's `pbkdf2_sha256$…` format (and Django's `argon2$…`) verify too,
//! and are rehashed with the current parameters at the next login, so a Django user table can
//! be carried over as it is.
//!
//! ```
//! use djambda::auth::hashers::{check_password, make_password, needs_rehash};
//!
//! let hash = make_password("correct horse battery staple");
//! assert!(hash.starts_with("argon2$argon2id$"));
//! assert!(check_password("correct horse battery staple", &hash));
//! assert!(!check_password("wrong", &hash));
//! assert!(!needs_rehash(&hash));
//! ```

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Sha256;

use crate::signing::{ALPHANUMERIC, constant_time_eq, fill_random, random_string};

/// Argon2id memory cost in KiB, time cost and lanes: OWASP's recommended minimum (19 MiB, two
/// passes, one lane), about 30 ms in a release build; Lambda functions pay for the memory.
const MEMORY_KIB: u32 = 19 * 1024;
const TIME_COST: u32 = 2;
const LANES: u32 = 1;

/// The prefix of hashes that cannot be used to log in (Django's `UNUSABLE_PASSWORD_PREFIX`).
pub const UNUSABLE_PREFIX: &str = "!";

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, TIME_COST, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The hash to store for `password`: `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash`, Django's
/// own format for Argon2 (so Django can read djambda's users as well).
pub fn make_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    match argon2().hash_password_with_salt(password.as_bytes(), &salt) {
        Ok(hash) => format!("argon2{hash}"),
        // Fixed, valid parameters and a 16-byte salt cannot fail; refuse the password rather
        // than store something that is not a hash.
        Err(e) => unusable_password(&format!("argon2 failed: {e}")),
    }
}

/// A hash no password matches (Django's `set_unusable_password`): for accounts that log in
/// some other way, or not at all.
pub fn unusable_password(_why: &str) -> String {
    format!("{UNUSABLE_PREFIX}{}", random_string(40, ALPHANUMERIC))
}

/// Whether `encoded` is a hash some password can match.
pub fn is_password_usable(encoded: &str) -> bool {
    !encoded.starts_with(UNUSABLE_PREFIX) && (encoded.starts_with("argon2$") || encoded.starts_with("pbkdf2_sha256$"))
}

/// Whether `password` matches the stored hash `encoded`, in time that does not depend on where
/// they differ. Unknown formats and unusable hashes match nothing.
pub fn check_password(password: &str, encoded: &str) -> bool {
    if let Some(phc) = encoded.strip_prefix("argon2") {
        return Argon2::default().verify_password(password.as_bytes(), phc).is_ok();
    }
    if let Some(rest) = encoded.strip_prefix("pbkdf2_sha256$") {
        let mut parts = rest.splitn(3, '$');
        let (Some(iterations), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(iterations) = iterations.parse::<u32>() else { return false };
        if iterations == 0 || iterations > 10_000_000 {
            return false;
        }
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
        return constant_time_eq(B64.encode(out).as_bytes(), expected.as_bytes());
    }
    false
}

/// Whether a (matching) stored hash should be replaced by [`make_password`]'s: another
/// algorithm, or Argon2 with other parameters.
pub fn needs_rehash(encoded: &str) -> bool {
    let current = format!("argon2$argon2id$v=19$m={MEMORY_KIB},t={TIME_COST},p={LANES}$");
    !encoded.starts_with(&current)
}

/// Hashes a password nobody has, to spend the time a real check takes: a login for a username
/// that does not exist must not answer faster than one for a username that does.
pub(crate) fn burn_time(password: &str) {
    let _ = make_password(password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_pbkdf2_hashes_verify_and_ask_to_be_upgraded() {
        // Django's PBKDF2PasswordHasher: PBKDF2-HMAC-SHA256, base64. (A hash made by Django
        // itself is checked end to end.)
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"djambda-rocks", b"seasalt2026", 1000, &mut out);
        let encoded = format!("pbkdf2_sha256$1000$seasalt2026${}", B64.encode(out));
        assert!(check_password("djambda-rocks", &encoded));
        assert!(!check_password("djambda-rock", &encoded));
        assert!(needs_rehash(&encoded));
        assert!(!check_password("x", "pbkdf2_sha256$notanumber$s$h"));
        assert!(!check_password("x", "md5$whatever"));
    }

    #[test]
    fn unusable_passwords_match_nothing() {
        let u = unusable_password("test");
        assert!(!is_password_usable(&u));
        assert!(!check_password("", &u));
        assert!(!check_password(&u, &u));
    }
}
