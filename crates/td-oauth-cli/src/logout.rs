//! `logout`: the login `td-oauth login` kept for a client, removed.

use crate::args::Connection;
use crate::error::CliError;
use crate::login_store::LoginStore;
use crate::output::report;

/// Removes the kept login of this client at this token endpoint; none kept is no error.
pub(crate) fn logout(connection: &Connection) -> Result<(), CliError> {
    let store = LoginStore::for_connection(connection)?;
    if store.remove()? {
        report(format_args!("logged out: removed {} ({})", store.path().display(), store.describe()));
    } else {
        report(format_args!("not logged in: no login is kept for {}", store.describe()));
    }
    Ok(())
}
