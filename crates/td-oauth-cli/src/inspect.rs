//! `inspect`: a JWT's header and claims, decoded but not trusted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use td_oauth_core::jwt::UnverifiedJwt;

use crate::error::CliError;
use crate::output::out;
use crate::secrets;

pub(crate) fn inspect(token: Option<&str>) -> Result<(), CliError> {
    let token = match token {
        None | Some("-") => secrets::read_stdin("JWT")?,
        Some(token) => zeroize::Zeroizing::new(token.trim().to_owned()),
    };
    let jwt = UnverifiedJwt::decode(&token)?;
    let pretty = |map| serde_json::to_string_pretty(map).unwrap_or_default();
    out!("header: {}", pretty(jwt.header()))?;
    out!("claims: {}", pretty(jwt.claims()))?;
    out!("signature: {} bytes (not verified: Talkdesk publishes no keys to verify it with)", jwt.signature_len())?;
    if let Some(expires_at) = jwt.expires_at() {
        let when = http_date(expires_at);
        match expires_at.duration_since(SystemTime::now()) {
            Ok(left) => out!("expires: {when} (in {} s)", left.as_secs())?,
            Err(past) => out!("expired: {when} ({} s ago)", past.duration().as_secs())?,
        }
    }
    Ok(())
}

/// An HTTP date, or the seconds since the epoch for a time HTTP dates cannot write (year 10000 and later,
/// where `httpdate` panics): a JWT's `exp` is whatever its issuer wrote.
fn http_date(time: SystemTime) -> String {
    // 10000-01-01T00:00:00Z.
    const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) if since < YEAR_10000 => httpdate::fmt_http_date(time),
        Ok(since) => format!("{} s after 1970 (after the year 9999)", since.as_secs()),
        Err(_) => "before 1970".to_owned(),
    }
}
