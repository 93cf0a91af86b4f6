//! An installation as an [`InstallationStore`](crate::store::InstallationStore) keeps it: the record (its
//! credentials, the previous ones during a rotation's grace, its lifecycle state and the progress of each
//! lifecycle step) and how it is sealed.
//!
//! A record is JSON sealed with AES-256-GCM under the operator's [`SealingKey`], bound to the store key it
//! is written under (a record copied under another account does not open):
//!
//! ```text
//!  1 byte format (1) | 8 bytes key fingerprint | 12 bytes nonce | ciphertext | 16 bytes tag
//! ```
//!
//! The fingerprint says which key sealed it, so that [`SealingKeys`] opens records of the current key and of
//! the previous one while the operator rotates keys, and every write seals with the current key.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use td_oauth_core::crypto::{AEAD_NONCE_LEN, AEAD_TAG_LEN, KeyFingerprint, SealingKey};
use td_oauth_core::random::RandomSource;
use td_oauth_core::{Account, Algorithm};

use crate::events::StoredParts;
use crate::store::StoreError;
use crate::{EventKind, InstallationCredentials, InstallationDecision};

/// The first byte of a sealed record: this format.
const FORMAT: u8 = 1;
/// What every record's associated data starts with, before its store key.
const AAD_PREFIX: &[u8] = b"td-oauth installation record v1\0";
/// The prefix of an installation's store key, before its account name.
const KEY_PREFIX: &str = "installation:";

/// The keys a fleet seals its installation records with: the current one, which seals every write, and
/// optionally the previous one, accepted for reading while records are re-sealed after a key rotation.
///
/// ```
/// use td_oauth_core::crypto::SealingKey;
/// use td_oauth_partner::record::SealingKeys;
///
/// let current = SealingKey::from_base64("q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=")?;
/// let previous = SealingKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
/// let keys = SealingKeys::new(current).with_previous(previous);
/// assert!(keys.previous_id().is_some());
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SealingKeys {
    current: SealingKey,
    previous: Option<SealingKey>,
}

impl fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeys").field("current", &self.current).field("previous", &self.previous).finish()
    }
}

impl SealingKeys {
    /// Seals and opens with `current` only.
    pub fn new(current: SealingKey) -> Self {
        SealingKeys { current, previous: None }
    }

    /// Also opens records sealed with `previous` (the key before a rotation of the sealing key).
    pub fn with_previous(mut self, previous: SealingKey) -> Self {
        self.previous = Some(previous);
        self
    }

    /// The current key's fingerprint.
    pub fn current_id(&self) -> KeyFingerprint {
        self.current.id()
    }

    /// The previous key's fingerprint, when there is one.
    pub fn previous_id(&self) -> Option<KeyFingerprint> {
        self.previous.as_ref().map(SealingKey::id)
    }

    fn by_id(&self, id: KeyFingerprint) -> Option<&SealingKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref()).find(|key| key.id() == id)
    }
}

/// The store key of `account`'s installation record.
pub(crate) fn store_key(account: &Account) -> String {
    format!("{KEY_PREFIX}{}", account.as_str())
}

/// The account a store key names, if it is an installation record's.
pub(crate) fn account_of(key: &str) -> Option<Account> {
    key.strip_prefix(KEY_PREFIX).and_then(|name| Account::new(name).ok())
}

/// Where an installation stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstallationState {
    /// Installed (approved or not yet): tokens are served.
    Active,
    /// `app.uninstalled` was applied but not yet acknowledged: no token is served; the credentials are kept
    /// only to acknowledge the uninstall.
    Uninstalling,
    /// Uninstalled and acknowledged: the record keeps no credentials.
    Uninstalled,
}

impl fmt::Display for InstallationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstallationState::Active => "active",
            InstallationState::Uninstalling => "uninstalling",
            InstallationState::Uninstalled => "uninstalled",
        })
    }
}

/// One credential set as a record keeps it: the event's fields as sent. Wiped on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredentials {
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_algorithm: Option<String>,
    token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorize_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_base: Option<String>,
}

impl Drop for StoredCredentials {
    fn drop(&mut self) {
        self.client_secret.zeroize();
        self.private_key.zeroize();
    }
}

