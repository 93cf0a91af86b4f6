//! A real PostgreSQL server for tests: `initdb` and `postgres` from the system's PostgreSQL (Debian's
//! `postgresql` package puts them in `/usr/lib/postgresql/<version>/bin`), a fresh cluster in a temporary
//! directory, listening on a free loopback port; stopped and removed on drop.
//!
//! `initdb` and `postgres` refuse to run as root, which CI is: as root, both run as the unprivileged user
//! `nobody` (through util-linux's `setpriv`), in a directory handed to that user.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Error;
use crate::redis::free_port;

/// How long `postgres` may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The superuser `initdb` creates.
pub const POSTGRES_USER: &str = "td_oauth";

/// A PostgreSQL server of this test's own: a cluster made by `initdb`, password authentication
/// (scram-sha-256) on TCP, fsync off.
///
/// ```no_run
/// use td_oauth_testkit::PostgresServer;
///
/// let postgres = PostgresServer::start()?;
/// println!("{}", postgres.url()); // postgres://td_oauth:<password>@127.0.0.1:<port>/postgres
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
pub struct PostgresServer {
    child: Mutex<Option<Child>>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// The user and group ids to run as, when this process is root.
    run_as: Option<(u32, u32)>,
    password: String,
    /// The self-signed certificate's PEM, when the server speaks TLS.
    ca_pem: Option<String>,
}

