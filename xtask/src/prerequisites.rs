//! What `cargo xtask test` needs besides cargo: a `redis-server` binary, which td-oauth-redis's tests and
//! the CLI's `--cache` tests start on a loopback port of their own, and `redis-cli`, which joins the
//! cluster tests' three servers into a Redis Cluster. Installed from the Debian packages (redis-server,
//! redis-tools) when missing, so the test command works on a fresh machine as the README says.

use std::process::Command;

/// Makes sure `redis-server` and `redis-cli` can be started, installing them with apt-get if need be.
pub(crate) fn ensure_redis_server() -> Result<(), String> {
    if found("redis-server") && found("redis-cli") {
        return Ok(());
    }
    if !found("apt-get") {
        return Err("redis-server or redis-cli is not installed and there is no apt-get to install them: install \
                    Redis (the redis-server and redis-tools packages or your system's equivalent) and run again"
            .to_owned());
    }
    println!("==> xtask test: redis-server or redis-cli is missing; installing the Debian packages");
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
    apt(&["install", "-y", "-qq", "redis-server", "redis-tools"])?;
    if found("redis-server") && found("redis-cli") {
        Ok(())
    } else {
        Err("apt-get installed redis-server and redis-tools but redis-server or redis-cli is not on PATH".to_owned())
    }
}

/// Whether `program` is on PATH.
fn found(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