impl StoredCredentials {
    /// What a record keeps of `credentials`. Fails when they no longer carry their private key's text
    /// (credentials a manager kept in memory): only credentials from an event, or from a record, can be
    /// written.
    pub(crate) fn of(credentials: &InstallationCredentials) -> Result<Self, crate::Error> {
        let private_key = match (credentials.key_id(), credentials.key_text()) {
            (Some(_), Some(text)) => Some(text.to_owned()),
            (Some(_), None) => {
                return Err(crate::Error::InvalidEvent {
                    field: "data.private_key".to_owned(),
                    reason: "is no longer held by these credentials; pass the event's own credentials".to_owned(),
                });
            }
            (None, _) => None,
        };
        let endpoints = credentials.endpoints();
        Ok(StoredCredentials {
            client_id: credentials.client_id().as_str().to_owned(),
            client_secret: credentials.client_secret().map(|secret| secret.secret().to_owned()),
            key_id: credentials.key_id().map(|id| id.as_str().to_owned()),
            private_key,
            key_algorithm: credentials.algorithm().map(|algorithm| algorithm.as_str().to_owned()),
            token_url: endpoints.token_url().as_str().to_owned(),
            authorize_url: endpoints.authorize_url().map(|url| url.as_str().to_owned()),
            api_base: endpoints.api_base().map(|url| url.as_str().to_owned()),
        })
    }

    /// The credentials again, parsed and checked.
    fn credentials(&self, record: &Record, kind: EventKind) -> Result<InstallationCredentials, crate::Error> {
        let algorithm = self.key_algorithm.as_deref().map(str::parse::<Algorithm>).transpose()?;
        let key = match (&self.key_id, &self.private_key) {
            (Some(id), Some(text)) => Some((id.as_str(), text.as_str(), algorithm)),
            _ => None,
        };
        InstallationCredentials::from_parts(&StoredParts {
            kind,
            installation_id: &record.installation_id,
            account_id: record.account_id.as_deref(),
            account: &record.account,
            client_id: &self.client_id,
            client_secret: self.client_secret.as_deref(),
            key,
            token_url: &self.token_url,
            authorize_url: self.authorize_url.as_deref(),
            api_base: self.api_base.as_deref(),
        })
    }

    fn same_set(&self, credentials: &InstallationCredentials) -> bool {
        self.client_id == credentials.client_id().as_str()
            && self.key_id.as_deref() == credentials.key_id().map(|id| id.as_str())
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }
}

/// The credentials before the last routine rotation, with the end of their grace.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PreviousCredentials {
    pub credentials: StoredCredentials,
    /// Unix milliseconds; `None`: no end.
    #[serde(default)]
    pub grace_until_ms: Option<u64>,
}

/// An installation record: what one account's installation is, fleet-wide.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub account: String,
    pub installation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub state: InstallationState,
    /// `None` once uninstalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<StoredCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousCredentials>,
    /// The decision on the installation, once the Apps API took it (`approve` or `reject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The client id of the credentials whose rotation the Apps API acknowledged, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_acknowledged: Option<String>,
    /// Unix milliseconds of the last write.
    pub updated_at_ms: u64,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("account", &self.account)
            .field("state", &self.state)
            .field("client_id", &self.current.as_ref().map(StoredCredentials::client_id))
            .finish_non_exhaustive()
    }
}

impl Record {
    /// A new installation of `credentials` (from `app.installed`), written at `wall`.
    pub(crate) fn installed(credentials: &InstallationCredentials, wall: SystemTime) -> Result<Self, crate::Error> {
        Ok(Record {
            account: credentials.account().as_str().to_owned(),
            installation_id: credentials.installation_id().to_owned(),
            account_id: credentials.account_id().map(str::to_owned),
            state: InstallationState::Active,
            current: Some(StoredCredentials::of(credentials)?),
            previous: None,
            decision: None,
            rotation_acknowledged: None,
            updated_at_ms: unix_ms(wall),
        })
    }

    /// Whether `credentials` are the current set.
    pub(crate) fn is_current(&self, credentials: &InstallationCredentials) -> bool {
        self.current.as_ref().is_some_and(|current| current.same_set(credentials))
    }

    /// Makes `credentials` current at `wall`; the replaced set stays as the previous one until
    /// `wall + grace` (a routine rotation) or is dropped (`grace` is `None`: compromised).
    pub(crate) fn rotate(
        &mut self,
        credentials: &InstallationCredentials,
        grace: Option<Duration>,
        wall: SystemTime,
    ) -> Result<(), crate::Error> {
        let new = StoredCredentials::of(credentials)?;
        let replaced = self.current.replace(new);
        self.previous = match (replaced, grace) {
            (Some(credentials), Some(grace)) => {
                let until = wall.checked_add(grace).map(unix_ms);
                Some(PreviousCredentials { credentials, grace_until_ms: until })
            }
            _ => None,
        };
        self.rotation_acknowledged = None;
        self.updated_at_ms = unix_ms(wall);
        Ok(())
    }