impl std::fmt::Debug for PostgresServer {
    /// Without the password: a test's output is read by people too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("run_as", &self.run_as)
            .field("tls", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresServer {
    /// Where `initdb` and `postgres` are: `$TD_OAUTH_POSTGRES_BIN`, else the directory of `initdb` on PATH,
    /// else the newest `/usr/lib/postgresql/<version>/bin`. The error says how to install them, for tests
    /// to print when they skip.
    pub fn binaries() -> Result<PathBuf, Error> {
        if let Some(dir) = std::env::var_os("TD_OAUTH_POSTGRES_BIN") {
            let dir = PathBuf::from(dir);
            return if complete(&dir) {
                Ok(dir)
            } else {
                Err(Error::Postgres(format!(
                    "TD_OAUTH_POSTGRES_BIN={} does not hold initdb, postgres and pg_isready",
                    dir.display()
                )))
            };
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                // initdb on PATH may be a link into the real directory, which holds the other programs.
                let real =
                    std::fs::canonicalize(dir.join("initdb")).ok().and_then(|initdb| Some(initdb.parent()?.to_owned()));
                if let Some(real) = real.filter(|real| complete(real)) {
                    return Ok(real);
                }
            }
        }
        let newest = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version: u32 = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                complete(&bin).then_some((version, bin))
            })
            .max_by_key(|(version, _)| *version);
        newest.map(|(_, bin)| bin).ok_or_else(|| {
            Error::Postgres(
                "PostgreSQL is not installed (no initdb on PATH nor in /usr/lib/postgresql/*/bin): install the \
                 Debian package postgresql (.ci/run and cargo xtask test do), or set TD_OAUTH_POSTGRES_BIN"
                    .to_owned(),
            )
        })
    }

    /// Makes a cluster with `initdb` and starts `postgres` on it, waiting until it accepts connections.
    pub fn start() -> Result<PostgresServer, Error> {
        PostgresServer::start_with(false)
    }

    /// [`start`](Self::start), speaking TLS only (`ssl=on`, every TCP entry of pg_hba.conf `hostssl`) under a
    /// self-signed certificate for `localhost` and `127.0.0.1` made for this server ([`ca_pem`](Self::ca_pem)).
    pub fn start_tls() -> Result<PostgresServer, Error> {
        PostgresServer::start_with(true)
    }

    fn start_with(tls: bool) -> Result<PostgresServer, Error> {
        let bin = PostgresServer::binaries()?;
        let port = free_port()?;
        let run_as = unprivileged_user()?;
        let dir = temp_dir(port, run_as)?;
        let server = PostgresServer {
            child: Mutex::new(None),
            port,
            dir,
            bin,
            run_as,
            password: format!("pw-{port}-{}", std::process::id()),
            ca_pem: None,
        };
        // From here on, drop removes the directory.
        let server = if tls { server.with_certificate()? } else { server };
        server.init()?;
        server.launch()?;
        Ok(server)
    }

    /// `postgres://td_oauth:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `database` on this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{POSTGRES_USER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// The PEM of the certificate a [`start_tls`](Self::start_tls) server presents (its own CA).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and waits for it to exit. Its data
    /// stays until drop.
    pub fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
        // SIGINT is postgres's fast shutdown; the child is postgres itself (setpriv execs it).
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server and starts it again on the same port and data, as a deploy would.
    pub fn restart(&self) -> Result<(), Error> {
        self.stop();
        self.launch()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` from the PostgreSQL binaries, as the unprivileged user when this process is root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.run_as {
            Some((uid, gid)) => {
                let mut command = Command::new("setpriv");
                command.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn init(&self) -> Result<(), Error> {
        let password_file = self.dir.join("password");
        std::fs::write(&password_file, &self.password).map_err(|err| io("writing the password file", &err))?;
        self.hand_over(&password_file)?;
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", POSTGRES_USER, "-E", "UTF8", "--no-locale", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()))
            .stdin(Stdio::null())
            .env("LC_ALL", "C")
            .output()
            .map_err(|err| {
                if err.kind() == std::io::ErrorKind::NotFound && self.run_as.is_some() {
                    Error::Postgres("setpriv (util-linux) is needed to run initdb as `nobody` when root".to_owned())
                } else {
                    io("running initdb", &err)
                }
            })?;
        if !output.status.success() {
            return Err(Error::Postgres(format!(
                "initdb failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
            )));
        }
        if self.ca_pem.is_some() {
            self.accept_tls_only()?;
        }
        Ok(())
    }

    /// Makes every TCP entry of pg_hba.conf a `hostssl` one, so that a client without TLS is refused.
    fn accept_tls_only(&self) -> Result<(), Error> {
        let path = self.data().join("pg_hba.conf");
        let text = std::fs::read_to_string(&path).map_err(|err| io("reading pg_hba.conf", &err))?;
        let rewritten: String = text
            .lines()
            .map(|line| match line.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&path, rewritten).map_err(|err| io("writing pg_hba.conf", &err))
    }

    fn launch(&self) -> Result<(), Error> {
        let log_path = self.dir.join("postgres.log");
        let log = File::create(&log_path).map_err(|err| io("creating the server log", &err))?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-c", &format!("listen_addresses={}", Ipv4Addr::LOCALHOST)])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=40", "-c", "shared_buffers=16MB"])
            .args(self.ca_pem.as_ref().map(|_| self.tls_settings()).unwrap_or_default())
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|err| io("starting postgres", &err))?;
        *self.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        self.wait_until_ready(&log_path)
    }

    fn wait_until_ready(&self, log: &Path) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", POSTGRES_USER])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(Error::Postgres(format!("postgres exited at start-up ({status}): {}", last_line(log))));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::Postgres(format!(
                    "postgres did not accept connections within {START_TIMEOUT:?}: {}",
                    last_line(log)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes a fresh self-signed certificate and its key (readable by the server's user alone, as postgres
    /// insists) into the server's directory.
    fn with_certificate(mut self) -> Result<PostgresServer, Error> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|err| Error::Tls(err.to_string()))?;
        let pem = certified.cert.pem();
        for (name, text, mode) in
            [("server.crt", pem.clone(), 0o644), ("server.key", certified.signing_key.serialize_pem(), 0o600)]
        {
            let path = self.dir.join(name);
            std::fs::write(&path, text).map_err(|err| io(&format!("writing {name}"), &err))?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|err| io(&format!("setting {name}'s mode"), &err))?;
            self.hand_over(&path)?;
        }
        self.ca_pem = Some(pem);
        Ok(self)
    }

    fn tls_settings(&self) -> Vec<String> {
        let file = |name: &str| self.dir.join(name).display().to_string();
        [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", file("server.crt")),
            format!("ssl_key_file={}", file("server.key")),
        ]
        .into_iter()
        .flat_map(|setting| ["-c".to_owned(), setting])
        .collect()
    }

    /// Gives `path` to the unprivileged user, if the server runs as one.
    fn hand_over(&self, path: &Path) -> Result<(), Error> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|err| io(&format!("handing {} to uid {uid}", path.display()), &err))?;
        }
        Ok(())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `dir` holds the programs a test server needs.
fn complete(dir: &Path) -> bool {
    ["initdb", "postgres", "pg_isready"].iter().all(|program| dir.join(program).is_file())
}

/// `nobody`'s user and group ids when this process is root (whom initdb refuses), else `None`.
fn unprivileged_user() -> Result<Option<(u32, u32)>, Error> {
    let id = |args: &[&str]| -> Option<u32> {
        let output = Command::new("id").args(args).stdin(Stdio::null()).output().ok()?;
        String::from_utf8(output.stdout).ok()?.trim().parse().ok()
    };
    match id(&["-u"]) {
        Some(0) => {}
        Some(_) => return Ok(None),
        None => return Err(Error::Postgres("`id -u` did not say who this process runs as".to_owned())),
    }
    match (id(&["-u", "nobody"]), id(&["-g", "nobody"])) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => Err(Error::Postgres(
            "running as root, and there is no user `nobody` to run initdb and postgres as (they refuse root)"
                .to_owned(),
        )),
    }
}

fn temp_dir(port: u16, run_as: Option<(u32, u32)>) -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!("td-oauth-postgres-{}-{}-{}", std::process::id(), port, COUNTER.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(|err| io(&format!("creating {}", dir.display()), &err))?;
    if let Some((uid, gid)) = run_as
        && let Err(err) = std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
    {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(io(&format!("handing {} to uid {uid}", dir.display()), &err));
    }
    Ok(dir)
}

fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|text| text.lines().rev().find(|line| !line.trim().is_empty()).map(str::to_owned))
        .unwrap_or_else(|| "(nothing in its log)".to_owned())
}

fn io(what: &str, err: &std::io::Error) -> Error {
    Error::Postgres(format!("{what} failed: {err}"))
}
