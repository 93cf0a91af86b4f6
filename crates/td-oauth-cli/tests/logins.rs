//! Logins kept in the system keyring (a real Secret Service: gnome-keyring-daemon on a private D-Bus
//! session bus, both started here) and in the file store: `login --headless` end to end (this test plays the
//! user: it follows the authorize URL and pastes the address the browser would end on), `token --user` and
//! its rotation (under the lock, with runs at once), `auth status` (`--check`, `--json`), `logout` and
//! `logout --all`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use td_oauth_testkit::{Algorithm, ClientCredentials, ClientSpec, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout, td_oauth};

const REDIRECT: &str = "http://127.0.0.1/callback";
const PASSWORD: &str = "td-oauth-test-keyring";

/// A Secret Service of this test's own: a D-Bus session bus and gnome-keyring-daemon on it, its keyring
/// unlocked with a password, its files in a scratch directory. Both processes stop when it drops.
struct SecretService {
    bus: Child,
    keyring: Option<Child>,
    address: String,
    home: PathBuf,
}

impl SecretService {
    /// Starts one, or says why it cannot (the programs are missing).
    fn start(scratch: &Scratch) -> Option<SecretService> {
        for (program, package) in
            [("dbus-daemon", "dbus-daemon"), ("dbus-send", "dbus-bin"), ("gnome-keyring-daemon", "gnome-keyring")]
        {
            if !on_path(program) {
                // `cargo xtask test` and .ci/run install them; a machine where they cannot skips, and says so.
                eprintln!("skipped: {program} is not installed (the Debian package `{package}`)");
                return None;
            }
        }
        let home = scratch.path().join("secret-service");
        let runtime = home.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        // gnome-keyring-daemon keeps its keyrings in $XDG_DATA_HOME/keyrings, but does not create the former.
        std::fs::create_dir_all(home.join("data")).unwrap();
        std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        // A session bus that starts no service on demand: the system's session configuration would start a
        // gnome-keyring-daemon of its own (without an unlocked keyring) for the first call to the Secret
        // Service's name, before the one started here has taken it.
        let config = home.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig><type>session</type>\
                 <listen>unix:path={}</listen><auth>EXTERNAL</auth><policy context=\"default\">\
                 <allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/><allow own=\"*\"/>\
                 </policy></busconfig>\n",
                runtime.join("bus").display()
            ),
        )
        .unwrap();
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address).unwrap();
        let mut service = SecretService { bus, keyring: None, address: address.trim().to_owned(), home: home.clone() };
        assert!(service.address.starts_with("unix:"), "dbus-daemon printed {:?}", service.address);
        service.start_keyring();
        Some(service)
    }

    /// Starts gnome-keyring-daemon (its secrets component), which creates or unlocks the login keyring with
    /// the password on its standard input, and waits until it owns the Secret Service's name on the bus.
    fn start_keyring(&mut self) {
        let mut daemon = self
            .environment(&mut Command::new("gnome-keyring-daemon"))
            .args(["--unlock", "--components=secrets", "--foreground"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        daemon.stdin.take().unwrap().write_all(PASSWORD.as_bytes()).unwrap();
        self.keyring = Some(daemon);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.answers() {
            assert!(Instant::now() < deadline, "gnome-keyring-daemon did not open its login keyring");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops gnome-keyring-daemon (the bus stays): the Secret Service no longer answers.
    fn stop_keyring(&mut self) {
        if let Some(mut daemon) = self.keyring.take() {
            let _ = Command::new("kill").arg(daemon.id().to_string()).status();
            let _ = daemon.wait();
        }
    }

    /// Whether the Secret Service answers with its default collection (the login keyring, unlocked): the
    /// daemon takes its name on the bus before it has opened the keyring.
    fn answers(&self) -> bool {
        let output = self
            .environment(&mut Command::new("dbus-send"))
            .args(["--session", "--print-reply", "--dest=org.freedesktop.secrets", "/org/freedesktop/secrets"])
            .args(["org.freedesktop.Secret.Service.ReadAlias", "string:default"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).contains("/org/freedesktop/secrets/collection/")
    }

    /// `command` on this bus, with a home and data directory of its own.
    fn environment<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("XDG_RUNTIME_DIR", self.home.join("run"))
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.stop_keyring();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Where the commands of one test find their server, client, configuration and (maybe) Secret Service.
struct Setup {
    server: TestServer,
    scratch: Scratch,
    secret_service: Option<SecretService>,
}

impl Setup {
    fn new(name: &str, secret_service: bool) -> Option<Setup> {
        let scratch = Scratch::new(name);
        let secret_service = if secret_service { Some(SecretService::start(&scratch)?) } else { None };
        Some(Setup { server: TestServer::start().unwrap(), scratch, secret_service })
    }

    fn client(&self) -> (ClientCredentials, PathBuf) {
        let client =
            self.server.register_client_with(ClientSpec::new(Algorithm::Es256).redirect_uri(REDIRECT)).unwrap();
        let key_file = self.scratch.file(&format!("{}.key", client.client_id), &client.private_key);
        (client, key_file)
    }

    fn config_home(&self) -> PathBuf {
        self.scratch.path().join("config")
    }

    /// `td-oauth SUBCOMMAND` as `client`, with this test's configuration directory and bus.
    fn command(&self, subcommand: &str, client: &(ClientCredentials, PathBuf)) -> Command {
        let mut command = connected(subcommand, &self.server, &client.0, &client.1);
        self.environment(&mut command);
        command
    }

    /// `td-oauth ARGS` without a client.
    fn bare(&self, args: &[&str]) -> Command {
        let mut command = td_oauth();
        command.args(args);
        self.environment(&mut command);
        command
    }

    fn environment(&self, command: &mut Command) {
        command.env("XDG_CONFIG_HOME", self.config_home());
        match &self.secret_service {
            Some(service) => {
                service.environment(command);
            }
            None => {
                command.env(
                    "DBUS_SESSION_BUS_ADDRESS",
                    format!("unix:path={}", self.scratch.path().join("no-bus").display()),
                );
            }
        }
    }

    /// The login records kept.
    fn records(&self) -> Vec<(PathBuf, serde_json::Value)> {
        let dir = self.config_home().join("td-oauth/logins");
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut records: Vec<(PathBuf, serde_json::Value)> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .map(|path| {
                let json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                (path, json)
            })
            .collect();
        records.sort_by(|a, b| a.0.cmp(&b.0));
        records
    }
}

/// A running `td-oauth login --headless`: its standard input, and the lines of its standard error.
struct Headless {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Headless {
    fn start(command: &mut Command) -> Headless {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                if sender.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Headless { child, stdin, lines, seen: Vec::new() }
    }

    /// The authorize URL it printed.
    fn url(&mut self) -> String {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("login prints the URL");
            self.seen.push(line.clone());
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
    }

    /// Types `text` and Enter, as the user pasting.
    fn paste(&mut self, text: &str) {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
    }

    /// Waits for it to end: its exit code and everything it printed on standard error.
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("login did not finish; it printed: {}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"))
    }
}

/// What the user's browser does with the authorize URL: the address it ends on, the testkit's redirect to
/// the registered loopback URI (which nothing serves: the browser stops there).
fn browser_ends_on(url: &str) -> String {
    let agent: td_oauth_ureq::ureq::Agent =
        td_oauth_ureq::ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
    let response = agent.get(url).call().unwrap();
    assert_eq!(response.status(), 302, "the authorize endpoint redirects back");
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// `login --headless` as `client` with `extra` flags, the user pasting what `paste` makes of the address
/// the browser ended on.
fn headless_login(
    setup: &Setup,
    client: &(ClientCredentials, PathBuf),
    extra: &[&str],
    paste: impl FnOnce(&str) -> String,
) -> (Option<i32>, String) {
    let mut login = Headless::start(
        setup.command("login", client).args(["--headless", "--scope", "openid offline_access users:read"]).args(extra),
    );
    let url = login.url();
    let query =
        |name: &str| url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(query("redirect_uri").as_deref(), Some(REDIRECT), "the registered loopback URI: {url}");
    assert_eq!(query("code_challenge_method").as_deref(), Some("S256"), "PKCE: {url}");
    let address = browser_ends_on(&url);
    assert!(address.starts_with(&format!("{REDIRECT}?")), "{address}");
    login.paste(&paste(&address));
    login.finish()
}

/// A file put back by hand as td-oauth would write it: 0600.
fn write_private(path: &std::path::Path, bytes: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|err| panic!("{err}: {}", stdout(output)))
}

/// Everything a login goes through, in the store `storage` names ("keyring" or "file").
fn a_login_lives_and_dies(setup: &Setup, storage: &str) {
    let server = &setup.server;
    let client = setup.client();

    let (code, printed) = headless_login(setup, &client, &[], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    let expected = if storage == "keyring" { "kept in the system keyring" } else { "kept in the file" };
    assert!(printed.contains(expected), "{printed}");
    assert_eq!(server.count_grant("authorization_code"), 1);

    // The record says where the login is; only the file store puts the refresh token in it.
    let records = setup.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let (record_file, record) = &records[0];
    assert_eq!(record["storage"], storage);
    assert_eq!(record["client_id"], client.0.client_id.as_str());
    assert_eq!(record["user"]["name"], "Testkit User");
    assert_eq!(record["refresh_token"].is_string(), storage == "file", "{record}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(record_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // `token --user`, rotating the refresh token each time: a run that did not keep the rotated one would
    // fail the next with invalid_grant.
    let mut access_tokens = Vec::new();
    for _ in 0..2 {
        let output = run(setup.command("token", &client).arg("--user"));
        assert_exit(&output, 0);
        access_tokens.push(stdout(&output).trim().to_owned());
    }
    assert_eq!(server.count_grant("refresh_token"), 2);

    // Four runs at once: the lock lets one refresh at a time, each with the token the last one kept.
    let runs: Vec<Child> = (0..4)
        .map(|_| {
            setup.command("token", &client).arg("--user").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in runs {
        assert_exit(&child.wait_with_output().unwrap(), 0);
    }
    assert_exit(&run(setup.command("token", &client).arg("--user")), 0);
    assert_eq!(server.count_grant("refresh_token"), 7);

    // `auth status`: the login, who it is, where; never a token.
    let output = run(&mut setup.bare(&["auth", "status"]));
    assert_exit(&output, 0);
    let shown = stdout(&output);
    for expected in [client.0.client_id.as_str(), server.token_url(), "Testkit User", "rotated:", "ok"] {
        assert!(shown.contains(expected), "{expected}: {shown}");
    }
    let kept_in =
        if storage == "keyring" { "the system keyring".to_owned() } else { record_file.display().to_string() };
    assert!(shown.contains(&kept_in), "{shown}");
    assert!(access_tokens.iter().all(|token| !shown.contains(token.as_str())));
    assert!(!shown.contains("eyJ"), "no token: {shown}");

    let output = run(&mut setup.bare(&["auth", "status", "--json"]));
    assert_exit(&output, 0);
    let json = json_of(&output);
    assert_eq!(json[0]["storage"], storage);
    assert_eq!(json[0]["client_id"], client.0.client_id.as_str());
    assert_eq!(json[0]["user"]["sub"], record["user"]["sub"]);
    assert!(json[0]["rotated_at"].as_u64().unwrap() >= json[0]["logged_in_at"].as_u64().unwrap());

    // --check obtains a token with the client's credentials (one more refresh), and says when it cannot.
    let output = run(&mut status_check(setup, &client));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("a token was obtained"), "{}", stdout(&output));
    assert_eq!(server.count_grant("refresh_token"), 8);
    let output = run(&mut setup.bare(&["auth", "status", "--check"]));
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("not checked"), "{}", stdout(&output));
    server.revoke_all_tokens();
    let output = run(&mut status_check(setup, &client));
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("failing"), "{}", stdout(&output));

    // logout removes it from where it is kept.
    let saved_record = std::fs::read(record_file).unwrap();
    let output = run(&mut setup.command("logout", &client));
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains(&format!("removed the login of client {}", client.0.client_id)),
        "{}",
        stderr(&output)
    );
    assert!(setup.records().is_empty());
    let output = run(setup.command("token", &client).arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("not logged in"), "{}", stderr(&output));
    if storage == "keyring" {
        // The record put back by hand finds no keyring entry: the keyring's was removed too.
        write_private(record_file, &saved_record);
        let output = run(setup.command("token", &client).arg("--user"));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("has no entry"), "{}", stderr(&output));
        std::fs::remove_file(record_file).unwrap();
    }
    let output = run(&mut setup.bare(&["auth", "status"]));
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("no login is kept"), "{}", stderr(&output));
}

/// `auth status --check` with the client's credentials (through the flags `connected` gives).
fn status_check(setup: &Setup, client: &(ClientCredentials, PathBuf)) -> Command {
    let mut command = td_oauth();
    command
        .args(["auth", "status", "--check"])
        .args([
            "--token-url",
            setup.server.token_url(),
            "--client-id",
            &client.0.client_id,
            "--key-id",
            &client.0.key_id,
        ])
        .arg("--private-key-file")
        .arg(&client.1)
        .args(["--timeout", "2", "--retries", "0"]);
    setup.environment(&mut command);
    command
}

#[test]
fn a_login_in_the_secret_service() {
    let Some(setup) = Setup::new("logins-keyring", true) else { return };
    a_login_lives_and_dies(&setup, "keyring");
}

#[test]
fn a_login_in_a_file_when_no_secret_service_answers() {
    let setup = Setup::new("logins-file", false).unwrap();
    a_login_lives_and_dies(&setup, "file");
    // auto said why it chose the file; --storage keyring refuses to do without the keyring.
    let client = setup.client();
    let (code, printed) = headless_login(&setup, &client, &[], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("did not answer"), "{printed}");
    let output = run(setup.command("login", &client).args(["--headless", "--storage", "keyring"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--storage file"), "{}", stderr(&output));
}

/// The keyring's login is really kept by the Secret Service: with gnome-keyring-daemon stopped, `token
/// --user` cannot have it (and says so); started again on the same keyring file, it can. `--storage file`
/// (or TD_OAUTH_STORAGE) moves a login to a file, and the keyring keeps no copy.
#[test]
fn the_secret_service_holds_the_login_and_file_storage_can_be_chosen() {
    let Some(mut setup) = Setup::new("logins-keyring-restart", true) else { return };
    let client = setup.client();
    let (code, printed) = headless_login(&setup, &client, &["--storage", "keyring"], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("as --storage keyring"), "{printed}");

    setup.secret_service.as_mut().unwrap().stop_keyring();
    let output = run(setup.command("token", &client).arg("--user"));
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("cannot use the system keyring"), "{}", stderr(&output));
    let output = run(&mut setup.bare(&["auth", "status"]));
    assert_exit(&output, 1);
    setup.secret_service.as_mut().unwrap().start_keyring();
    assert_exit(&run(setup.command("token", &client).arg("--user")), 0);

    // Logged in again, into a file: the keyring's entry goes.
    let (code, printed) = headless_login(&setup, &client, &[], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    let record = setup.records().remove(0);
    assert_eq!(record.1["storage"], "keyring");
    let mut login = Headless::start(
        setup
            .command("login", &client)
            .args(["--headless", "--scope", "openid offline_access"])
            .env("TD_OAUTH_STORAGE", "file"),
    );
    let url = login.url();
    login.paste(&browser_ends_on(&url));
    let (code, printed) = login.finish();
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("kept in the file"), "{printed}");
    let (path, moved) = setup.records().remove(0);
    assert_eq!(moved["storage"], "file");
    // The keyring-era record put back finds no entry: moving to the file removed it.
    write_private(&path, &serde_json::to_vec(&record.1).unwrap());
    let output = run(setup.command("token", &client).arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("has no entry"), "{}", stderr(&output));
}

/// `logout --all` removes every login, in the keyring and in files, of every client.
#[test]
fn logout_all_removes_every_login_wherever_it_is() {
    let secret_service = Setup::new("logins-all", true);
    let with_keyring = secret_service.is_some();
    let setup = match secret_service {
        Some(setup) => setup,
        None => Setup::new("logins-all-files", false).unwrap(),
    };
    let first = setup.client();
    let second = setup.client();
    let (code, printed) = headless_login(&setup, &first, &[], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    let (code, printed) = headless_login(&setup, &second, &["--storage", "file"], |address| address.to_owned());
    assert_eq!(code, Some(0), "{printed}");
    let storages: Vec<String> =
        setup.records().iter().map(|(_, record)| record["storage"].as_str().unwrap().to_owned()).collect();
    assert_eq!(storages.contains(&"keyring".to_owned()), with_keyring, "{storages:?}");

    let output = run(&mut setup.bare(&["auth", "status"]));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(&first.0.client_id) && stdout(&output).contains(&second.0.client_id));

    let output = run(&mut setup.bare(&["logout", "--all"]));
    assert_exit(&output, 0);
    assert_eq!(stderr(&output).matches("logged out").count(), 2, "{}", stderr(&output));
    assert!(setup.records().is_empty());
    for client in [&first, &second] {
        let output = run(setup.command("token", client).arg("--user"));
        assert_exit(&output, 2);
    }
    let output = run(&mut setup.bare(&["logout", "--all"]));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("not logged in"), "{}", stderr(&output));
}

/// `login --headless`: the code alone will do (PKCE binds it); an address from another login (its state)
/// or a refusal is refused and keeps nothing; nothing pasted in time ends the login.
#[test]
fn headless_login_checks_what_is_pasted() {
    let setup = Setup::new("logins-headless", false).unwrap();
    let client = setup.client();

    let (code, printed) = headless_login(&setup, &client, &["--storage", "file"], |address| {
        let url = url::Url::parse(address).unwrap();
        url.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned()
    });
    assert_eq!(code, Some(0), "{printed}");
    assert_exit(&run(setup.command("token", &client).arg("--user")), 0);
    assert_exit(&run(&mut setup.command("logout", &client)), 0);

    let (code, printed) =
        headless_login(&setup, &client, &["--storage", "file"], |address| address.replace("state=", "state=forged"));
    assert_eq!(code, Some(2), "{printed}");
    assert!(printed.contains("not from this login"), "{printed}");
    assert!(setup.records().is_empty());

    // A code issued for another login (its PKCE challenge) with this login's state: the token endpoint
    // refuses it, since the verifier is this login's.
    let mut other =
        Headless::start(setup.command("login", &client).args(["--headless", "--scope", "openid offline_access"]));
    let other_address = browser_ends_on(&other.url());
    let other_code =
        url::Url::parse(&other_address).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let (code, printed) = headless_login(&setup, &client, &["--storage", "file"], |_| other_code.clone());
    assert_eq!(code, Some(3), "{printed}");
    assert!(printed.contains("invalid_grant"), "{printed}");
    assert!(setup.records().is_empty());
    other.paste("");
    assert_eq!(other.finish().0, Some(2), "nothing pasted");

    let login = Headless::start(setup.command("login", &client).args(["--headless", "--wait", "1"]));
    let (code, printed) = login.finish();
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("nothing was pasted within 1 s"), "{printed}");
}
