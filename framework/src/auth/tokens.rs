//! One-time tokens for password reset and invitation links (the idea of Django's
//! `PasswordResetTokenGenerator`): an HMAC, under SECRET_KEY, of the user's id, password hash,
//! last login, email and the time the token was made. Nothing is stored: setting a password
//! (which changes the hash), logging in (which changes the last login) or changing the email
//! spends every token made before, and a token older than PASSWORD_RESET_TIMEOUT is refused.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::models::user;
use crate::signing::{constant_time_eq, salted_hmac};

/// Tokens are timed from 2001-01-01, as Django's are, so they stay short.
const EPOCH_2001: u64 = 978_307_200;
const KEY_SALT: &str = "djambda.contrib.auth.tokens.PasswordResetTokenGenerator";

/// Makes and checks password reset tokens (`<timestamp in base 36>-<20 hex digits>`).
///
/// ```
/// use djambda::auth::PasswordResetTokenGenerator;
/// use djambda::auth::models::user;
/// use std::time::Duration;
///
/// let user = user::Model {
///     id: 7, password: "argon2$…".into(), last_login: None, is_superuser: false,
///     username: "ada".into(), first_name: "".into(), last_name: "".into(),
///     email: "ada@example.com".into(), is_staff: false, is_active: true,
///     date_joined: chrono::Utc::now(),
/// };
/// let tokens = PasswordResetTokenGenerator::new("a-long-secret-key-0123456789", Duration::from_secs(3600));
/// let token = tokens.make_token(&user);
/// assert!(tokens.check_token(&user, &token));
/// let changed = user::Model { password: "argon2$other".into(), ..user.clone() };
/// assert!(!tokens.check_token(&changed, &token), "a new password spends the token");
/// ```
#[derive(Clone)]
pub struct PasswordResetTokenGenerator {
    secret: String,
    timeout: Duration,
}

impl std::fmt::Debug for PasswordResetTokenGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetTokenGenerator").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl PasswordResetTokenGenerator {
    /// Tokens signed with `secret` (SECRET_KEY) and good for `timeout` (PASSWORD_RESET_TIMEOUT).
    pub fn new(secret: &str, timeout: Duration) -> Self {
        PasswordResetTokenGenerator { secret: secret.to_owned(), timeout }
    }

    /// A token for `user`, good until the user's password, last login or email changes, or
    /// the timeout passes.
    pub fn make_token(&self, user: &user::Model) -> String {
        self.token_at(user, now_since_2001())
    }

    /// Whether `token` was made for `user` as the user is now, within the timeout.
    pub fn check_token(&self, user: &user::Model, token: &str) -> bool {
        let Some((stamp, _)) = token.split_once('-') else { return false };
        if stamp.is_empty() || stamp.len() > 13 {
            return false;
        }
        let Ok(made) = u64::from_str_radix(stamp, 36) else { return false };
        if !constant_time_eq(self.token_at(user, made).as_bytes(), token.as_bytes()) {
            return false;
        }
        now_since_2001().saturating_sub(made) <= self.timeout.as_secs()
    }

    fn token_at(&self, user: &user::Model, made: u64) -> String {
        // The login time to the second: what the database gives back may have lost the rest.
        let login = user.last_login.map(|t| t.timestamp().to_string()).unwrap_or_default();
        let value = format!("{}\0{}\0{login}\0{made}\0{}", user.id, user.password, user.email);
        let mac = salted_hmac(KEY_SALT, value.as_bytes(), &self.secret);
        // Every other hex digit of the first 20 bytes, as Django shortens its tokens.
        let hex: String = mac.iter().flat_map(|b| [b >> 4, b & 0xf]).step_by(2).take(20).map(hex_digit).collect();
        format!("{}-{hex}", base36(made))
    }
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

fn now_since_2001() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).saturating_sub(EPOCH_2001)
}

/// The user id as it goes in a link (Django's `urlsafe_base64_encode(force_bytes(pk))`).
pub fn uid_to_b64(id: i32) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// The user id a link carries, if it is one.
pub fn b64_to_uid(text: &str) -> Option<i32> {
    if text.len() > 16 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> user::Model {
        user::Model {
            id: 7,
            password: "argon2$x".into(),
            last_login: None,
            is_superuser: false,
            username: "ada".into(),
            first_name: String::new(),
            last_name: String::new(),
            email: "ada@example.com".into(),
            is_staff: false,
            is_active: true,
            date_joined: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_token_is_spent_by_a_login_a_password_an_email_or_its_age() {
        let tokens = PasswordResetTokenGenerator::new("secret-key", Duration::from_secs(3600));
        let user = ada();
        let token = tokens.make_token(&user);
        assert!(tokens.check_token(&user, &token));
        assert!(!tokens.check_token(&user::Model { last_login: Some(chrono::Utc::now()), ..ada() }, &token));
        assert!(!tokens.check_token(&user::Model { password: "argon2$y".into(), ..ada() }, &token));
        assert!(!tokens.check_token(&user::Model { email: "new@example.com".into(), ..ada() }, &token));
        assert!(!tokens.check_token(&user::Model { id: 8, ..ada() }, &token));
        assert!(!PasswordResetTokenGenerator::new("other-key", Duration::from_secs(3600)).check_token(&user, &token));
        // Made two hours ago: past a one-hour timeout, within a three-hour one.
        let old = tokens.token_at(&user, now_since_2001() - 7200);
        assert!(!tokens.check_token(&user, &old));
        assert!(PasswordResetTokenGenerator::new("secret-key", Duration::from_secs(3 * 3600)).check_token(&user, &old));
        // Tampered: another timestamp under the same signature, a changed digit, garbage.
        let (stamp, hash) = token.split_once('-').unwrap();
        let later = format!("{}-{hash}", base36(u64::from_str_radix(stamp, 36).unwrap() + 1));
        for bad in
            [later.as_str(), &token.replace(&hash[..1], if &hash[..1] == "a" { "b" } else { "a" }), "", "-", "zz-"]
        {
            assert!(!tokens.check_token(&user, bad), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_round_trip_and_garbage_is_none() {
        assert_eq!(b64_to_uid(&uid_to_b64(42)), Some(42));
        assert_eq!(uid_to_b64(1), "MQ");
        assert_eq!(b64_to_uid("!!"), None);
        assert_eq!(b64_to_uid("YWJj"), None, "not a number");
        assert_eq!(b64_to_uid(&"A".repeat(100)), None);
    }
}
