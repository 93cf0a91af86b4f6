//! The SQL a [`PostgresStore`](crate::PostgresStore) runs, prepared once per connection, and the channel
//! its writes are announced on.

use tokio_postgres::{Client, Statement};

/// The channel every write is announced on: `VERSION KEY`.
pub(crate) const CHANNEL: &str = "td_oauth_installations";

const GET: &str = "SELECT version, value FROM td_oauth_installations WHERE key = $1";

const INSERT: &str = "WITH written AS (
    INSERT INTO td_oauth_installations (key, version, value) VALUES ($1, 1, $2)
    ON CONFLICT (key) DO NOTHING
    RETURNING key, version
) SELECT version, pg_notify('td_oauth_installations', version::text || ' ' || key) FROM written";

const UPDATE: &str = "WITH written AS (
    UPDATE td_oauth_installations SET version = version + 1, value = $2, updated_at = now()
    WHERE key = $1 AND version = $3
    RETURNING key, version
) SELECT version, pg_notify('td_oauth_installations', version::text || ' ' || key) FROM written";

const LIST: &str = "SELECT key, version, value FROM td_oauth_installations ORDER BY key";

/// Takes the event unless a live row (a claim or a done-marker) holds it: one row back means claimed.
const CLAIM: &str = "INSERT INTO td_oauth_events (event_id, state, holder, expires_at)
    VALUES ($1, 'claimed', $3, clock_timestamp() + $2::bigint * interval '1 millisecond')
    ON CONFLICT (event_id) DO UPDATE SET state = 'claimed', holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE td_oauth_events.expires_at <= clock_timestamp()
    RETURNING 1";

const STATE: &str = "SELECT state FROM td_oauth_events WHERE event_id = $1 AND expires_at > clock_timestamp()";

const FINISH: &str = "INSERT INTO td_oauth_events (event_id, state, expires_at)
    VALUES ($1, 'done', clock_timestamp() + $2::bigint * interval '1 millisecond')
    ON CONFLICT (event_id) DO UPDATE SET state = 'done', holder = NULL, expires_at = EXCLUDED.expires_at";

/// Deletes the holder's own claim, never another holder's or a done-marker.
const RELEASE: &str = "DELETE FROM td_oauth_events WHERE event_id = $1 AND state = 'claimed' AND holder = $2";

const SWEEP: &str = "DELETE FROM td_oauth_events WHERE expires_at <= clock_timestamp()";

/// The store's statements, prepared once per connection, so that each call is one round trip.
pub(crate) struct Statements {
    pub(crate) get: Statement,
    pub(crate) insert: Statement,
    pub(crate) update: Statement,
    pub(crate) list: Statement,
    pub(crate) claim: Statement,
    pub(crate) state: Statement,
    pub(crate) finish: Statement,
    pub(crate) release: Statement,
    pub(crate) sweep: Statement,
}

impl Statements {
    pub(crate) async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
        Ok(Statements {
            get: client.prepare(GET).await?,
            insert: client.prepare(INSERT).await?,
            update: client.prepare(UPDATE).await?,
            list: client.prepare(LIST).await?,
            claim: client.prepare(CLAIM).await?,
            state: client.prepare(STATE).await?,
            finish: client.prepare(FINISH).await?,
            release: client.prepare(RELEASE).await?,
            sweep: client.prepare(SWEEP).await?,
        })
    }
}
