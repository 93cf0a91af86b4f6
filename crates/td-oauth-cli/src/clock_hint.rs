//! The token endpoint's clock offset, kept between runs: each `td-oauth` run is a new process, so without it
//! every run against an endpoint whose clock is off would pay the one corrected retry that measuring costs.
//!
//! An offset td-oauth-core corrects assertions for (over 30 s, up to an hour) is kept for a day in
//! `~/.cache/td-oauth/clock/` (a private directory, as the token cache), one file per token URL, named by a
//! hash of it, holding that URL, the offset and when it was measured; any other offset removes the file. A run signs its first assertion on the kept offset, and the endpoint's first answer
//! replaces it ([`TokenClient::with_clock_offset`]), so a stale one costs what no file would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use td_oauth_core::TokenClient;
use td_oauth_core::clock::ClockOffset;
use td_oauth_core::clock::offset::{MAX_OFFSET_CORRECTION, OFFSET_THRESHOLD};
use td_oauth_core::crypto::digest_hex;

use crate::store::{self, PrivateDir};

/// How long a kept offset is used.
const KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);

const WHAT: &str = "clock offset file";

/// `tokens` starting from the offset kept for its token URL, if a fresh one is; anything unusable (no
/// directory, a file someone else wrote, an old or malformed one) is passed over.
pub(crate) fn apply(tokens: TokenClient) -> TokenClient {
    match kept(&tokens) {
        Some(offset) => tokens.with_clock_offset(offset),
        None => tokens,
    }
}

/// Keeps (or forgets) what `tokens` measured, for the next run. Failing to is said at debug level only: the
/// next run then measures again.
pub(crate) fn keep(tokens: &TokenClient) {
    let Some(offset) = tokens.clock_offset() else { return };
    let Ok(dir) = store::cache_dir("clock") else { return };
    let name = file_name(tokens);
    // Only an offset assertions are corrected for: one beyond the maximum would refuse every later run
    // before it could measure again.
    let kept = if offset.magnitude() > OFFSET_THRESHOLD && offset.magnitude() <= MAX_OFFSET_CORRECTION {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let record = json!({
            "token_url": tokens.token_url().as_str(),
            "offset_ms": offset.as_millis(),
            "measured_at": now,
        });
        PrivateDir::create(dir).and_then(|dir| dir.write(&name, record.to_string().as_bytes(), WHAT))
    } else {
        PrivateDir::open(dir).and_then(|dir| dir.remove(&name, WHAT).map(drop))
    };
    if let Err(err) = kept {
        tracing::debug!(%err, "the clock offset could not be kept for the next run");
    }
}

fn kept(tokens: &TokenClient) -> Option<ClockOffset> {
    let dir = PrivateDir::open(store::cache_dir("clock").ok()?).ok()?;
    let bytes = dir.read(&file_name(tokens), WHAT).ok()??;
    let record: Value = serde_json::from_slice(&bytes).ok()?;
    if record["token_url"].as_str() != Some(tokens.token_url().as_str()) {
        return None;
    }
    let measured = UNIX_EPOCH.checked_add(Duration::from_secs(record["measured_at"].as_u64()?))?;
    let age = SystemTime::now().duration_since(measured).ok()?;
    let offset = ClockOffset::from_millis(record["offset_ms"].as_i64()?);
    (age <= KEPT_FOR).then_some(offset)
}

fn file_name(tokens: &TokenClient) -> String {
    format!("{}.json", &digest_hex(&[tokens.token_url().as_str().as_bytes()])[..32])
}
