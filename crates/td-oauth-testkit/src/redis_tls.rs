//! A `redis-server` that speaks TLS (`rediss://`): a certificate for `localhost` and `127.0.0.1` made
//! fresh with rcgen, its own issuer, so that a test trusts exactly it. The plain port stays open on
//! loopback for the test's own look at what is stored ([`RedisServer::command`]).

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Error;
use crate::redis::{RedisServer, free_port};

/// How long the TLS port may take to accept connections once the server answers on its plain port.
const TLS_START_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`RedisServer`] with a TLS port, stopped and cleaned up on drop. Needs a `redis-server` built with TLS
/// (Debian's is).
///
/// ```no_run
/// let redis = td_oauth_testkit::TlsRedisServer::start()?;
/// println!("{}", redis.tls_url()); // rediss://127.0.0.1:<port>/
/// std::fs::write("ca.pem", redis.ca_pem())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TlsRedisServer {
    server: RedisServer,
    tls_port: u16,
    ca_pem: String,
    dir: PathBuf,
}

impl TlsRedisServer {
    /// Makes the certificate and starts `redis-server` with it on a free TLS port.
    pub fn start() -> Result<TlsRedisServer, Error> {
        let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| tls(&e))?;
        let tls_port = free_port()?;
        let dir = std::env::temp_dir().join(format!("td-oauth-redis-tls-{}-{tls_port}", std::process::id()));
        let write = |name: &str, text: &str| {
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join(name), text))
                .map_err(|err| Error::Redis(format!("could not write {name}: {err}")))
        };
        let ca_pem = certified.cert.pem();
        write("cert.pem", &ca_pem)?;
        write("key.pem", &certified.signing_key.serialize_pem())?;
        let path = |name: &str| dir.join(name).display().to_string();
        let started = RedisServer::start_with(&[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path("cert.pem"),
            "--tls-key-file",
            &path("key.pem"),
            "--tls-ca-cert-file",
            &path("cert.pem"),
            "--tls-auth-clients",
            "no",
        ]);
        let server = match started {
            Ok(server) => server,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::Redis(format!(
                    "{err}; a `redis-server` without TLS support refuses --tls-port (check `redis-server --version` \
                     and its build)"
                )));
            }
        };
        let redis = TlsRedisServer { server, tls_port, ca_pem, dir };
        let since = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, tls_port)).is_err() {
            if since.elapsed() > TLS_START_TIMEOUT {
                return Err(Error::Redis(format!("redis-server's TLS port {tls_port} never opened")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(redis)
    }

    /// `rediss://127.0.0.1:<tls port>/`.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.tls_port)
    }

    /// The TLS port.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The server's certificate, PEM: the one CA to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server itself, on its plain loopback port too.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
