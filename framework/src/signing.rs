//! Signing (Django's `django.core.signing`): values a client carries (cookies, tokens) signed
//! with the site's SECRET_KEY so any change is detected, optionally with a timestamp so they
//! expire. Signed, not encrypted: the client can read them, it cannot forge them.
//!
//! ```
//! use djambda::signing::Signer;
//! use std::time::Duration;
//!
//! let signer = Signer::new("a-long-secret-key-0123456789", "crm.invite");
//! let token = signer.sign_object(&serde_json::json!({"team": 4}));
//! let back: serde_json::Value = signer.unsign_object(&token, Some(Duration::from_secs(3600))).unwrap();
//! assert_eq!(back["team"], 4);
//! let forged = token.replacen('e', "f", 1);
//! assert!(signer.unsign_object::<serde_json::Value>(&forged, None).is_err());
//! ```

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a signed value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadSignature {
    /// The value is not in the signed format, or its signature does not match: tampered with,
    /// or signed with another key or salt.
    Invalid,
    /// The signature is good but older than the maximum age.
    Expired {
        /// How old the value is.
        age: Duration,
    },
}

impl std::fmt::Display for BadSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadSignature::Invalid => f.write_str("the signature does not match (tampered with, or another SECRET_KEY)"),
            BadSignature::Expired { age } => write!(f, "the signed value expired ({} seconds old)", age.as_secs()),
        }
    }
}

impl std::error::Error for BadSignature {}

/// Signs and checks values with a key derived from a secret and a salt. The salt keeps
/// signatures of one purpose (session cookies) from being replayed for another (messages).
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { .. }")
    }
}

/// HMAC-SHA256 of `value` under a key derived from `secret` and `salt` (Django's
/// `salted_hmac`): one secret, many independent keys.
pub fn salted_hmac(salt: &str, value: &[u8], secret: &str) -> [u8; 32] {
    let key = derive_key(salt, secret);
    mac(&key, value)
}

fn derive_key(salt: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0djambda.signing\0");
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn mac(key: &[u8; 32], value: &[u8]) -> [u8; 32] {
    // A 32-byte key is always a valid HMAC key.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(value);
    m.finalize().into_bytes().into()
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Signer {
    /// A signer for `salt` under `secret` (the site's SECRET_KEY).
    pub fn new(secret: &str, salt: &str) -> Self {
        Signer { key: derive_key(salt, secret) }
    }

    fn signature(&self, value: &str) -> String {
        B64.encode(mac(&self.key, value.as_bytes()))
    }

    /// `value` followed by `:` and its signature.
    pub fn sign(&self, value: &str) -> String {
        format!("{value}:{}", self.signature(value))
    }

    /// The value of a string made by [`sign`](Self::sign), if its signature is good.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str, BadSignature> {
        let (value, sig) = signed.rsplit_once(':').ok_or(BadSignature::Invalid)?;
        let expected = self.signature(value);
        if constant_time_eq(expected.as_bytes(), sig.as_bytes()) { Ok(value) } else { Err(BadSignature::Invalid) }
    }

    /// `value`, the current time and a signature over both.
    pub fn sign_timestamped(&self, value: &str) -> String {
        self.sign(&format!("{value}:{}", now_secs()))
    }

    /// The value of a string made by [`sign_timestamped`](Self::sign_timestamped), if its
    /// signature is good and it is not older than `max_age`.
    pub fn unsign_timestamped<'a>(&self, signed: &'a str, max_age: Option<Duration>) -> Result<&'a str, BadSignature> {
        let inner = self.unsign(signed)?;
        let (value, ts) = inner.rsplit_once(':').ok_or(BadSignature::Invalid)?;
        let ts: u64 = ts.parse().map_err(|_| BadSignature::Invalid)?;
        let age = Duration::from_secs(now_secs().saturating_sub(ts));
        match max_age {
            Some(max) if age > max => Err(BadSignature::Expired { age }),
            _ => Ok(value),
        }
    }

    /// Serialises `value` as JSON (compressed when that is shorter), base64-encodes it and
    /// signs it with a timestamp (Django's `signing.dumps`). URL- and cookie-safe.
    pub fn sign_object<T: serde::Serialize + ?Sized>(&self, value: &T) -> String {
        // Serialising plain data to a Vec cannot fail; a value that cannot be JSON signs as null.
        let json = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        let mut encoded = None;
        if json.len() > 64 {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            if z.write_all(&json).is_ok()
                && let Ok(packed) = z.finish()
                && packed.len() + 1 < json.len()
            {
                encoded = Some(format!(".{}", B64.encode(packed)));
            }
        }
        self.sign_timestamped(&encoded.unwrap_or_else(|| B64.encode(&json)))
    }

    /// The value signed by [`sign_object`](Self::sign_object), if the signature is good and
    /// it is not older than `max_age`.
    pub fn unsign_object<T: serde::de::DeserializeOwned>(
        &self,
        signed: &str,
        max_age: Option<Duration>,
    ) -> Result<T, BadSignature> {
        let payload = self.unsign_timestamped(signed, max_age)?;
        let (compressed, data) = match payload.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, payload),
        };
        let mut bytes = B64.decode(data).map_err(|_| BadSignature::Invalid)?;
        if compressed {
            let mut out = Vec::new();
            // A signed payload came from us, but bound its size all the same.
            flate2::read::ZlibDecoder::new(&bytes[..])
                .take(1 << 20)
                .read_to_end(&mut out)
                .map_err(|_| BadSignature::Invalid)?;
            bytes = out;
        }
        serde_json::from_slice(&bytes).map_err(|_| BadSignature::Invalid)
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Letters and digits, the alphabet of keys and tokens (for [`random_string`]).
pub const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A random string of `len` characters from `alphabet` (Django's `get_random_string`), from
/// [`fill_random`].
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len().clamp(1, 256);
    // The largest multiple of n under 256: bytes above it are redrawn, so every character is
    // equally likely.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill_random(&mut buf);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % n] as char);
            }
        }
    }
    out
}

