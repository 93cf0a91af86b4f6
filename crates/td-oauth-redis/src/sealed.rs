//! Tokens sealed for a cache shared between processes (a Redis fleet cache): AES-256-GCM with a key the
//! user supplies, bound to the cache key it is stored under, so that a dump of the cache holds no usable
//! token and a value copied under another key does not open. Sans-IO: clocks and randomness are passed in.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use td_oauth_core::crypto::{self, AEAD_NONCE_LEN as NONCE_LEN, AEAD_TAG_LEN as TAG_LEN, SealingKey};
use td_oauth_core::provider::SharedBackoff;
use td_oauth_core::random::RandomSource;
use td_oauth_core::{AccessToken, ClientId, Grant, Scopes, TokenClient, TokenResponse};

use crate::Error;

/// The first byte of every sealed value: the format below. A new format gets a new byte.
const VERSION: u8 = 1;
/// The prefix of every cache key: the project, then the key format's version. Version 2 puts the hash in
/// a Redis Cluster hash tag (`{…}`), so that a fleet key's token and lease live in one slot.
const KEY_PREFIX: &str = "td-oauth:v2:";

/// Why a sealed token could not be opened. None of them says anything about the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedProblem {
    /// Too short to be a sealed token.
    Truncated,
    /// The first byte is not a format this version knows.
    UnknownVersion(u8),
    /// Authentication failed: the value was altered, sealed with another key, or stored under another
    /// cache key. AES-GCM cannot tell these apart, on purpose.
    NotAuthentic,
    /// It opened, but what is inside is not a sealed token (a bug in whoever wrote it).
    Malformed,
    /// It opened, but the token has expired.
    Expired,
}

impl fmt::Display for SealedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedProblem::Truncated => f.write_str("the value is too short to be a sealed token"),
            SealedProblem::UnknownVersion(version) => {
                write!(f, "the value has format version {version}, which this version of td-oauth cannot read")
            }
            SealedProblem::NotAuthentic => f.write_str(
                "the value does not authenticate: it was altered, sealed with another key, or copied from another \
                 cache key; check that every process uses the same sealing key",
            ),
            SealedProblem::Malformed => f.write_str("the value opened but does not hold a sealed token"),
            SealedProblem::Expired => f.write_str("the sealed token has expired"),
        }
    }
}

/// Where one client's token lives in a shared cache: a SHA-256 of the token URL, client id and scopes,
/// so that the key names no client, account or scope in clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FleetKey {
    digest: String,
    token_key: String,
    lease_key: String,
    backoff_key: String,
}

impl FleetKey {
    /// The key for tokens of `client_id` with `scopes` from `token_url`.
    pub fn new(token_url: &str, client_id: &ClientId, scopes: &Scopes) -> Self {
        let hex =
            crypto::digest_hex(&[token_url.as_bytes(), client_id.as_str().as_bytes(), scopes.as_str().as_bytes()]);
        FleetKey {
            token_key: format!("{KEY_PREFIX}{{{hex}}}:token"),
            lease_key: format!("{KEY_PREFIX}{{{hex}}}:lease"),
            backoff_key: format!("{KEY_PREFIX}{{{hex}}}:backoff"),
            digest: hex,
        }
    }

    /// The key of the token `tokens` gets for `grant`, if it is one to share: a client-credentials token is
    /// the client's, the same for every process; the others (authorization code, refresh token) are a
    /// user's, so `None`.
    pub fn for_grant(tokens: &TokenClient, grant: &Grant) -> Option<FleetKey> {
        match grant {
            Grant::ClientCredentials { scopes } => {
                Some(FleetKey::new(tokens.token_url().as_str(), tokens.client_id(), scopes))
            }
            _ => None,
        }
    }

    /// The SHA-256 of token URL, client id and scopes in hex (64 characters), which both keys carry: a name
    /// for a store that is not Redis (a file).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `td-oauth:v2:{<hex>}:token`: where the sealed token is stored. The braces are a Redis Cluster hash
    /// tag: the slot is the hash's, the same as the lease's.
    pub fn token_key(&self) -> &str {
        &self.token_key
    }

    /// `td-oauth:v2:{<hex>}:lease`: the lock one process holds while it fetches for the others.
    pub fn lease_key(&self) -> &str {
        &self.lease_key
    }

