//! [`KeyFile`]: a key file and its key id, read again when their content changes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::Sha256;
use crate::clock::SharedClock;
use crate::{Algorithm, Error, KeyId, PrivateKey};

/// How often a watched key file is checked by default: often enough that a rotated secret is in use within
/// seconds, rarely enough that the reads cost nothing.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Where a watched key comes from: a key file (any form [`PrivateKey::parse`] reads, or binary DER) and its
/// key id, from a file beside it or given.
///
/// In Kubernetes, mount one secret with two entries (the key and its id) and name both files:
/// `KeyFile::new("/var/run/secrets/talkdesk/private-key", "/var/run/secrets/talkdesk/key-id")`.
#[derive(Clone)]
pub struct KeyFile {
    key_path: PathBuf,
    key_id: KeyIdFrom,
    algorithm: Option<Algorithm>,
    interval: Duration,
    clock: SharedClock,
}

#[derive(Clone)]
enum KeyIdFrom {
    File(PathBuf),
    Given(KeyId),
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("key_path", &self.key_path)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl KeyFile {
    /// The key in `key_path`, its key id in `key_id_path` (the file's text, whitespace trimmed).
    pub fn new(key_path: impl Into<PathBuf>, key_id_path: impl Into<PathBuf>) -> Self {
        Self::with_source(key_path.into(), KeyIdFrom::File(key_id_path.into()))
    }

    /// The key in `key_path` under a key id that does not change.
    pub fn with_key_id(key_path: impl Into<PathBuf>, key_id: KeyId) -> Self {
        Self::with_source(key_path.into(), KeyIdFrom::Given(key_id))
    }

    fn with_source(key_path: PathBuf, key_id: KeyIdFrom) -> Self {
        KeyFile { key_path, key_id, algorithm: None, interval: DEFAULT_CHECK_INTERVAL, clock: SharedClock::default() }
    }

    /// Reads the key for `algorithm` (Talkdesk's `key_algorithm`; an RSA key does not say which PS
    /// algorithm it signs with) instead of inferring it.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Checks the files at most once per `interval` (default 5 s).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Measures the interval on `clock` (the system's monotonic clock by default; a
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    pub fn with_clock(mut self, clock: impl Into<SharedClock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// The key file's path.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Reads both files as they are now, with a digest of both; `None` when the key id changed while the
    /// key was read (a swap under way: read again later).
    fn read_raw(&self) -> Result<Option<Raw>, String> {
        let key_id_text = self.read_key_id()?;
        let key = zeroize::Zeroizing::new(read(&self.key_path)?);
        if self.read_key_id()? != key_id_text {
            return Ok(None);
        }
        let mut digest = Sha256::new();
        digest.update(&(key_id_text.len() as u64).to_be_bytes());
        digest.update(&key_id_text);
        digest.update(&key);
        Ok(Some(Raw { key_id_text, key, digest: digest.finish() }))
    }

    fn read_key_id(&self) -> Result<Vec<u8>, String> {
        match &self.key_id {
            KeyIdFrom::Given(key_id) => Ok(key_id.as_str().as_bytes().to_vec()),
            KeyIdFrom::File(path) => read(path),
        }
    }

    /// The key and key id `raw` holds.
    fn parse(&self, raw: &Raw) -> Result<(KeyId, PrivateKey), String> {
        let key_id = match &self.key_id {
            KeyIdFrom::Given(key_id) => key_id.clone(),
            KeyIdFrom::File(path) => KeyId::new(String::from_utf8_lossy(&raw.key_id_text).trim())
                .map_err(|err| format!("{}: {err}", path.display()))?,
        };
        let key = match std::str::from_utf8(&raw.key) {
            Ok(text) => match self.algorithm {
                Some(algorithm) => PrivateKey::parse_with_algorithm(text, algorithm),
                None => PrivateKey::parse(text),
            },
            Err(_) => match self.algorithm {
                Some(algorithm) => PrivateKey::from_der_with_algorithm(&raw.key, algorithm),
                None => PrivateKey::from_der(&raw.key),
            },
        }
        .map_err(|err| format!("{}: {err}", self.key_path.display()))?;
        Ok((key_id, key))
    }
}

/// What was read from the files.
struct Raw {
    key_id_text: Vec<u8>,
    key: zeroize::Zeroizing<Vec<u8>>,
    digest: [u8; 32],
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("{} could not be read: {err}", path.display()))
}

/// A watched key file's state: when it was last checked, and what was last read from it.
pub(crate) struct Watch {
    file: KeyFile,
    checked: Instant,
    /// The digest of the content in use.
    loaded: [u8; 32],
    /// The digest of content refused, so that it is warned about once.
    refused: Option<[u8; 32]>,
    /// The key ids loaded from the file, newest last: the one in use, and the one before it.
    key_ids: Vec<KeyId>,
}

impl Watch {
    /// Reads `file` for the first time; its key and id.
    pub(super) fn start(file: KeyFile) -> Result<(Watch, KeyId, PrivateKey), Error> {
        let refuse = |reason: String| Error::InvalidParameter { field: "key file", reason };
        let raw = file
            .read_raw()
            .map_err(refuse)?
            .ok_or_else(|| refuse(format!("{} changed while it was read; try again", file.key_path.display())))?;
        let (key_id, key) = file.parse(&raw).map_err(refuse)?;
        let checked = file.clock.now();
        let watch = Watch { file, checked, loaded: raw.digest, refused: None, key_ids: vec![key_id.clone()] };
        Ok((watch, key_id, key))
    }

