//! Password validation (Django's `AUTH_PASSWORD_VALIDATORS` defaults): long enough, not all
//! digits, not like the user's own names, not a common password.
//!
//! ```
//! use djambda::auth::password_validation::validate_password;
//!
//! let problems = validate_password("12345678", 8, &["ada", "ada@example.com"]);
//! assert!(problems.contains(&"This password is entirely numeric.".to_string()));
//! assert!(problems.contains(&"This password is too common.".to_string()));
//! assert!(validate_password("plum-orbit-cascade", 8, &["ada"]).is_empty());
//! ```

/// Passwords too common to allow (a short list of the most used; Django ships 20,000).
const COMMON: &[&str] = &[
    "123456",
    "password",
    "12345678",
    "qwerty",
    "123456789",
    "12345",
    "1234",
    "111111",
    "1234567",
    "dragon",
    "123123",
    "baseball",
    "abc123",
    "football",
    "monkey",
    "letmein",
    "696969",
    "shadow",
    "master",
    "666666",
    "qwertyuiop",
    "123321",
    "mustang",
    "1234567890",
    "michael",
    "654321",
    "superman",
    "1qaz2wsx",
    "7777777",
    "121212",
    "000000",
    "qazwsx",
    "123qwe",
    "killer",
    "trustno1",
    "jordan",
    "jennifer",
    "zxcvbnm",
    "asdfgh",
    "hunter",
    "buster",
    "soccer",
    "harley",
    "batman",
    "andrew",
    "tigger",
    "sunshine",
    "iloveyou",
    "2000",
    "charlie",
    "robert",
    "thomas",
    "hockey",
    "ranger",
    "daniel",
    "starwars",
    "klaster",
    "112233",
    "george",
    "computer",
    "michelle",
    "jessica",
    "pepper",
    "1111",
    "zxcvbn",
    "555555",
    "11111111",
    "131313",
    "freedom",
    "777777",
    "pass",
    "maggie",
    "159753",
    "aaaaaa",
    "ginger",
    "princess",
    "joshua",
    "cheese",
    "amanda",
    "summer",
    "love",
    "ashley",
    "nicole",
    "chelsea",
    "biteme",
    "matthew",
    "access",
    "yankees",
    "987654321",
    "dallas",
    "austin",
    "thunder",
    "taylor",
    "matrix",
    "password1",
    "password123",
    "welcome",
    "admin",
    "administrator",
    "changeme",
    "passw0rd",
    "qwerty123",
    "letmein1",
    "welcome1",
    "iloveyou1",
    "secret",
];

/// Every problem with `password`, as Django words them; empty when it is acceptable.
/// `min_length` is PASSWORD_MIN_LENGTH; `attributes` are the user's username, email and names.
pub fn validate_password(password: &str, min_length: usize, attributes: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let length = password.chars().count();
    if length < min_length {
        problems.push(format!(
            "This password is too short. It must contain at least {min_length} character{}.",
            if min_length == 1 { "" } else { "s" }
        ));
    }
    let lower = password.to_lowercase();
    for attribute in attributes.iter().map(|a| a.trim().to_lowercase()).filter(|a| a.len() >= 3) {
        // The email's local part counts as much as the whole address.
        let parts: Vec<&str> =
            std::iter::once(attribute.as_str()).chain(attribute.split(['@', '.', '-', '_'])).collect();
        if parts.iter().filter(|p| p.len() >= 3).any(|p| lower.contains(p) || p.contains(lower.as_str())) {
            problems.push("The password is too similar to the user's details.".into());
            break;
        }
    }
    if COMMON.contains(&lower.as_str()) {
        problems.push("This password is too common.".into());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".into());
    }
    problems
}
