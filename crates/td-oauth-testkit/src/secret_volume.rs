//! [`SecretVolume`]: a directory laid out as Kubernetes mounts a secret, updated as the kubelet updates it,
//! for the tests of key files read again when they change.

use std::path::{Path, PathBuf};

use crate::Error;

/// A mounted secret with the entries `private-key` and `key-id`: each is a link into `..data`, itself a
/// link to the current version's directory, which [`update`](Self::update) replaces atomically (a new
/// directory, a new link renamed over `..data`), as the kubelet does. Removed on drop.
///
/// ```
/// let mut volume = td_oauth_testkit::SecretVolume::new("doc")?;
/// volume.update("-----BEGIN PRIVATE KEY-----\n…", "kid-1")?;
/// assert_eq!(std::fs::read_to_string(volume.key_id_path()).unwrap().trim(), "kid-1");
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct SecretVolume {
    dir: PathBuf,
    versions: usize,
}

impl SecretVolume {
    /// An empty volume in a new directory under the system's temporary directory (`name` tells tests
    /// apart).
    pub fn new(name: &str) -> Result<SecretVolume, Error> {
        let unique = crate::keys::random_hex(6);
        let dir = std::env::temp_dir().join(format!("td-oauth-secret-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(Error::Io)?;
        for entry in ["private-key", "key-id"] {
            std::os::unix::fs::symlink(Path::new("..data").join(entry), dir.join(entry)).map_err(Error::Io)?;
        }
        Ok(SecretVolume { dir, versions: 0 })
    }

    /// Writes a new version holding `key` and `key_id` and swaps `..data` to it.
    pub fn update(&mut self, key: &str, key_id: &str) -> Result<(), Error> {
        self.versions += 1;
        let version = format!("..2026_12_06_v{}", self.versions);
        let version_dir = self.dir.join(&version);
        std::fs::create_dir(&version_dir).map_err(Error::Io)?;
        std::fs::write(version_dir.join("private-key"), key).map_err(Error::Io)?;
        std::fs::write(version_dir.join("key-id"), format!("{key_id}\n")).map_err(Error::Io)?;
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).map_err(Error::Io)?;
        std::fs::rename(&staged, self.dir.join("..data")).map_err(Error::Io)
    }

    /// The `private-key` entry's path.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("private-key")
    }

    /// The `key-id` entry's path.
    pub fn key_id_path(&self) -> PathBuf {
        self.dir.join("key-id")
    }
}

impl Drop for SecretVolume {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
