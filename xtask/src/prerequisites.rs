//! What `cargo xtask test` needs besides cargo: a `redis-server` binary, which td-oauth-redis's tests and
//! the CLI's `--cache` tests start on a loopback port of their own, `redis-cli`, which joins the cluster
//! tests' three servers into a Redis Cluster, and `chromium`, the real browser the CLI's `login` test drives
//! headless. Installed from the Debian packages (redis-server, redis-tools, chromium) when missing, so the
//! test command works on a fresh machine as the README says. Without Chromium (no apt-get, or no package
//! for this machine) the browser test skips, and this says so. `python3`, `node` and `curl` run the
//! `td-oauth agent` snippets (Debian's python3, nodejs and curl), each test skipping, said here, without.
//! `dbus-daemon`, `dbus-send` and `gnome-keyring-daemon` (Debian's dbus-daemon, dbus-bin and
//! gnome-keyring) are the real Secret Service the CLI's keyring login tests start on a private bus.
//! PostgreSQL's server programs (`initdb`, `postgres`, `pg_isready`; Debian's postgresql, which puts them in
//! `/usr/lib/postgresql/<version>/bin`) run the test clusters of td-oauth-postgres's tests, which skip, said
//! here, without.
//! `softhsm2-util` and SoftHSM2's PKCS#11 module (Debian's softhsm2) are the token td-oauth-pkcs11's and the
//! CLI's `--private-key-uri` tests make keys in; those tests skip, saying why, without.
use std::process::Command;

/// Makes sure `redis-server` and `redis-cli` can be started, installing them with apt-get if need be.
pub(crate) fn ensure_redis_server() -> Result<(), String> {
    ensure("redis-server", "redis-server").and_then(|()| ensure("redis-cli", "redis-tools")).map_err(|why| {
        format!(
            "{why}: install Redis (the redis-server and redis-tools packages or your system's equivalent) and run \
             again"
        )
    })
}

/// Makes sure `chromium` is there for the browser test, installing it with apt-get if need be; when it
/// cannot be, says that the test will skip (it is no reason to stop the others).
pub(crate) fn ensure_chromium() {
    if let Err(why) = ensure("chromium", "chromium") {
        println!("==> xtask test: {why}; the CLI's headless-browser login test will skip");
    }
}

/// Makes sure `python3`, `node` and `curl` are there for the `td-oauth agent` snippet tests, installing them
/// with apt-get if need be; each one that cannot be means its test will skip, and this says so.
pub(crate) fn ensure_snippet_runtimes() {
    for (program, package, test) in
        [("python3", "python3", "Python"), ("node", "nodejs", "Node.js"), ("curl", "curl", "curl")]
    {
        if let Err(why) = ensure(program, package) {
            println!("==> xtask test: {why}; the agent's {test} snippet test will skip");
        }
    }
}

/// Makes sure a Secret Service can be started for the CLI's keyring login tests (a private D-Bus session
/// bus and gnome-keyring-daemon), installing the packages with apt-get if need be; when they cannot be,
/// says that those tests will skip.
pub(crate) fn ensure_secret_service() {
    for (program, package) in
        [("dbus-daemon", "dbus-daemon"), ("dbus-send", "dbus-bin"), ("gnome-keyring-daemon", "gnome-keyring")]
    {
        if let Err(why) = ensure(program, package) {
            println!("==> xtask test: {why}; the CLI's Secret Service login tests will skip");
            return;
        }
    }
}

/// Makes sure PostgreSQL's `initdb`, `postgres` and `pg_isready` are there for td-oauth-postgres's tests
/// (on PATH or in `/usr/lib/postgresql/<version>/bin`, where td-oauth-testkit's `PostgresServer` looks),
/// installing Debian's postgresql if need be; when they cannot be, says that those tests will skip.
pub(crate) fn ensure_postgres() {
    if postgres_found() {
        return;
    }
    let outcome = if found("apt-get") {
        println!("==> xtask test: PostgreSQL (initdb) is missing; installing the Debian package postgresql");
        install("postgresql").and_then(|()| {
            if postgres_found() {
                Ok(())
            } else {
                Err("apt-get installed postgresql but no initdb is found".to_owned())
            }
        })
    } else {
        Err("PostgreSQL (initdb) is not installed and there is no apt-get to install it".to_owned())
    };
    if let Err(why) = outcome {
        println!("==> xtask test: {why}; td-oauth-postgres's tests will skip");
    }
}

/// Whether PostgreSQL's server programs are on PATH or in a Debian PostgreSQL's directory.
fn postgres_found() -> bool {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|version| version.path().join("bin").join("initdb").is_file());
    found("initdb") || debian
}

/// Makes sure SoftHSM2 (`softhsm2-util` and its module) is there for the PKCS#11 tests, installing it with
/// apt-get if need be; when it cannot be, says that those tests will skip.
pub(crate) fn ensure_softhsm() {
    if let Err(why) = ensure("softhsm2-util", "softhsm2") {
        println!("==> xtask test: {why}; the PKCS#11 (SoftHSM2) tests will skip");
    }
}

/// Makes sure `program` is on PATH, installing the Debian `package` if need be.
fn ensure(program: &str, package: &str) -> Result<(), String> {
    if found(program) {
        return Ok(());
    }
    if !found("apt-get") {
        return Err(format!("{program} is not installed and there is no apt-get to install it"));
    }
    println!("==> xtask test: {program} is missing; installing the Debian package {package}");
    install(package)?;
    if found(program) { Ok(()) } else { Err(format!("apt-get installed {package} but {program} is not on PATH")) }
}

/// Installs the Debian `package` with apt-get (as root, or through sudo).
fn install(package: &str) -> Result<(), String> {
    // As root directly; otherwise through sudo, as on CI runners with an ordinary user.
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut command = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            command.arg("apt-get");
        }
        let status = command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|err| format!("could not run apt-get: {err}"))?;
        if status.success() { Ok(()) } else { Err(format!("apt-get {} failed ({status})", args.join(" "))) }
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", package])
}

/// Whether `program` is on PATH.
fn found(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
