//! Files only the user can read, for the tokens `td-oauth` keeps between runs: the login store (refresh
//! tokens, in the config directory) and the token cache (access tokens, in the cache directory).
//!
//! Directories are created 0700 and files 0600 from the moment they exist. A file is never rewritten in
//! place: the new content goes to a fresh temporary file in the same directory, which is renamed over the
//! old one, so that a reader sees the old file or the new one, never a torn one. Writers serialise on an
//! advisory lock (a `.lock` file beside the data), which the system releases when a process dies.
//!
//! Nothing in these directories is trusted that another user could have planted or could change: no link is
//! ever followed when a file is opened or created (`O_NOFOLLOW`, `O_EXCL`), and the checks run on what was
//! opened, not on the name; a file not owned by the caller, or that others can read or write, is refused; so
//! is a directory that is a link, is owned by someone else, or that others can write to (a shared `/tmp`
//! included), since whoever can write to it can replace its files. Each refusal says how to fix it.

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

/// A directory holding private files, checked (see the module's doc) before anything in it is used.
#[derive(Debug, Clone)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `path` (with its parents) 0700 if missing, then checks it.
    pub(crate) fn create(path: PathBuf) -> Result<PrivateDir, CliError> {
        create_dir(&path)
            .map_err(|err| CliError::Input(format!("cannot create the directory {}: {err}", path.display())))?;
        PrivateDir::open(path)
    }

    /// An existing directory, checked: a real directory (no link), the caller's, that nobody else can write to.
    pub(crate) fn open(path: PathBuf) -> Result<PrivateDir, CliError> {
        let metadata = std::fs::symlink_metadata(&path)
            .map_err(|err| CliError::Input(format!("cannot use the directory {}: {err}", path.display())))?;
        check_dir(&metadata, &path)?;
        Ok(PrivateDir { path })
    }

    /// The directory, neither created nor checked yet ([`read`](Self::read) checks it if it exists).
    pub(crate) fn at(path: PathBuf) -> PrivateDir {
        PrivateDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Reads `name`, or `None` if it (or the directory) does not exist. A file that is no plain file (a
    /// link, a directory), is not the caller's, or that others can read, is refused with how to fix it: its
    /// content may already have leaked or been planted.
    pub(crate) fn read(&self, name: &str, what: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
        match std::fs::symlink_metadata(&self.path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(CliError::Input(format!("cannot use the directory {}: {err}", self.path.display())));
            }
            Ok(metadata) => check_dir(&metadata, &self.path)?,
        }
        let path = self.file(name);
        let cannot = |err: std::io::Error| CliError::Input(format!("cannot read the {what} {}: {err}", path.display()));
        let file = match open_private(&path, false) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|err| refuse_link(&path, what).unwrap_or_else(|| cannot(err)))?,
        };
        check_file(&file.metadata().map_err(cannot)?, &path, what)?;
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

    /// Checks `name` without opening it, if it exists: what [`read`](Self::read) and [`lock`](Self::lock)
    /// would refuse, said before anything is sent.
    pub(crate) fn check(&self, name: &str, what: &str) -> Result<(), CliError> {
        let path = self.file(name);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) => check_file(&metadata, &path, what),
            Err(_) => Ok(()),
        }
    }

    /// Replaces `name` with `bytes` atomically: a new 0600 file beside it, flushed to disk, renamed over it
    /// (a link in its place is replaced, never followed).
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

    /// Removes `name` (a link itself, never what it points to); whether it was there.
    pub(crate) fn remove(&self, name: &str, what: &str) -> Result<bool, CliError> {
        let path = self.file(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(CliError::Failed(format!("cannot remove the {what} {}: {err}", path.display()))),
        }
    }

    /// Waits for the exclusive advisory lock on `name` (created 0600 if missing, never through a link),
    /// held until the guard drops. A lock file that is a link or someone else's is refused (`Input`); a
    /// lock that cannot be taken is `Failed`.
    pub(crate) fn lock(&self, name: &str) -> Result<FileLock, CliError> {
        let path = self.file(name);
        let cannot = |err: std::io::Error| CliError::Failed(format!("cannot lock {}: {err}", path.display()));
        let file =
            open_private(&path, true).map_err(|err| refuse_link(&path, "lock file").unwrap_or_else(|| cannot(err)))?;
        check_file(&file.metadata().map_err(cannot)?, &path, "lock file")?;
        file.lock().map_err(cannot)?;
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

/// `path` and its parents, created 0700 where missing.
pub(crate) fn create_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// A new file only the user can read; never through an existing file or link (`O_EXCL`).
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Opens `path` for reading (or, with `create`, for the lock: read-write, created 0600 if missing) without
/// following a link in its place, and without blocking on a FIFO planted there.
#[cfg(unix)]
fn open_private(path: &Path, create: bool) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let flags = if create { flags | OFlags::RDWR | OFlags::CREATE } else { flags | OFlags::RDONLY };
    let fd = rustix::fs::open(path, flags, Mode::RUSR | Mode::WUSR)?;
    Ok(File::from(fd))
}

