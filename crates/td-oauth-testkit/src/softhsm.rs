//! SoftHSM2 for tests of PKCS#11 signing: a token store of the test's own in a fresh temporary directory
//! (a `softhsm2.conf` naming it, for `SOFTHSM2_CONF`), tokens initialised and keys imported with
//! `softhsm2-util` (Debian's `softhsm2`, which `.ci/run` and `cargo xtask test` install when missing).
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, when a process first initialises the module, and a process cannot
//! set its own environment without `unsafe`. So a test that loads the module runs in a child process:
//! [`SoftHsm::run_isolated`] starts the test binary again for that one test, with `SOFTHSM2_CONF` naming a
//! fresh store, and the child runs the body. Processes that are started anyway (`td-oauth`, `softhsm2-util`)
//! are simply given [`SoftHsm::conf`] in their environment.
//!
//! The PINs here are throwaway values for tokens that live as long as one test; `softhsm2-util` takes them
//! only as arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::Error;

/// How long a test may run in its child process before it is stopped and failed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// The variable that names the store to a child test process.
const STORE_VAR: &str = "TD_OAUTH_SOFTHSM_DIR";

/// Where distributions install SoftHSM2's PKCS#11 module, Debian's first.
const MODULE_PATHS: [&str; 6] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// A SoftHSM2 token store in a temporary directory, removed on drop by the process that created it.
#[derive(Debug)]
pub struct SoftHsm {
    dir: PathBuf,
    module: PathBuf,
    owned: bool,
}

