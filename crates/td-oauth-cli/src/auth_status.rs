//! `auth status`: every login `td-oauth login` kept, as `gh auth status` shows its own: the token endpoint,
//! client, user, where the refresh token is kept and when it last rotated; never a token. A login works
//! when its refresh token can be read; with `--check`, when a token can be obtained with it now (which
//! rotates it, as `token --user` does). Exit status 0 when every login shown works, 1 otherwise.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use td_oauth_core::Scopes;

use crate::args::Connection;
use crate::error::CliError;
use crate::login_store::{self, LoginStore, Record, Storage};
use crate::output::{clean, out};

/// How one login stands.
enum Health {
    /// Its refresh token can be read (not checked with the server).
    Readable,
    /// A token was obtained with it now.
    Checked,
    /// `--check` without this client's credentials.
    NotChecked,
    /// It does not work, and why.
    Failing(String),
}

impl Health {
    fn works(&self) -> bool {
        matches!(self, Health::Readable | Health::Checked)
    }

    fn as_str(&self) -> &'static str {
        match self {
            Health::Readable => "ok",
            Health::Checked => "ok",
            Health::NotChecked => "not_checked",
            Health::Failing(_) => "failing",
        }
    }

    fn describe(&self) -> String {
        match self {
            Health::Readable => "ok (the refresh token can be read; --check obtains a token with it)".into(),
            Health::Checked => "ok: a token was obtained now".into(),
            Health::NotChecked => {
                "not checked: give this client's --client-id and its key or secret to check it".into()
            }
            Health::Failing(why) => format!("failing: {why}"),
        }
    }
}

/// Lists the logins the connection's flags select (all when they name no token endpoint or client).
pub(crate) fn status(connection: &Connection, check: bool, json: bool) -> Result<(), CliError> {
    let token_url = match (&connection.account, &connection.token_url) {
        (None, None) => None,
        _ => Some(connection.endpoints()?.token_url().as_str().to_owned()),
    };
    let selected = |record: &Record| {
        token_url.as_ref().is_none_or(|url| *url == record.token_url)
            && connection.client_id.as_ref().is_none_or(|id| *id == record.client_id)
    };
    let mut shown = Vec::new();
    for (store, record) in login_store::all()? {
        match record {
            Ok(record) if !selected(&record) => {}
            Ok(record) => {
                let health = health(connection, &store, &record, check);
                shown.push((store, Ok(record), health));
            }
            // A record that cannot be read is shown whatever the flags select: it is broken either way.
            Err(err) => shown.push((store, Err(()), Health::Failing(err.to_string()))),
        }
    }
    if json {
        let logins: Vec<Value> = shown.iter().map(|(store, record, health)| to_json(store, record, health)).collect();
        out!("{}", Value::Array(logins))?;
    } else {
        for (at, (store, record, health)) in shown.iter().enumerate() {
            if at > 0 {
                out!("")?;
            }
            print_text(store, record, health)?;
        }
    }
    let failing = shown.iter().filter(|(_, _, health)| !health.works()).count();
    match (shown.len(), failing) {
        (0, _) => Err(CliError::Failed("no login is kept (for these flags): run `td-oauth login`".into())),
        (_, 0) => Ok(()),
        (all, failing) => Err(CliError::Failed(format!("{failing} of {all} login(s) do not work: see above"))),
    }
}

/// Whether the login works: its refresh token read, or with `check` a token obtained with the client's
/// credentials from the flags.
fn health(connection: &Connection, store: &LoginStore, record: &Record, check: bool) -> Health {
    if !check {
        return match store.load() {
            Ok(_) => Health::Readable,
            Err(err) => Health::Failing(err.to_string()),
        };
    }
    if connection.client_id.as_deref() != Some(record.client_id.as_str()) {
        return Health::NotChecked;
    }
    let for_login =
        Connection { account: None, region: None, token_url: Some(record.token_url.clone()), ..connection.clone() };
    match login_store::user_token(&for_login, Scopes::none(), false) {
        Ok(_) => Health::Checked,
        Err(err) => Health::Failing(err.to_string()),
    }
}

/// Seconds since the epoch as an HTTP date (what the CLI prints elsewhere), in UTC.
fn date(secs: Option<u64>) -> String {
    secs.and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
        .map_or_else(|| "not known".into(), httpdate::fmt_http_date)
}

fn print_text(store: &LoginStore, record: &Result<Record, ()>, health: &Health) -> Result<(), CliError> {
    let Ok(record) = record else {
        out!("{}", store.path().display())?;
        return out!("  status:    {}", indent(&health.describe()));
    };
    out!("{}", clean(&store.describe()))?;
    let user = match (&record.user.sub, &record.user.name) {
        (Some(sub), Some(name)) => format!("{} ({})", clean(sub), clean(name)),
        (Some(sub), None) => clean(sub),
        (None, Some(name)) => clean(name),
        (None, None) => "not known (the login had no ID token: log in with --scope \"openid …\")".into(),
    };
    out!("  user:      {user}")?;
    out!("  kept in:   {}", store.where_kept(record.storage))?;
    out!("  scope:     {}", record.scope.as_deref().map_or_else(|| "not known".into(), clean))?;
    out!("  logged in: {}", date(record.logged_in_at))?;
    out!("  rotated:   {}", date(record.rotated_at))?;
    out!("  status:    {}", indent(&health.describe()))
}

/// A message of several lines (an error with its hint), its later lines under the first.
fn indent(text: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join("\n             ")
}

fn to_json(store: &LoginStore, record: &Result<Record, ()>, health: &Health) -> Value {
    let error = match health {
        Health::Failing(why) => Some(why.as_str()),
        _ => None,
    };
    let Ok(record) = record else {
        return json!({ "file": store.path(), "status": health.as_str(), "error": error });
    };
    let (storage, file) = match record.storage {
        Storage::Keyring => ("keyring", None),
        Storage::File => ("file", Some(store.path())),
    };
    json!({
        "token_url": record.token_url,
        "client_id": record.client_id,
        "user": { "sub": record.user.sub, "name": record.user.name },
        "storage": storage,
        "file": file,
        "scope": record.scope,
        "logged_in_at": record.logged_in_at,
        "rotated_at": record.rotated_at,
        "status": health.as_str(),
        "checked": matches!(health, Health::Checked),
        "error": error,
    })
}
