//! `assertion`: one freshly signed client assertion.

use std::time::SystemTime;

use td_oauth_core::random::OsRandom;

use crate::args::Connection;
use crate::error::CliError;
use crate::output::out;

pub(crate) fn assertion(connection: &Connection) -> Result<(), CliError> {
    let client = connection.token_client()?;
    let signer = client.assertion_signer().ok_or_else(|| {
        CliError::Input(
            "an assertion needs a private key (--private-key-file or TALKDESK_PRIVATE_KEY), not a client secret".into(),
        )
    })?;
    let assertion = signer.sign(SystemTime::now(), &OsRandom::new())?;
    out!("{}", assertion.secret())
}