impl SoftHsm {
    /// SoftHSM2's module (`SOFTHSM2_MODULE` if set, else the usual install paths), or why there is none.
    pub fn module() -> Result<PathBuf, Error> {
        if let Some(path) = std::env::var_os("SOFTHSM2_MODULE") {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(Error::SoftHsm(format!("SOFTHSM2_MODULE names {}, which is not a file", path.display())))
            };
        }
        MODULE_PATHS.iter().map(PathBuf::from).find(|path| path.is_file()).ok_or_else(|| {
            Error::SoftHsm(format!(
                "SoftHSM2's PKCS#11 module is not installed (looked for {}): install the softhsm2 package \
                 (.ci/run and `cargo xtask test` do), or set SOFTHSM2_MODULE",
                MODULE_PATHS.join(", ")
            ))
        })
    }

    /// A new, empty store with its `softhsm2.conf`.
    pub fn create() -> Result<SoftHsm, Error> {
        let module = SoftHsm::module()?;
        if Command::new("softhsm2-util").arg("--version").output().is_err() {
            return Err(Error::SoftHsm(
                "softhsm2-util is not on PATH: install the softhsm2 package (.ci/run and `cargo xtask test` do)".into(),
            ));
        }
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!("td-oauth-softhsm-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(name);
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).map_err(|err| io("create", &tokens, &err))?;
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        );
        let hsm = SoftHsm { dir, module, owned: true };
        std::fs::write(hsm.conf(), conf).map_err(|err| io("write", &hsm.conf(), &err))?;
        Ok(hsm)
    }

    /// The store a parent process made for this child process ([`run_isolated`](Self::run_isolated),
    /// [`child`](Self::child)), if this is one.
    pub fn inherited() -> Option<SoftHsm> {
        let dir = PathBuf::from(std::env::var_os(STORE_VAR)?);
        let module = SoftHsm::module().ok()?;
        Some(SoftHsm { dir, module, owned: false })
    }

    /// Runs `body` with a store whose `softhsm2.conf` this process's `SOFTHSM2_CONF` names: in a child
    /// process running only the test `test_name` (its full name, as `cargo test -- --exact` takes it).
    /// When SoftHSM2 is not installed it prints why and returns without running `body`; a child that fails
    /// fails the calling test, with the child's output.
    #[allow(clippy::panic, clippy::print_stderr)] // a test's fixture: failing loudly is its job
    pub fn run_isolated(test_name: &str, body: impl FnOnce(&SoftHsm)) {
        if let Some(hsm) = SoftHsm::inherited() {
            body(&hsm);
            return;
        }
        let hsm = match SoftHsm::create() {
            Ok(hsm) => hsm,
            Err(why) => {
                eprintln!("skipping {test_name}: {why}");
                return;
            }
        };
        let exe = std::env::current_exe().unwrap_or_else(|err| panic!("cannot find the test binary: {err}"));
        // The child's output goes to files, so that a child that hangs can be stopped and still be heard.
        let (stdout_path, stderr_path) = (hsm.dir.join("child.stdout"), hsm.dir.join("child.stderr"));
        let file = |path: &Path| {
            std::fs::File::create(path).unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()))
        };
        let mut child = hsm
            .child(exe)
            .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
            .stdin(Stdio::null())
            .stdout(file(&stdout_path))
            .stderr(file(&stderr_path))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run the test binary for {test_name}: {err}"));
        let started = std::time::Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < CHILD_TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        match status {
            Some(status) => assert!(
                status.success() && stdout.contains("1 passed"),
                "{test_name} failed in its SoftHSM2 process ({status}):\n{stdout}\n{stderr}"
            ),
            None => panic!(
                "{test_name} did not finish within {} s in its SoftHSM2 process, and was stopped:\n{stdout}\n{stderr}",
                CHILD_TIMEOUT.as_secs()
            ),
        }
        eprint!("{stderr}");
    }

    /// `program` set up to run as a child process over this store: `SOFTHSM2_CONF` names its conf, and
    /// [`inherited`](Self::inherited) finds the store in the child (a bench re-running itself, say).
    pub fn child(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("SOFTHSM2_CONF", self.conf()).env(STORE_VAR, &self.dir);
        command
    }

    /// The PKCS#11 module to load.
    pub fn module_path(&self) -> &Path {
        &self.module
    }

    /// The `softhsm2.conf` to give processes as `SOFTHSM2_CONF`.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The store's directory, for the test's own files (key files, PIN files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Initialises a token labelled `label` in the first free slot, with the user PIN `pin`.
    pub fn init_token(&self, label: &str, pin: &str) -> Result<(), Error> {
        self.util(&["--init-token", "--free", "--label", label, "--so-pin", "so-pin-for-tests", "--pin", pin])
    }

    /// Imports a private key given as PKCS#8 PEM (`BEGIN PRIVATE KEY`, the form `softhsm2-util` reads) into
    /// the token `token` as the object `label` with CKA_ID `id`, its public key beside it. The PEM goes
    /// through a file in the store's directory, removed before this returns.
    pub fn import_pkcs8_pem(&self, token: &str, pin: &str, label: &str, id: &[u8], pem: &str) -> Result<(), Error> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let file = self.dir.join(format!("import-{}.pem", COUNTER.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&file, pem).map_err(|err| io("write", &file, &err))?;
        let id: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
        let result = self.util(&[
            "--import",
            &file.to_string_lossy(),
            "--token",
            token,
            "--label",
            label,
            "--id",
            &id,
            "--pin",
            pin,
        ]);
        let _ = std::fs::remove_file(&file);
        result
    }

    /// Deletes the token `label` and everything in it.
    pub fn delete_token(&self, label: &str) -> Result<(), Error> {
        self.util(&["--delete-token", "--token", label])
    }

    fn util(&self, args: &[&str]) -> Result<(), Error> {
        let output = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .stdin(Stdio::null())
            .output()
            .map_err(|err| Error::SoftHsm(format!("could not run softhsm2-util: {err}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::SoftHsm(format!(
                "softhsm2-util {} failed ({}): {}",
                args.first().unwrap_or(&""),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }
}

impl Drop for SoftHsm {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn io(action: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::SoftHsm(format!("could not {action} {}: {err}", path.display()))
}
