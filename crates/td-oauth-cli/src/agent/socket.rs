//! Where the agent listens: a Unix socket only its user can reach, and optionally a loopback TCP port.
//!
//! The socket's directory must belong to the user and be closed to everyone else (0700; created so if
//! missing): between `bind` and `chmod` the socket exists with the umask's mode, and the directory is what
//! keeps other users out meanwhile and afterwards. A leftover socket from an agent that died is removed,
//! but only if it is a socket of this user's that nobody answers on; anything else at the path is refused.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use crate::error::CliError;

/// The socket's name under `$XDG_RUNTIME_DIR` when `--socket` is not given.
const DEFAULT_SOCKET: &str = "td-oauth/agent.sock";

/// The socket path: `--socket`, else `$XDG_RUNTIME_DIR/td-oauth/agent.sock`.
pub(crate) fn socket_path(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(path) = flag {
        return Ok(path);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(DEFAULT_SOCKET)),
        _ => Err(CliError::Input(
            "no socket path: give --socket PATH (in a directory only you can use), or set XDG_RUNTIME_DIR".into(),
        )),
    }
}

/// The effective user id of this process, as the kernel reports it for one end of a socket pair (no libc
/// call, no `unsafe`).
pub(crate) fn current_uid() -> Result<u32, CliError> {
    let cannot = |err: io::Error| CliError::Failed(format!("cannot tell which user this process runs as: {err}"));
    let (ours, _theirs) = tokio::net::UnixStream::pair().map_err(cannot)?;
    Ok(ours.peer_cred().map_err(cannot)?.uid())
}

/// A bound Unix socket, removed on [`remove`](Self::remove) if it is still the one this agent made.
pub(crate) struct UnixSocket {
    path: PathBuf,
    identity: (u64, u64),
}

/// Binds the socket at `path` for the user `uid`, with the directory and leftover checks above.
pub(crate) fn bind_unix(path: &Path, uid: u32) -> Result<(UnixListener, UnixSocket), CliError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    private_dir(dir, uid)?;
    remove_stale(path, uid)?;
    let listener = UnixListener::bind(path)
        .map_err(|err| CliError::Failed(format!("cannot listen on the socket {}: {err}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|err| CliError::Failed(format!("cannot make the socket {} private: {err}", path.display())))?;
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|err| CliError::Failed(format!("cannot read the socket {}: {err}", path.display())))?;
    Ok((listener, UnixSocket { path: path.to_path_buf(), identity: (metadata.dev(), metadata.ino()) }))
}

impl UnixSocket {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file, unless something else has taken its place since.
    pub(crate) fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours && let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!("cannot remove the socket {}: {err}", self.path.display());
        }
    }
}

/// Creates `dir` 0700 if missing; refuses one that is not the user's or that others can enter.
fn private_dir(dir: &Path, uid: u32) -> Result<(), CliError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| CliError::Input(format!("cannot create the socket's directory {}: {err}", dir.display())))?;
    }
    let metadata = std::fs::metadata(dir)
        .map_err(|err| CliError::Input(format!("cannot read the socket's directory {}: {err}", dir.display())))?;
    if !metadata.is_dir() {
        return Err(CliError::Input(format!("the socket's directory {} is not a directory", dir.display())));
    }
    if metadata.uid() != uid {
        return Err(CliError::Input(format!(
            "the socket's directory {} belongs to another user (uid {}): put the socket in a directory of your \
             own, e.g. --socket $XDG_RUNTIME_DIR/td-oauth/agent.sock",
            dir.display(),
            metadata.uid()
        )));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::Input(format!(
            "the socket's directory {} can be used by other users (mode {mode:04o}), who could reach the socket: \
             make it private with `chmod 700 {}`, or put the socket in a directory of its own",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Removes a socket left by an agent that is gone; refuses to touch anything else.
fn remove_stale(path: &Path, uid: u32) -> Result<(), CliError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(CliError::Input(format!("cannot read {}: {err}", path.display()))),
        Ok(metadata) => metadata,
    };
    if !metadata.file_type().is_socket() || metadata.uid() != uid {
        return Err(CliError::Input(format!(
            "{} exists and is not a socket of yours: remove it, or give another --socket",
            path.display()
        )));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(CliError::Input(format!(
            "another agent is listening on {}: stop it first, or give another --socket",
            path.display()
        )));
    }
    std::fs::remove_file(path)
        .map_err(|err| CliError::Input(format!("cannot remove the old socket {}: {err}", path.display())))
}

/// `--listen`: a loopback address only.
pub(crate) fn loopback_addr(text: &str) -> Result<SocketAddr, CliError> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        CliError::Input(format!("--listen {text}: give a loopback address and port, as 127.0.0.1:8111 or [::1]:8111"))
    })?;
    if !addr.ip().is_loopback() {
        return Err(CliError::Input(format!(
            "--listen {text}: the agent listens on loopback only (127.0.0.1:PORT or [::1]:PORT): another machine \
             must never be able to ask it for a token"
        )));
    }
    Ok(addr)
}

/// Binds `addr` (a loopback address).
pub(crate) async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).await.map_err(|err| CliError::Failed(format!("cannot listen on {addr}: {err}")))
}
