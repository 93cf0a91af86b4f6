//! `whoami`: who the token's user is, from `/users/me`. Needs a user token (a refresh token from the
//! authorization-code flow); the client's own token has no user, and Talkdesk says so with a 400.

//!
//! Every field is server text: the access token the request carried is replaced wherever it appears, and the
//! lines are cleaned for the terminal as error texts are ([`crate::output::clean`]).

use serde_json::json;

use crate::args::{ApiTarget, Connection};
use crate::error::CliError;
use crate::output::{clean, out};

pub(crate) fn whoami(connection: &Connection, target: &ApiTarget, json: bool) -> Result<(), CliError> {
    let (client, sent) = target.client(connection)?;
    let me = client.userinfo().map_err(|err| sent.redact_error(err.into()))?;
    let shown = |value: &str| sent.redact(value);
    if json {
        let field = |value: &Option<String>| value.as_deref().map(shown);
        return out!(
            "{}",
            json!({ "id": field(&me.id), "sub": field(&me.sub), "name": field(&me.name), "email": field(&me.email) })
        );
    }
    // Talkdesk sends `id` and `sub`; a standard OpenID Connect userinfo answer `sub` only: each line shown
    // when its field is.
    for (label, value) in [("id:   ", &me.id), ("sub:  ", &me.sub), ("name: ", &me.name), ("email:", &me.email)] {
        if let Some(value) = value {
            out!("{label} {}", clean(&shown(value)))?;
        }
    }
    Ok(())
}
