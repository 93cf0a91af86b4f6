//! Several keys of one client, each with its `kid`, and a key file re-read when it changes: keys rotated
//! without a restart.
//!
//! A [`KeySet`] holds the keys a client has during a rotation (Talkdesk lets a client register a second
//! key before the first is retired). Exactly one is *active*, and the active one signs every assertion;
//! nothing is chosen by guesswork. [`KeySet::new`] makes its one key active, [`KeySet::insert`] adds a key
//! without activating it, [`KeySet::activate`] switches, [`KeySet::remove`] drops a key that is not active.
//! Clones share the set, so a program can rotate the keys of a running client.
//!
//! [`KeySet::watch`] follows a [`KeyFile`]: a key file (and its key id) that a deployment swaps under the
//! running process, as Kubernetes does when a mounted secret is updated (its files are links through a
//! `..data` link that is replaced atomically). The files are read again when an assertion is built, at
//! most once per interval (5 s by default, on the set's [`Clock`](crate::clock::Clock)), never when a
//! cached token is served. What is compared is the files' content (a SHA-256 of both): a swapped link, an
//! edit in place and a copy that kept its modification time are all seen. New content that parses becomes
//! the active key, and the key it replaces stays in the set, inactive, until the next change (so that a
//! program can [`activate`](KeySet::activate) it back should the new key not be registered yet). New
//! content that does not parse, or a file that cannot be read, leaves the active key as it is and logs a
//! warning naming the file and the problem (never the key), once per content.

mod file;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use self::file::Watch;
pub use self::file::{DEFAULT_CHECK_INTERVAL, KeyFile};
use crate::{Algorithm, Error, KeyId, PrivateKey};

/// The keys of one client, one of them active (see the [module](self)).
///
/// ```
/// use td_oauth_core::key_set::KeySet;
/// use td_oauth_core::{KeyId, PrivateKey};
///
/// # let old_key = PrivateKey::parse("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C")?;
/// # let new_key = old_key.clone();
/// let keys = KeySet::new(KeyId::new("old-kid")?, old_key);
/// keys.insert(KeyId::new("new-kid")?, new_key)?; // registered with Talkdesk, not used yet
/// assert_eq!(keys.active_key_id().as_str(), "old-kid");
/// keys.activate(&KeyId::new("new-kid")?)?; // from the next assertion on
/// keys.remove(&KeyId::new("old-kid")?)?;
/// assert_eq!(keys.key_ids().len(), 1);
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

struct Inner {
    keys: ArcSwap<Keys>,
    /// Serialises changes, so that two writers never lose each other's change.
    writing: Mutex<()>,
    watch: Option<Mutex<Watch>>,
}

/// The keys at one moment.
#[derive(Clone)]
pub(crate) struct Keys {
    entries: Vec<(KeyId, PrivateKey)>,
    active: usize,
}

impl Keys {
    /// The active key and its id. (`active` always indexes `entries`: the set is never empty, and every
    /// change keeps it in range.)
    pub(crate) fn active(&self) -> &(KeyId, PrivateKey) {
        &self.entries[self.active]
    }

    fn position(&self, key_id: &KeyId) -> Option<usize> {
        self.entries.iter().position(|(id, _)| id == key_id)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.keys.load();
        let ids: Vec<&str> = keys.entries.iter().map(|(id, _)| id.as_str()).collect();
        let active = keys.active().0.as_str();
        f.debug_struct("KeySet").field("key_ids", &ids).field("active", &active).finish_non_exhaustive()
    }
}

impl KeySet {
    /// A set of one key, active.
    pub fn new(key_id: KeyId, key: PrivateKey) -> Self {
        Self::with_keys(Keys { entries: vec![(key_id, key)], active: 0 }, None)
    }

    /// A set whose active key is read from `file` now, and read again when the file changes (see the
    /// [module](self)). Fails when the file cannot be read or holds no usable key.
    pub fn watch(file: KeyFile) -> Result<Self, Error> {
        let (watch, key_id, key) = Watch::start(file)?;
        Ok(Self::with_keys(Keys { entries: vec![(key_id, key)], active: 0 }, Some(watch)))
    }

    fn with_keys(keys: Keys, watch: Option<Watch>) -> Self {
        KeySet {
            inner: Arc::new(Inner {
                keys: ArcSwap::from_pointee(keys),
                writing: Mutex::new(()),
                watch: watch.map(Mutex::new),
            }),
        }
    }

    /// Adds a key, not active. Refuses a key id already in the set.
    pub fn insert(&self, key_id: KeyId, key: PrivateKey) -> Result<(), Error> {
        self.change(|keys| {
            if keys.position(&key_id).is_some() {
                return Err(refuse(format!("key id {key_id} is already in the set; remove it first")));
            }
            keys.entries.push((key_id, key));
            Ok(())
        })
    }

    /// Makes `key_id` the key that signs, from the next assertion on.
    pub fn activate(&self, key_id: &KeyId) -> Result<(), Error> {
        self.change(|keys| {
            keys.active = keys.position(key_id).ok_or_else(|| unknown(key_id))?;
            Ok(())
        })
    }

    /// Drops `key_id` from the set. The active key cannot be removed: activate another first.
    pub fn remove(&self, key_id: &KeyId) -> Result<(), Error> {
        self.change(|keys| {
            let at = keys.position(key_id).ok_or_else(|| unknown(key_id))?;
            if at == keys.active {
                return Err(refuse(format!("key id {key_id} is the active key; activate another before removing it")));
            }
            keys.entries.remove(at);
            if at < keys.active {
                keys.active -= 1;
            }
            Ok(())
        })
    }

    /// The id of the key that signs.
    pub fn active_key_id(&self) -> KeyId {
        self.inner.keys.load().active().0.clone()
    }

    /// The active key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.keys.load().active().1.algorithm()
    }

    /// The ids of every key in the set, in the order they were added.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.inner.keys.load().entries.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The keys an assertion is signed with now: the key file is checked first when one is watched and
    /// its interval has passed (a check already under way elsewhere is not waited for).
    pub(crate) fn current(&self) -> Arc<Keys> {
        if let Some(watch) = &self.inner.watch
            && let Ok(mut watch) = watch.try_lock()
            && let Some((key_id, key)) = watch.check()
        {
            let replaced = watch.replace_loaded(key_id.clone());
            // A key the file no longer holds stays, inactive, until the file changes again.
            let _ = self.change(|keys| {
                if let Some(older) = replaced.and_then(|older| keys.position(&older))
                    && older != keys.active
                {
                    keys.entries.remove(older);
                    keys.active -= usize::from(older < keys.active);
                }
                match keys.position(&key_id) {
                    Some(at) => {
                        keys.entries[at].1 = key;
                        keys.active = at;
                    }
                    None => {
                        keys.entries.push((key_id, key));
                        keys.active = keys.entries.len() - 1;
                    }
                }
                Ok(())
            });
        }
        self.inner.keys.load_full()
    }

    fn change(&self, edit: impl FnOnce(&mut Keys) -> Result<(), Error>) -> Result<(), Error> {
        let _writing = self.inner.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut keys = Keys::clone(&self.inner.keys.load());
        edit(&mut keys)?;
        self.inner.keys.store(Arc::new(keys));
        Ok(())
    }
}

fn refuse(reason: String) -> Error {
    Error::InvalidParameter { field: "key set", reason }
}

fn unknown(key_id: &KeyId) -> Error {
    refuse(format!("key id {key_id} is not in the set"))
}