/// Fills `buf` with random bytes from a cryptographically secure generator (rand's thread-local
/// ChaCha, seeded and periodically reseeded from the operating system): one system call per
/// token would cost more than the rest of a request in some sandboxes.
pub fn fill_random(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rng().fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_value_or_salt_is_refused() {
        let s = Signer::new("secret", "one");
        let signed = s.sign("hello");
        assert_eq!(s.unsign(&signed), Ok("hello"));
        assert_eq!(s.unsign(&signed.replace("hello", "hellp")), Err(BadSignature::Invalid));
        assert_eq!(Signer::new("secret", "two").unsign(&signed), Err(BadSignature::Invalid));
        assert_eq!(Signer::new("other", "one").unsign(&signed), Err(BadSignature::Invalid));
        assert_eq!(s.unsign("no separator"), Err(BadSignature::Invalid));
    }

    #[test]
    fn objects_round_trip_compressed_or_not() {
        let s = Signer::new("secret", "obj");
        let small = serde_json::json!({"a": 1});
        assert_eq!(s.unsign_object::<serde_json::Value>(&s.sign_object(&small), None).unwrap(), small);
        let big = serde_json::json!({"text": "x".repeat(500)});
        let signed = s.sign_object(&big);
        assert!(signed.starts_with('.') && signed.len() < 200, "compressed: {signed}");
        assert_eq!(s.unsign_object::<serde_json::Value>(&signed, None).unwrap(), big);
    }

    #[test]
    fn timestamps_expire() {
        let s = Signer::new("secret", "ts");
        let old = s.sign(&format!("v:{}", now_secs() - 100));
        assert_eq!(s.unsign_timestamped(&old, Some(Duration::from_secs(1000))), Ok("v"));
        assert!(matches!(s.unsign_timestamped(&old, Some(Duration::from_secs(10))), Err(BadSignature::Expired { .. })));
    }

    #[test]
    fn random_strings_use_the_alphabet() {
        let a = random_string(40, ALPHANUMERIC);
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_string(40, ALPHANUMERIC));
    }
}
