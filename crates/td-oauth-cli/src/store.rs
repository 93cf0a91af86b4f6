//! Files only the user can read, for the tokens `td-oauth` keeps between runs: the login store (refresh
//! tokens, in the config directory) and the token cache (access tokens, in the cache directory).
//!
//! Directories are created 0700 and files 0600 from the moment they exist. A file is never rewritten in
//! place: the new content goes to a fresh temporary file in the same directory, which is renamed over the
//! old one, so that a reader sees the old file or the new one, never a torn one. Writers serialise on an
//! advisory lock (a `.lock` file beside the data), which the system releases when a process dies.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy as _;
use td_oauth_core::random::{OsRandom, random_token};
use zeroize::Zeroizing;

use crate::error::CliError;

/// The most a stored file may hold: a token response is a few KiB.
const MAX_STORED_BYTES: u64 = 64 * 1024;

/// `$XDG_CONFIG_HOME/td-oauth/<name>` (else `~/.config/td-oauth/<name>`; `%APPDATA%` on Windows).
pub(crate) fn config_dir(name: &str) -> Result<PathBuf, CliError> {
    Ok(base()?.config_dir().join("td-oauth").join(name))
}

/// `$XDG_CACHE_HOME/td-oauth/<name>` (else `~/.cache/td-oauth/<name>`; `%LOCALAPPDATA%` on Windows).
pub(crate) fn cache_dir(name: &str) -> Result<PathBuf, CliError> {
    Ok(base()?.cache_dir().join("td-oauth").join(name))
}

fn base() -> Result<impl etcetera::BaseStrategy, CliError> {
    etcetera::choose_base_strategy().map_err(|_| {
        CliError::Input("cannot find your home directory: set HOME (or XDG_CONFIG_HOME and XDG_CACHE_HOME)".into())
    })
}

/// A directory holding private files: created (with its parents) 0700 if missing.
#[derive(Debug, Clone)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `path` if needed. An existing directory is used as it is: its files are private either way.
    pub(crate) fn create(path: PathBuf) -> Result<PrivateDir, CliError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .map_err(|err| CliError::Input(format!("cannot create the directory {}: {err}", path.display())))?;
        Ok(PrivateDir { path })
    }

    /// The directory, without creating it.
    pub(crate) fn at(path: PathBuf) -> PrivateDir {
        PrivateDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads `name`, or `None` if it does not exist. A file others can read, or one that is no plain file
    /// (a link, a directory), is refused with how to fix it: its content may already have leaked or been
    /// planted.
    pub(crate) fn read(&self, name: &str, what: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
        let path = self.file(name);
        let cannot = |err: std::io::Error| CliError::Input(format!("cannot read the {what} {}: {err}", path.display()));
        match std::fs::symlink_metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(cannot(err)),
            Ok(metadata) if !metadata.is_file() => {
                return Err(CliError::Input(format!(
                    "the {what} {} is not a plain file (a link or a directory?): remove it with `rm {}`",
                    path.display(),
                    path.display()
                )));
            }
            Ok(_) => {}
        }
        let file = match File::open(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(cannot)?,
        };
        refuse_shared(&file, &path, what)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_STORED_BYTES.saturating_add(1)).read_to_end(&mut bytes).map_err(cannot)?;
        if bytes.len() as u64 > MAX_STORED_BYTES {
            return Err(CliError::Input(format!(
                "the {what} {} is larger than 64 KiB: it is not one td-oauth wrote; remove it",
                path.display()
            )));
        }
        Ok(Some(bytes))
    }

    /// Replaces `name` with `bytes` atomically: a new 0600 file beside it, flushed to disk, renamed over it.
    pub(crate) fn write(&self, name: &str, bytes: &[u8], what: &str) -> Result<(), CliError> {
        let path = self.file(name);
        let cannot =
            |err: std::io::Error| CliError::Failed(format!("cannot write the {what} {}: {err}", path.display()));
        let suffix = random_token(&OsRandom::new(), 8)?;
        let temporary = self.file(&format!(".{name}.{suffix}.tmp"));
        let written = create_private(&temporary)
            .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(cannot(err));
        }
        Ok(())
    }

    /// Removes `name`; whether it was there.
    pub(crate) fn remove(&self, name: &str, what: &str) -> Result<bool, CliError> {
        let path = self.file(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(CliError::Failed(format!("cannot remove the {what} {}: {err}", path.display()))),
        }
    }

    /// Waits for the exclusive advisory lock on `name` (created 0600 if missing), held until the guard drops.
    pub(crate) fn lock(&self, name: &str) -> std::io::Result<FileLock> {
        let path = self.file(name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        file.lock()?;
        Ok(FileLock(file))
    }
}

/// An exclusive advisory lock on a file, released on drop (or by the system when the process ends).
pub(crate) struct FileLock(File);

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// A new file only the user can read; never through an existing file or link.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(unix)]
fn refuse_shared(file: &File, path: &Path, what: &str) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata =
        file.metadata().map_err(|err| CliError::Input(format!("cannot read the {what} {}: {err}", path.display())))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Input(format!(
            "the {what} {} can be read or changed by other users (mode {mode:04o}), so td-oauth will not use it: \
             make it private with `chmod 600 {}`, or remove it",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_file: &File, _path: &Path, _what: &str) -> Result<(), CliError> {
    Ok(())
}
