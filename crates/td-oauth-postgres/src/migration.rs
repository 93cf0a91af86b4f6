//! The schema, created only when asked: [`migrate`] (or [`PostgresStore::migrate`](crate::PostgresStore::migrate)),
//! or the same SQL ([`MIGRATION`], also in docs/installation-store.md) run by hand. A store on a database
//! without it answers [`StoreError::NotMigrated`] naming this.

use tokio_postgres::Client;

/// The SQL that creates the store's tables: `migrations/0001_installation_store.sql`. Idempotent, and safe
/// for replicas to run at once.
pub const MIGRATION: &str = include_str!("../migrations/0001_installation_store.sql");

/// Creates the store's tables on the database `client` is connected to, if they are missing, in one
/// transaction. The user needs the right to `CREATE TABLE` there; the store itself needs only `SELECT`,
/// `INSERT`, `UPDATE` and `DELETE` on the two tables afterwards.
pub async fn migrate(client: &Client) -> Result<(), tokio_postgres::Error> {
    // A simple query of several statements runs as one transaction (so the advisory lock holds to its end).
    client.batch_execute(MIGRATION).await
}