    /// `td-oauth:v2:{<hex>}:backoff`: the refusal the fleet waits out before its next token request (see
    /// [`seal_backoff`]). Same hash tag, so same slot, as the token and the lease.
    pub fn backoff_key(&self) -> &str {
        &self.backoff_key
    }
}

/// What is encrypted. Refresh tokens and ID tokens are never stored.
#[derive(Serialize, Deserialize)]
struct Plain<'a> {
    #[serde(borrow)]
    access_token: std::borrow::Cow<'a, str>,
    token_type: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// Unix milliseconds.
    expires_at: u64,
    /// Unix milliseconds.
    issued_at: u64,
}

/// Seals `token` for storage under `fleet_key`: version byte, 96-bit random nonce, then AES-256-GCM of the
/// access token, scope, session id and the wall-clock issue and expiry times, with the token key as
/// associated data. `now` and `wall` are the same moment on the monotonic and the wall clock.
pub fn seal(
    token: &TokenResponse,
    key: &SealingKey,
    fleet_key: &FleetKey,
    now: Instant,
    wall: SystemTime,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let plain = Plain::of(token, now, wall)?;
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + 256);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    let mut body = Zeroizing::new(
        serde_json::to_vec(&plain).map_err(|_| td_oauth_core::Error::Crypto("the token could not be encoded"))?,
    );
    key.seal_in_place(nonce, fleet_key.token_key().as_bytes(), &mut body)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// A token opened from a shared cache (or read back with [`decode_unsealed`]).
#[derive(Debug, Clone)]
pub struct SealedToken {
    token: TokenResponse,
    lifetime: Duration,
}

impl SealedToken {
    /// The token, as if received at the `now` it was opened at, with `expires_in` what remains.
    pub fn token(&self) -> &TokenResponse {
        &self.token
    }

    /// The token, owned.
    pub fn into_token(self) -> TokenResponse {
        self.token
    }

    /// The token's whole lifetime when it was issued (its original `expires_in`), to tell whether what
    /// remains is little enough to refresh.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Whether less than `percent` % of the lifetime remains.
    pub fn remaining_below_percent(&self, percent: u32) -> bool {
        let remaining = self.token.expires_in().as_millis();
        remaining.saturating_mul(100) < self.lifetime.as_millis().saturating_mul(u128::from(percent))
    }
}

/// Opens a value [`seal`] made for `fleet_key` with `key`. `now` and `wall` are the same moment on the
/// monotonic and the wall clock; the returned token expires on the monotonic clock when it does on the
/// wall clock.
pub fn open(
    bytes: &[u8],
    key: &SealingKey,
    fleet_key: &FleetKey,
    now: Instant,
    wall: SystemTime,
) -> Result<SealedToken, Error> {
    let refuse = |problem| Error::Sealed { problem };
    let (&version, rest) = bytes.split_first().ok_or(refuse(SealedProblem::Truncated))?;
    if version != VERSION {
        return Err(refuse(SealedProblem::UnknownVersion(version)));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(refuse(SealedProblem::Truncated));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| refuse(SealedProblem::Truncated))?;
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let json = key
        .open_in_place(nonce, fleet_key.token_key().as_bytes(), &mut buffer)
        .ok_or(refuse(SealedProblem::NotAuthentic))?;
    Plain::read(json, now, wall)
}

/// `token` as the JSON that [`seal`] encrypts, unencrypted: the access token, scope, session id and the
/// wall-clock issue and expiry times, for a store that protects it by other means (a file only its owner can
/// read). The bytes are wiped on drop. `now` and `wall` are the same moment on both clocks.
pub fn encode_unsealed(token: &TokenResponse, now: Instant, wall: SystemTime) -> Result<Zeroizing<Vec<u8>>, Error> {
    let plain = Plain::of(token, now, wall)?;
    Ok(Zeroizing::new(
        serde_json::to_vec(&plain).map_err(|_| td_oauth_core::Error::Crypto("the token could not be encoded"))?,
    ))
}

/// Reads back what [`encode_unsealed`] wrote, with the same checks as [`open`]: an expired token or bytes that
/// are not such a token are refused.
pub fn decode_unsealed(bytes: &[u8], now: Instant, wall: SystemTime) -> Result<SealedToken, Error> {
    Plain::read(bytes, now, wall)
}