#[cfg(not(unix))]
fn open_private(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(create).create(create).truncate(false).open(path)
}

/// The refusal of a link at `path`, if that is why it could not be opened.
fn refuse_link(path: &Path, what: &str) -> Option<CliError> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink());
    is_link.then(|| link_refused(path, what))
}

fn link_refused(path: &Path, what: &str) -> CliError {
    CliError::Input(format!(
        "the {what} {} is a symbolic link, which td-oauth never follows (it could point anywhere): remove it with \
         `rm {}`",
        path.display(),
        path.display()
    ))
}

/// The user this process acts as, whose files td-oauth's are.
#[cfg(unix)]
fn caller_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses a file that is no plain file, is not the caller's, or that others can read or write.
#[cfg(unix)]
fn check_file(metadata: &std::fs::Metadata, path: &Path, what: &str) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    if metadata.file_type().is_symlink() {
        return Err(link_refused(path, what));
    }
    if !metadata.is_file() {
        return Err(CliError::Input(format!(
            "the {what} {shown} is not a plain file (a directory, a FIFO?): remove it with `rm {shown}`"
        )));
    }
    if metadata.uid() != caller_uid() {
        return Err(CliError::Input(format!(
            "the {what} {shown} belongs to another user (uid {}), who may have planted it, so td-oauth will not \
             use it: remove it with `rm {shown}` (and keep --cache in a directory of your own)",
            metadata.uid()
        )));
    }
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Input(format!(
            "the {what} {shown} can be read or changed by other users (mode {mode:04o}), so td-oauth will not use \
             it: make it private with `chmod 600 {shown}`, or remove it"
        )));
    }
    Ok(())
}

/// Refuses a directory that is a link, is not the caller's, or that others can write to.
#[cfg(unix)]
fn check_dir(metadata: &std::fs::Metadata, path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    if metadata.file_type().is_symlink() {
        return Err(CliError::Input(format!(
            "the directory {shown} is a symbolic link, which td-oauth does not follow for the tokens it keeps: \
             name the directory it points to instead, or replace the link with a directory (`mkdir -m 700`)"
        )));
    }
    if !metadata.is_dir() {
        return Err(CliError::Input(format!("{shown} is not a directory: name a directory of your own")));
    }
    if metadata.uid() != caller_uid() {
        return Err(CliError::Input(format!(
            "the directory {shown} belongs to another user (uid {}), who can replace the files in it: use a \
             directory of your own (`mkdir -m 700 DIR`)",
            metadata.uid()
        )));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CliError::Input(format!(
            "the directory {shown} can be written by other users (mode {mode:04o}), who could replace the files \
             in it, so td-oauth will not keep tokens there: use a directory of your own (`mkdir -m 700 DIR`), or \
             `chmod go-w {shown}`"
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file(metadata: &std::fs::Metadata, path: &Path, what: &str) -> Result<(), CliError> {
    if metadata.is_file() {
        Ok(())
    } else {
        Err(CliError::Input(format!("the {what} {} is not a plain file: remove it", path.display())))
    }
}

#[cfg(not(unix))]
fn check_dir(metadata: &std::fs::Metadata, path: &Path) -> Result<(), CliError> {
    if metadata.is_dir() && !metadata.file_type().is_symlink() {
        Ok(())
    } else {
        Err(CliError::Input(format!("{} is not a directory: name a directory of your own", path.display())))
    }
}
