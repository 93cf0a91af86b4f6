//! `inspect`: a JWT's header and claims, decoded but not trusted.

use std::io::Read as _;
use std::time::SystemTime;

use td_oauth_core::UnverifiedJwt;

use crate::error::CliError;

pub(crate) fn inspect(token: Option<&str>) -> Result<(), CliError> {
    let token = match token {
        Some(token) => token.to_owned(),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|err| CliError::Input(format!("cannot read a JWT from standard input: {err}")))?;
            text
        }
    };
    let jwt = UnverifiedJwt::decode(token.trim())?;
    let pretty = |map| serde_json::to_string_pretty(map).unwrap_or_default();
    println!("header: {}", pretty(jwt.header()));
    println!("claims: {}", pretty(jwt.claims()));
    println!("signature: {} bytes (not verified: Talkdesk publishes no keys to verify it with)", jwt.signature_len());
    if let Some(expires_at) = jwt.expires_at() {
        let when = httpdate::fmt_http_date(expires_at);
        match expires_at.duration_since(SystemTime::now()) {
            Ok(left) => println!("expires: {when} (in {} s)", left.as_secs()),
            Err(past) => println!("expired: {when} ({} s ago)", past.duration().as_secs()),
        }
    }
    Ok(())
}