impl Plain<'_> {
    fn of(token: &TokenResponse, now: Instant, wall: SystemTime) -> Result<Plain<'_>, Error> {
        let wall_ms = unix_ms(wall)?;
        let remaining = token.expires_at().saturating_duration_since(now);
        let age = now.saturating_duration_since(token.received_at());
        Ok(Plain {
            access_token: token.access_token().secret().into(),
            token_type: "Bearer".into(),
            scope: token.scope().map(str::to_owned),
            sid: token.session_id().map(str::to_owned),
            expires_at: wall_ms.saturating_add(millis(remaining)),
            issued_at: wall_ms.saturating_sub(millis(age)),
        })
    }

    fn read(json: &[u8], now: Instant, wall: SystemTime) -> Result<SealedToken, Error> {
        let refuse = |problem| Error::Sealed { problem };
        let plain: Plain<'_> = serde_json::from_slice(json).map_err(|_| refuse(SealedProblem::Malformed))?;
        if plain.access_token.is_empty() || !plain.token_type.eq_ignore_ascii_case("bearer") {
            return Err(refuse(SealedProblem::Malformed));
        }
        let wall_ms = unix_ms(wall)?;
        if plain.expires_at <= wall_ms {
            return Err(refuse(SealedProblem::Expired));
        }
        let remaining = Duration::from_millis(plain.expires_at - wall_ms);
        let lifetime = Duration::from_millis(plain.expires_at.saturating_sub(plain.issued_at));
        let access_token =
            AccessToken::new(plain.access_token.into_owned()).map_err(|_| refuse(SealedProblem::Malformed))?;
        let token = TokenResponse::from_cache(access_token, remaining, now, plain.scope, plain.sid)
            .ok_or(refuse(SealedProblem::Malformed))?;
        Ok(SealedToken { token, lifetime })
    }
}