    /// The current credentials, parsed, if the record keeps them.
    pub(crate) fn current_credentials(&self) -> Result<Option<InstallationCredentials>, crate::Error> {
        self.current.as_ref().map(|current| current.credentials(self, EventKind::Installed)).transpose()
    }

    /// The previous credentials, parsed, with the end of their grace on the monotonic clock (`now` and
    /// `wall` are the same moment); `None` when there are none or their grace has ended.
    pub(crate) fn previous_credentials(
        &self,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Option<(InstallationCredentials, Option<Instant>)>, crate::Error> {
        let Some(previous) = &self.previous else { return Ok(None) };
        let until = match previous.grace_until_ms {
            None => None,
            Some(until_ms) => {
                let wall_ms = unix_ms(wall);
                if until_ms <= wall_ms {
                    return Ok(None);
                }
                now.checked_add(Duration::from_millis(until_ms - wall_ms))
            }
        };
        let credentials = previous.credentials.credentials(self, EventKind::CredentialsRotated)?;
        Ok(Some((credentials, until)))
    }

    /// Seals the record for `key` with the current key of `keys`.
    pub(crate) fn seal(
        &self,
        keys: &SealingKeys,
        key: &str,
        random: &dyn RandomSource,
    ) -> Result<Vec<u8>, crate::Error> {
        let mut plain = Zeroizing::new(
            serde_json::to_vec(self).map_err(|_| td_oauth_core::Error::Crypto("the record could not be encoded"))?,
        );
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        random.fill(&mut nonce)?;
        keys.current.seal_in_place(nonce, &aad(key), &mut plain)?;
        let mut out = Vec::with_capacity(1 + 8 + AEAD_NONCE_LEN + plain.len());
        out.push(FORMAT);
        out.extend_from_slice(&keys.current.id().bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        Ok(out)
    }

    /// Opens a record sealed for `key` with either of `keys`; also says which key sealed it.
    pub(crate) fn open(bytes: &[u8], keys: &SealingKeys, key: &str) -> Result<(Record, KeyFingerprint), StoreError> {
        let refuse = |reason: String| StoreError::Unreadable { key: key.to_owned(), reason };
        let header = 1 + 8 + AEAD_NONCE_LEN;
        if bytes.len() < header + AEAD_TAG_LEN {
            return Err(refuse("it is too short to be a sealed installation record".to_owned()));
        }
        if bytes[0] != FORMAT {
            return Err(refuse(format!(
                "it has format {}, which this version of td-oauth cannot read (not a td-oauth record, or a newer one)",
                bytes[0]
            )));
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[1..9]);
        let id = KeyFingerprint::from_bytes(id);
        let sealing = keys.by_id(id).ok_or_else(|| {
            refuse(format!(
                "it was sealed with key {id}, which is neither the current sealing key ({}) nor the previous one \
                 ({}); give this process the key the fleet seals with (TD_OAUTH_STORE_KEY / TD_OAUTH_STORE_KEY_PREVIOUS)",
                keys.current_id(),
                keys.previous_id().map_or_else(|| "none given".to_owned(), |id| id.to_string()),
            ))
        })?;
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        nonce.copy_from_slice(&bytes[9..header]);
        let mut buffer = Zeroizing::new(bytes[header..].to_vec());
        let plain = sealing.open_in_place(nonce, &aad(key), &mut buffer).ok_or_else(|| {
            refuse(format!("it does not authenticate under key {id}: it was altered, or copied from another store key"))
        })?;
        let record: Record = serde_json::from_slice(plain)
            .map_err(|_| refuse("it opened but does not hold an installation record".to_owned()))?;
        if record.account != key.strip_prefix(KEY_PREFIX).unwrap_or_default() {
            return Err(refuse("it names another account than its store key".to_owned()));
        }
        Ok((record, id))
    }

    /// What an operator may see of it: no secret.
    pub(crate) fn summary(&self, version: u64, sealed_with: KeyFingerprint) -> InstallationSummary {
        InstallationSummary {
            account: self.account.clone(),
            installation_id: self.installation_id.clone(),
            state: self.state,
            client_id: self.current.as_ref().map(|current| current.client_id().to_owned()),
            key_id: self.current.as_ref().and_then(|current| current.key_id().map(str::to_owned)),
            previous_client_id: self.previous.as_ref().map(|previous| previous.credentials.client_id().to_owned()),
            approved: self.decision.as_deref() == Some(InstallationDecision::Approve.as_str()),
            rotation_acknowledged: self.rotation_acknowledged.is_some(),
            version,
            sealed_with,
        }
    }
}

/// One installation as the operator sees it ([`FleetManager::installations`](crate::fleet::FleetManager::installations)):
/// names and ids, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstallationSummary {
    /// The account name.
    pub account: String,
    /// AppConnect's installation id.
    pub installation_id: String,
    /// Where the installation stands.
    pub state: InstallationState,
    /// The current credentials' client id (`None` once uninstalled).
    pub client_id: Option<String>,
    /// The current credentials' key id, when they carry a private key.
    pub key_id: Option<String>,
    /// The previous credentials' client id, during a rotation's grace.
    pub previous_client_id: Option<String>,
    /// Whether the installation was approved through this fleet.
    pub approved: bool,
    /// Whether the current credentials' rotation was acknowledged (false after `app.installed`).
    pub rotation_acknowledged: bool,
    /// The record's version in the store.
    pub version: u64,
    /// The fingerprint of the sealing key the record is sealed with.
    pub sealed_with: KeyFingerprint,
}

fn aad(key: &str) -> Vec<u8> {
    [AAD_PREFIX, key.as_bytes()].concat()
}

pub(crate) fn unix_ms(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::tests::creds;
    use td_oauth_core::random::OsRandom;

    fn keys(byte: u8) -> SealingKeys {
        SealingKeys::new(SealingKey::new([byte; 32]))
    }

    #[test]
    fn a_record_round_trips_sealed_and_holds_no_secret_in_clear() {
        let wall = SystemTime::now();
        let credentials = creds("acme", "c1");
        let record = Record::installed(&credentials, wall).unwrap();
        let key = store_key(credentials.account());
        let sealed = record.seal(&keys(1), &key, &OsRandom::new()).unwrap();
        for needle in [&b"SECRET-c1"[..], b"MIGHAgEAMBMG", b"acme", b"c1"] {
            assert!(!sealed.windows(needle.len()).any(|w| w == needle), "{needle:?} in clear");
        }
        let (opened, id) = Record::open(&sealed, &keys(1), &key).unwrap();
        assert_eq!(id, keys(1).current_id());
        let back = opened.current_credentials().unwrap().unwrap();
        assert!(back.same_set(&credentials));
        assert_eq!(back.key_text(), credentials.key_text());
        assert_eq!(back.client_secret().unwrap().secret(), "SECRET-c1");
        assert_eq!(back.endpoints().token_url(), credentials.endpoints().token_url());
    }

    #[test]
    fn the_previous_key_opens_and_other_keys_or_store_keys_do_not() {
        let record = Record::installed(&creds("acme", "c1"), SystemTime::now()).unwrap();
        let key = store_key(&"acme".parse().unwrap());
        let sealed = record.seal(&keys(1), &key, &OsRandom::new()).unwrap();
        let rotated = keys(2).with_previous(SealingKey::new([1; 32]));
        assert_eq!(Record::open(&sealed, &rotated, &key).unwrap().1, keys(1).current_id());
        let err = Record::open(&sealed, &keys(3), &key).unwrap_err().to_string();
        assert!(err.contains("neither the current sealing key") && err.contains(&keys(1).current_id().to_string()));
        let moved = Record::open(&sealed, &keys(1), &store_key(&"other".parse().unwrap())).unwrap_err();
        assert!(moved.to_string().contains("does not authenticate"), "{moved}");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(Record::open(&altered, &keys(1), &key).is_err());
        assert!(Record::open(&sealed[..20], &keys(1), &key).unwrap_err().to_string().contains("too short"));
    }

    #[test]
    fn a_rotation_keeps_the_previous_set_for_its_grace() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut record = Record::installed(&creds("acme", "c1"), wall).unwrap();
        record.rotate(&creds("acme", "c2"), Some(Duration::from_secs(100)), wall).unwrap();
        assert!(record.is_current(&creds("acme", "c2")));
        let (previous, until) = record.previous_credentials(now, wall).unwrap().unwrap();
        assert_eq!(previous.client_id().as_str(), "c1");
        let until = until.unwrap().duration_since(now);
        assert!(until <= Duration::from_secs(100) && until > Duration::from_secs(99), "{until:?}");
        assert!(record.previous_credentials(now, wall + Duration::from_secs(100)).unwrap().is_none());
        record.rotate(&creds("acme", "c3"), None, wall).unwrap();
        assert!(record.previous.is_none());
    }

    #[test]
    fn credentials_kept_in_memory_cannot_be_written() {
        let mut kept = creds("acme", "c1");
        kept.forget_key_text();
        let err = Record::installed(&kept, SystemTime::now()).unwrap_err().to_string();
        assert!(err.contains("no longer held"), "{err}");
    }
}