    /// When the interval has passed, reads the files again: the new key and id when their content changed
    /// and parses, `None` otherwise (a refusal is logged once per content). Content that has not changed is
    /// not parsed again.
    pub(super) fn check(&mut self) -> Option<(KeyId, PrivateKey)> {
        let now = self.file.clock.now();
        if now.saturating_duration_since(self.checked) < self.file.interval {
            return None;
        }
        let read = self.file.read_raw();
        if let Ok(None) = read {
            // A swap under way: the next assertion looks again.
            return None;
        }
        self.checked = now;
        let parsed = match read {
            Ok(Some(raw)) if raw.digest == self.loaded => return None,
            Ok(Some(raw)) if Some(raw.digest) == self.refused => return None,
            Ok(Some(raw)) => self.file.parse(&raw).map(|parsed| (parsed, raw.digest)).map_err(|err| (err, raw.digest)),
            Ok(None) => return None,
            Err(problem) => {
                let seen = crate::backend::sha256(problem.as_bytes());
                Err((problem, seen))
            }
        };
        let key_path = self.file.key_path.display();
        match parsed {
            Ok(((key_id, key), digest)) => {
                self.loaded = digest;
                self.refused = None;
                tracing::info!(key_file = %key_path, key_id = key_id.as_str(), "the key file changed; signing with its new key");
                Some((key_id, key))
            }
            Err((problem, seen)) => {
                if self.refused != Some(seen) {
                    self.refused = Some(seen);
                    let in_use = self.key_ids.last().map(KeyId::as_str).unwrap_or_default();
                    tracing::warn!(
                        key_file = %key_path,
                        key_id = in_use,
                        "the key file changed but cannot be used ({problem}); still signing with the key in use"
                    );
                }
                None
            }
        }
    }

    /// Records `key_id` as the one the file holds now; the id that falls out of the two kept (in use and
    /// previous), which the set drops.
    pub(super) fn replace_loaded(&mut self, key_id: KeyId) -> Option<KeyId> {
        if self.key_ids.last() == Some(&key_id) {
            return None;
        }
        self.key_ids.retain(|id| *id != key_id);
        self.key_ids.push(key_id);
        (self.key_ids.len() > 2).then(|| self.key_ids.remove(0))
    }
}
