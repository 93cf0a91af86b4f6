-- td-oauth installation store, schema 1. Safe to run more than once; replicas running it at once wait for
-- each other (the advisory lock).
SELECT pg_advisory_xact_lock(7237392405361011201);

-- One row per installation: the sealed record and its compare-and-set version.
CREATE TABLE IF NOT EXISTS td_oauth_installations (
    key        text        PRIMARY KEY,
    version    bigint      NOT NULL CHECK (version > 0),
    value      bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- AppConnect events being handled ('claimed' by holder, until the lease ends) or handled ('done',
-- remembered for a while). Rows past expires_at mean nothing and are deleted by the store.
CREATE TABLE IF NOT EXISTS td_oauth_events (
    event_id   text        PRIMARY KEY,
    state      text        NOT NULL CHECK (state IN ('claimed', 'done')),
    holder     text,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS td_oauth_events_expires_at ON td_oauth_events (expires_at);
