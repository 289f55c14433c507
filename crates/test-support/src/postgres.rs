//! Throwaway PostgreSQL databases and roles, made and dropped through an admin connection
//! (`postgres` with trust authentication on the loopback, as CI sets it up).

use crate::Error;
use sqlx::Connection;

/// Where the tests' PostgreSQL is administered from.
pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs one statement on `admin_url` (its own connection, closed afterwards).
pub async fn execute(admin_url: &str, statement: &str) -> Result<(), Error> {
    let failed = |source| Error::Postgres {
        url: admin_url.to_owned(),
        source,
    };
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(failed)?;
    sqlx::query(statement)
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    conn.close().await.map_err(failed)
}

pub async fn create_database(admin_url: &str, name: &str) -> Result<(), Error> {
    execute(admin_url, &format!("CREATE DATABASE \"{name}\"")).await
}

/// Drops `name` even while connections are open on it (`WITH (FORCE)`); no error when it is
/// gone already.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), Error> {
    execute(
        admin_url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await
}

/// The URL of database `name` on the server of `admin_url` (same user and host).
pub fn database_url(admin_url: &str, name: &str) -> Result<String, Error> {
    let mut url =
        url::Url::parse(admin_url).map_err(|e| Error::PostgresUrl(format!("{admin_url}: {e}")))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_keeps_the_admin_urls_server_and_user() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "soak_1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/soak_1"
        );
        assert!(database_url("not a url", "x").is_err());
    }
}
