//! `createsuperuser` and `changepassword` (Django's auth commands). Passwords are read from the terminal without echo, twice.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use sea_orm::{ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::auth::hashers::{make_password, unusable_password};
use crate::auth::models::user;
use crate::auth::password_validation::validate_password;
use crate::forms::is_valid_email;
use crate::site::Site;

/// The environment variable `createsuperuser --noinput` reads the password from.
pub const PASSWORD_ENV: &str = "DJAMBDA_SUPERUSER_PASSWORD";

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("CommandError: {message}");
    ExitCode::FAILURE
}

fn username_problem(username: &str) -> Option<String> {
    if username.is_empty() {
        return Some("This field cannot be blank.".into());
    }
    if username.chars().count() > 150 {
        return Some("Ensure this value has at most 150 characters.".into());
    }
    if !username.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        return Some(
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.".into(),
        );
    }
    None
}

async fn connect(site: &Site) -> Result<DatabaseConnection, String> {
    let db = site.database().connection().await.map_err(|e| e.to_string())?;
    // A clear message beats "no such table" when the auth app was never migrated.
    user::Entity::find().one(&db).await.map_err(|e| {
        format!("the user table cannot be read ({e}): install djambda::auth::app() and run `manage migrate`")
    })?;
    Ok(db)
}

async fn username_taken(db: &DatabaseConnection, username: &str) -> Result<bool, String> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .is_some())
}

fn prompt_line(prompt: &str) -> Result<String, String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("could not read the answer: {e}"))?;
    if read == 0 {
        return Err("input ended before the command had all it needs".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn prompt_password(prompt: &str) -> Result<String, String> {
    rpassword::prompt_password(prompt).map_err(|e| format!("could not read the password from the terminal: {e}"))
}

async fn insert_superuser(
    db: &DatabaseConnection,
    username: &str,
    email: &str,
    password: String,
) -> Result<(), String> {
    let row = user::ActiveModel {
        password: ActiveValue::Set(password),
        last_login: ActiveValue::Set(None),
        is_superuser: ActiveValue::Set(true),
        username: ActiveValue::Set(username.to_owned()),
        first_name: ActiveValue::Set(String::new()),
        last_name: ActiveValue::Set(String::new()),
        email: ActiveValue::Set(email.to_owned()),
        is_staff: ActiveValue::Set(true),
        is_active: ActiveValue::Set(true),
        date_joined: ActiveValue::Set(chrono::Utc::now()),
        ..Default::default()
    };
    crate::db::atomic(db, |txn| Box::pin(async move { Ok(row.insert(txn).await.map(|_| ())?) }))
        .await
        .map_err(|e| format!("could not save the user: {e}"))
}

/// `createsuperuser [--noinput] [--username U] [--email E]`.
pub(crate) fn createsuperuser(site: &Site, noinput: bool, username: Option<String>, email: Option<String>) -> ExitCode {
    let min_length = site.settings().auth.password_min_length;
    let result = super::block_on(async {
        let db = connect(site).await?;
        if noinput {
            let username = username.ok_or("You must use --username with --noinput.")?;
            if let Some(problem) = username_problem(&username) {
                return Err(format!("Error: {problem}"));
            }
            if username_taken(&db, &username).await? {
                return Err("Error: That username is already taken.".into());
            }
            let email = email.unwrap_or_default();
            if !email.is_empty() && !is_valid_email(&email) {
                return Err("Error: Enter a valid email address.".into());
            }
            let password = match std::env::var(PASSWORD_ENV) {
                Ok(password) => {
                    let problems = validate_password(&password, min_length, &[&username, &email]);
                    if !problems.is_empty() {
                        return Err(problems.join("\n"));
                    }
                    make_password(&password)
                }
                // As Django: without a password the account cannot log in until one is set.
                Err(_) => unusable_password("createsuperuser --noinput without a password"),
            };
            insert_superuser(&db, &username, &email, password).await?;
            println!("Superuser created successfully.");
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(
                "Superuser creation skipped due to not running in a TTY. Run `manage createsuperuser` in a terminal, \
                 or use --noinput --username U --email E with the password in DJAMBDA_SUPERUSER_PASSWORD."
                    .into(),
            );
        }
        let default_name = std::env::var("USER").unwrap_or_default();
        let username = loop {
            let asked = match (&username, default_name.is_empty()) {
                (Some(given), _) => given.clone(),
                (None, true) => prompt_line("Username: ")?,
                (None, false) => {
                    let answer = prompt_line(&format!("Username (leave blank to use '{default_name}'): "))?;
                    if answer.is_empty() { default_name.clone() } else { answer }
                }
            };
            if let Some(problem) = username_problem(&asked) {
                eprintln!("Error: {problem}");
            } else if username_taken(&db, &asked).await? {
                eprintln!("Error: That username is already taken.");
            } else {
                break asked;
            }
            if username.is_some() {
                return Err("the --username given cannot be used".into());
            }
        };
        let email = loop {
            let asked = match &email {
                Some(given) => given.clone(),
                None => prompt_line("Email address: ")?,
            };
            if asked.is_empty() || is_valid_email(&asked) {
                break asked;
            }
            eprintln!("Error: Enter a valid email address.");
            if email.is_some() {
                return Err("the --email given is not a valid email address".into());
            }
        };
        let password = loop {
            let first = prompt_password("Password: ")?;
            let second = prompt_password("Password (again): ")?;
            if first != second {
                eprintln!("Error: Your passwords didn't match.");
                continue;
            }
            if first.trim().is_empty() {
                eprintln!("Error: Blank passwords aren't allowed.");
                continue;
            }
            let problems = validate_password(&first, min_length, &[&username, &email]);
            if problems.is_empty() {
                break first;
            }
            for p in &problems {
                eprintln!("{p}");
            }
            let bypass = prompt_line("Bypass password validation and create user anyway? [y/N]: ")?;
            if bypass.trim().eq_ignore_ascii_case("y") {
                break first;
            }
        };
        insert_superuser(&db, &username, &email, make_password(&password)).await?;
        println!("Superuser created successfully.");
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `changepassword [USERNAME]`: three tries to type a valid password twice.
pub(crate) fn changepassword(site: &Site, username: Option<String>) -> ExitCode {
    let min_length = site.settings().auth.password_min_length;
    let result = super::block_on(async {
        let db = connect(site).await?;
        let username = username.or_else(|| std::env::var("USER").ok()).unwrap_or_default();
        let found = user::Entity::find()
            .filter(user::Column::Username.eq(&username))
            .one(&db)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("user '{username}' does not exist"))?;
        println!("Changing password for user '{username}'");
        for _attempt in 0..3 {
            let first = prompt_password("Password: ")?;
            let second = prompt_password("Password (again): ")?;
            if first != second {
                eprintln!("Passwords do not match. Please try again.");
                continue;
            }
            let problems = validate_password(&first, min_length, &[&found.username, &found.email]);
            if !problems.is_empty() {
                eprintln!("{}", problems.join("\n"));
                continue;
            }
            crate::auth::set_password(&db, &found, &first).await.map_err(|e| e.to_string())?;
            println!("Password changed successfully for user '{username}'");
            return Ok(());
        }
        Err(format!("Aborting password change for user '{username}' after 3 attempts"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
