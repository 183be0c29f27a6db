//! Saying where PostgreSQL and NATS are without saying their passwords: start-up errors and logs
//! name the place an operator must look at, and nothing that must stay secret.

use sqlx::postgres::PgConnectOptions;

/// `user@host:port/database` of a PostgreSQL connection (the password is never part of it).
pub(crate) fn describe_database(options: &PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
    )
}

/// `url` with any user information (`user:password@`, a token) removed from every server of a
/// comma-separated NATS server list.
pub(crate) fn describe_nats(url: &str) -> String {
    url.split(',')
        .map(|server| without_user_info(server.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `url` without its user information: everything between the scheme and the last `@` of the
/// authority (a user and password, or a token) goes.
pub(crate) fn without_user_info(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn database_description_has_no_password() {
        let options = PgConnectOptions::from_str("postgres://app:s3cret@db.internal:5433/requests")
            .expect("a valid URL");
        let described = describe_database(&options);
        assert_eq!(described, "app@db.internal:5433/requests");
        assert!(!described.contains("s3cret"));
    }

    #[test]
    fn nats_description_drops_credentials_of_every_server() {
        assert_eq!(
            describe_nats("nats://u:pw@a:4222, nats://token@b:4222"),
            "nats://a:4222,nats://b:4222"
        );
        assert_eq!(
            describe_nats("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(without_user_info("u:pw@host:4222"), "host:4222");
    }
}