/// What a sealed backoff record holds: no secret, but sealed all the same, so that whoever can write to the
/// cache cannot stop the fleet's token requests without the sealing key.
#[derive(Serialize, Deserialize)]
struct PlainBackoff {
    /// Unix milliseconds.
    until: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

/// Seals the fleet's backoff `record` for storage under `fleet_key`'s [`backoff_key`](FleetKey::backoff_key):
/// the same format as [`seal`]'s (version byte, nonce, AES-256-GCM), with the backoff key as associated data,
/// so a sealed token copied there (or a record copied to another key) does not open.
pub fn seal_backoff(
    record: &SharedBackoff,
    key: &SealingKey,
    fleet_key: &FleetKey,
    random: &dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let plain = PlainBackoff { until: unix_ms(record.until())?, status: record.status() };
    let mut body =
        serde_json::to_vec(&plain).map_err(|_| td_oauth_core::Error::Crypto("the backoff could not be encoded"))?;
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce)?;
    key.seal_in_place(nonce, fleet_key.backoff_key().as_bytes(), &mut body)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens a record [`seal_backoff`] made for `fleet_key` with `key`; whether it still holds is the
/// provider's rule to judge ([`BackoffRule::refused`](td_oauth_core::provider::BackoffRule::refused)).
pub fn open_backoff(bytes: &[u8], key: &SealingKey, fleet_key: &FleetKey) -> Result<SharedBackoff, Error> {
    let refuse = |problem| Error::Sealed { problem };
    let (&version, rest) = bytes.split_first().ok_or(refuse(SealedProblem::Truncated))?;
    if version != VERSION {
        return Err(refuse(SealedProblem::UnknownVersion(version)));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(refuse(SealedProblem::Truncated));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| refuse(SealedProblem::Truncated))?;
    let mut buffer = sealed.to_vec();
    let json = key
        .open_in_place(nonce, fleet_key.backoff_key().as_bytes(), &mut buffer)
        .ok_or(refuse(SealedProblem::NotAuthentic))?;
    let plain: PlainBackoff = serde_json::from_slice(json).map_err(|_| refuse(SealedProblem::Malformed))?;
    let until = UNIX_EPOCH.checked_add(Duration::from_millis(plain.until)).ok_or(refuse(SealedProblem::Malformed))?;
    Ok(SharedBackoff::new(until, plain.status))
}

fn unix_ms(wall: SystemTime) -> Result<u64, Error> {
    wall.duration_since(UNIX_EPOCH).map(millis).map_err(|_| Error::from(td_oauth_core::Error::ClockBeforeEpoch))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use td_oauth_core::random::OsRandom;

    fn key() -> SealingKey {
        SealingKey::new([7; 32])
    }

    fn fleet_key(scopes: &str) -> FleetKey {
        FleetKey::new(
            "https://acme.talkdeskid.com/oauth/token",
            &ClientId::new("client").unwrap(),
            &scopes.parse().unwrap(),
        )
    }

    fn token(now: Instant, expires_in: u64) -> TokenResponse {
        let body = format!(
            r#"{{"access_token":"secret-access-token","token_type":"Bearer","expires_in":{expires_in},"scope":"users:read","refresh_token":"secret-refresh","sid":"s1"}}"#
        );
        TokenResponse::from_http(&td_oauth_core::http::Response::builder().status(200).body(body).unwrap(), now)
            .unwrap()
    }

    #[test]
    fn unsealed_round_trip_keeps_the_times_and_drops_the_refresh_token() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let bytes = encode_unsealed(&token(now, 600), now, wall).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("secret-access-token") && !text.contains("secret-refresh"), "{text}");
        let later = now + Duration::from_secs(100);
        let read = decode_unsealed(&bytes, later, wall + Duration::from_secs(100)).unwrap();
        assert_eq!(read.token().access_token().secret(), "secret-access-token");
        assert_eq!(read.token().expires_in(), Duration::from_secs(500));
        assert_eq!(read.lifetime(), Duration::from_secs(600));
        assert!(!read.remaining_below_percent(20));
        let late = decode_unsealed(&bytes, later, wall + Duration::from_secs(500)).unwrap();
        assert!(late.remaining_below_percent(20));
        let expired = decode_unsealed(&bytes, later, wall + Duration::from_secs(600));
        assert!(matches!(expired, Err(Error::Sealed { problem: SealedProblem::Expired })));
        assert!(matches!(decode_unsealed(b"{}", now, wall), Err(Error::Sealed { problem: SealedProblem::Malformed })));
    }

    #[test]
    fn round_trip_keeps_token_scope_and_remaining_time() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let fleet = fleet_key("users:read");
        let sealed = seal(&token(now, 600), &key(), &fleet, now, wall, &OsRandom::new()).unwrap();
        let later = now + Duration::from_secs(100);
        let opened = open(&sealed, &key(), &fleet, later, wall + Duration::from_secs(100)).unwrap();
        assert_eq!(opened.token().access_token().secret(), "secret-access-token");
        assert_eq!(opened.token().scope(), Some("users:read"));
        assert_eq!(opened.token().session_id(), Some("s1"));
        assert_eq!(opened.token().expires_in(), Duration::from_secs(500));
        assert_eq!(opened.token().received_at(), later);
        assert!(opened.token().refresh_token().is_none());
        assert_eq!(opened.lifetime(), Duration::from_secs(600));
        assert!(!opened.remaining_below_percent(20));
        let late = open(&sealed, &key(), &fleet, later, wall + Duration::from_secs(500)).unwrap();
        assert!(late.remaining_below_percent(20));
    }

    #[test]
    fn holds_no_token_in_clear() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let sealed = seal(&token(now, 600), &key(), &fleet_key("users:read"), now, wall, &OsRandom::new()).unwrap();
        for needle in [&b"secret-access-token"[..], b"secret-refresh", b"users:read"] {
            assert!(!sealed.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn refuses_other_keys_versions_expiry_and_truncation() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let fleet = fleet_key("users:read");
        let sealed = seal(&token(now, 60), &key(), &fleet, now, wall, &OsRandom::new()).unwrap();
        let problem = |result: Result<SealedToken, Error>| match result {
            Err(Error::Sealed { problem }) => problem,
            other => panic!("{other:?}"),
        };
        assert_eq!(problem(open(&sealed, &SealingKey::new([8; 32]), &fleet, now, wall)), SealedProblem::NotAuthentic);
        assert_eq!(problem(open(&sealed, &key(), &fleet_key("apps:read"), now, wall)), SealedProblem::NotAuthentic);
        let mut other_version = sealed.clone();
        other_version[0] = 2;
        assert_eq!(problem(open(&other_version, &key(), &fleet, now, wall)), SealedProblem::UnknownVersion(2));
        assert_eq!(problem(open(&sealed[..20], &key(), &fleet, now, wall)), SealedProblem::Truncated);
        assert_eq!(problem(open(&[], &key(), &fleet, now, wall)), SealedProblem::Truncated);
        let expired = open(&sealed, &key(), &fleet, now, wall + Duration::from_secs(60));
        assert_eq!(problem(expired), SealedProblem::Expired);
    }

    #[test]
    fn backoff_records_round_trip_sealed_to_their_key() {
        let fleet = fleet_key("users:read");
        let until = UNIX_EPOCH + Duration::from_millis(1_700_000_012_345);
        let record = SharedBackoff::new(until, Some(429));
        let sealed = seal_backoff(&record, &key(), &fleet, &OsRandom::new()).unwrap();
        assert_eq!(open_backoff(&sealed, &key(), &fleet).unwrap(), record);
        assert!(!sealed.windows(3).any(|w| w == b"429"), "sealed, not in clear");
        let problem = |result: Result<SharedBackoff, Error>| match result {
            Err(Error::Sealed { problem }) => problem,
            other => panic!("{other:?}"),
        };
        assert_eq!(problem(open_backoff(&sealed, &SealingKey::new([8; 32]), &fleet)), SealedProblem::NotAuthentic);
        assert_eq!(problem(open_backoff(&sealed, &key(), &fleet_key("apps:read"))), SealedProblem::NotAuthentic);
        assert_eq!(problem(open_backoff(&sealed[..10], &key(), &fleet)), SealedProblem::Truncated);
        // A sealed token moved under the backoff key does not open as a record, nor a record as a token.
        let (now, wall) = (Instant::now(), SystemTime::now());
        let token = seal(&token(now, 600), &key(), &fleet, now, wall, &OsRandom::new()).unwrap();
        assert_eq!(problem(open_backoff(&token, &key(), &fleet)), SealedProblem::NotAuthentic);
        assert!(matches!(open(&sealed, &key(), &fleet, now, wall), Err(Error::Sealed { .. })));
        let unreachable = SharedBackoff::new(until, None);
        let sealed = seal_backoff(&unreachable, &key(), &fleet, &OsRandom::new()).unwrap();
        assert_eq!(open_backoff(&sealed, &key(), &fleet).unwrap(), unreachable);
    }

    #[test]
    fn fleet_keys_name_nothing_in_clear_and_differ_per_part() {
        let key = fleet_key("users:read");
        assert!(key.token_key().starts_with("td-oauth:v2:{") && key.token_key().ends_with("}:token"));
        assert_eq!(key.token_key().len(), "td-oauth:v2:{".len() + 64 + "}:token".len());
        assert!(key.lease_key().ends_with("}:lease") && key.backoff_key().ends_with("}:backoff"));
        // One hash tag, the same in all three: one cluster slot.
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_owned();
        assert_eq!(tag(key.token_key()), tag(key.lease_key()));
        assert_eq!(tag(key.token_key()), tag(key.backoff_key()));
        assert!(!key.token_key().contains("client") && !key.token_key().contains("users"));
        assert_ne!(key, fleet_key("apps:read"));
        // Length prefixes: moving a character from one part to the next changes the key.
        let a = FleetKey::new("https://x/ab", &ClientId::new("c").unwrap(), &Scopes::none());
        let b = FleetKey::new("https://x/a", &ClientId::new("bc").unwrap(), &Scopes::none());
        assert_ne!(a, b);
        assert_eq!(key.digest().len(), 64);
        assert!(key.token_key().contains(key.digest()) && key.lease_key().contains(key.digest()));
    }

    #[test]
    fn only_client_credentials_tokens_are_shared() {
        let endpoints = td_oauth_core::Endpoints::from_token_url("https://acme.talkdeskid.com/oauth/token").unwrap();
        let credentials = td_oauth_core::Credentials::client_secret(
            ClientId::new("client").unwrap(),
            td_oauth_core::ClientSecret::new("s"),
        )
        .unwrap();
        let tokens = TokenClient::new(&endpoints, credentials);
        let scopes: Scopes = "users:read".parse().unwrap();
        let shared = FleetKey::for_grant(&tokens, &Grant::client_credentials(scopes.clone()));
        assert_eq!(shared, Some(fleet_key("users:read")));
        let user = Grant::refresh_token(td_oauth_core::RefreshToken::new("r"), scopes);
        assert_eq!(FleetKey::for_grant(&tokens, &user), None);
    }
}
