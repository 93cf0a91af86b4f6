//! `whoami`: who the token's user is, from `/users/me`. Needs a user token (a refresh token from the
//! authorization-code flow); the client's own token has no user, and Talkdesk says so with a 400.

use serde_json::json;

use crate::args::{ApiTarget, Connection};
use crate::error::CliError;
use crate::output::out;

pub(crate) fn whoami(connection: &Connection, target: &ApiTarget, json: bool) -> Result<(), CliError> {
    let me = target.client(connection)?.userinfo()?;
    if json {
        return out!("{}", json!({ "id": me.id, "sub": me.sub, "name": me.name, "email": me.email }));
    }
    out!("id:    {}", me.id)?;
    for (label, value) in [("sub:  ", &me.sub), ("name: ", &me.name), ("email:", &me.email)] {
        if let Some(value) = value {
            out!("{label} {value}")?;
        }
    }
    Ok(())
}
