//! `logout`: the login `td-oauth login` kept for a client removed, wherever it is kept; `--all`: every one.

use crate::args::Connection;
use crate::error::CliError;
use crate::login_store::{self, LoginStore};
use crate::output::report;

/// Removes the kept login of this client at this token endpoint (none kept is no error), or with `all`
/// every kept login.
pub(crate) fn logout(connection: &Connection, all: bool) -> Result<(), CliError> {
    if all {
        return logout_all();
    }
    let store = LoginStore::for_connection(connection)?;
    match store.remove()? {
        Some(storage) => report(format_args!(
            "logged out: removed the login of {} from {}",
            store.describe(),
            store.where_kept(storage)
        )),
        None => report(format_args!("not logged in: no login is kept for {}", store.describe())),
    }
    Ok(())
}

/// Removes every kept login, going on past one that cannot be removed; an error if any could not be.
fn logout_all() -> Result<(), CliError> {
    let logins = login_store::all()?;
    if logins.is_empty() {
        report(format_args!("not logged in: no login is kept"));
        return Ok(());
    }
    let mut failed = 0usize;
    for (store, record) in logins {
        let shown = match &record {
            Ok(_) => store.describe(),
            Err(_) => store.path().display().to_string(),
        };
        let removed = match record {
            Ok(_) => store.remove().map(|storage| storage.map(|storage| store.where_kept(storage))),
            // A record that cannot be read names no keyring entry: its file goes.
            Err(_) => store.remove_record_file().map(|removed| removed.then(|| "its file".to_owned())),
        };
        match removed {
            Ok(Some(place)) => report(format_args!("logged out: removed the login of {shown} from {place}")),
            Ok(None) => {}
            Err(err) => {
                failed = failed.saturating_add(1);
                report(format_args!("{err}"));
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::Failed(format!("{n} login(s) could not be removed: see above"))),
    }
}
