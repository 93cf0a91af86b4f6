//! The server's handle ([`TestServer`]), how it is configured ([`ServerBuilder`]), and the
//! thread with its own tokio runtime that runs the accept loop (in `connection.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::algorithm::Algorithm;
use crate::clients::{Client, ClientCredentials, ClientInfo, ClientSpec};
use crate::connection::accept_loop;
use crate::error::Error;
use crate::faults::{Fault, FaultTarget};
use crate::issuer::Issuer;
use crate::keys;
use crate::paths::{AUTHORIZE_PATH, ME_PATH, USERS_ME_PATH};
use crate::record::{Acknowledgement, RecordedRequest};
use crate::state::{Shared, State};
use crate::tls::{self, Certificate};

/// Configures a [`TestServer`] before it starts.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    https: bool,
    account: String,
    token_lifetime: Duration,
    code_lifetime: Duration,
    iat_leeway: Duration,
    clock_offset: i64,
    port: u16,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            https: false,
            account: "testkit".to_owned(),
            token_lifetime: Duration::from_secs(600),
            code_lifetime: Duration::from_secs(60),
            iat_leeway: Duration::from_secs(30),
            clock_offset: 0,
            port: 0,
        }
    }
}

impl ServerBuilder {
    /// Serves HTTPS with a fresh self-signed certificate (see [`TestServer::certificate`]).
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// The account name put in access tokens (`acc`); default `"testkit"`.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = account.into();
        self
    }

    /// Access-token lifetime (`expires_in`); default 600 s, as Talkdesk's.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long an authorization code can be exchanged; default 60 s.
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    /// How far in the future an assertion's `iat` may be (clock skew); default 30 s.
    pub fn iat_leeway(mut self, leeway: Duration) -> Self {
        self.iat_leeway = leeway;
        self
    }

    /// Shifts the server's clock by `seconds` from the machine's: positive puts it ahead, negative behind.
    /// It is the clock of its `Date` header, of the `iat`, `exp` and `nbf` checks of client assertions, and
    /// of the tokens it issues, as a real server with a clock that is off from the client's would have.
    pub fn clock_offset(mut self, seconds: i64) -> Self {
        self.clock_offset = seconds;
        self
    }

    /// Binds this port instead of an ephemeral one (for `td-oauth serve`; tests should keep 0).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1` on an ephemeral port (or the one set with [`port`](Self::port)) and starts serving on a thread of its own.
    ///
    /// Works from blocking code and from inside an async runtime alike.
    pub fn start(self) -> Result<TestServer, Error> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).map_err(Error::Bind)?;
        listener.set_nonblocking(true).map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let (certificate, tls_config) = if self.https {
            let (cert, config) = tls::generate()?;
            (Some(cert), Some(config))
        } else {
            (None, None)
        };
        let scheme = if self.https { "https" } else { "http" };
        let shared = Arc::new(Shared::new(
            format!("{scheme}://{addr}"),
            Issuer::generate()?,
            State::new(self.account, self.token_lifetime, self.code_lifetime, self.iat_leeway)
                .with_clock_offset(self.clock_offset),
        ));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let acceptor = tls_config.map(tokio_rustls::TlsAcceptor::from);
        let loop_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("td-oauth-testkit {addr}"))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, acceptor, loop_shared, stop_rx));
                // Dropping the runtime here cancels every connection still open.
            })
            .map_err(Error::Runtime)?;
        Ok(TestServer { shared, addr, certificate, stop: Some(stop_tx), thread: Some(thread) })
    }
}

/// A running identity server on `127.0.0.1`. Dropping it stops the server and joins its thread.
#[derive(Debug)]
pub struct TestServer {
    pub(crate) shared: Arc<Shared>,
    addr: SocketAddr,
    certificate: Option<Certificate>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl TestServer {
    /// A builder with the defaults (HTTP, account `testkit`, 600 s tokens).
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Starts an HTTP server with the defaults.
    pub fn start() -> Result<TestServer, Error> {
        ServerBuilder::default().start()
    }

    /// Starts an HTTPS server with the defaults and a fresh self-signed certificate.
    pub fn start_https() -> Result<TestServer, Error> {
        ServerBuilder::default().https(true).start()
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The token endpoint URL, which is also the only `aud` accepted in client assertions.
    pub fn token_url(&self) -> &str {
        &self.shared.token_url
    }

    /// The authorize endpoint URL.
    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.shared.base_url)
    }

    /// The protected resource URL (`/api/me`).
    pub fn me_url(&self) -> String {
        format!("{}{ME_PATH}", self.shared.base_url)
    }

    /// The self-signed certificate, for an HTTPS server.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The public key (SubjectPublicKeyInfo PEM) that verifies the server's access and ID tokens.
    pub fn token_signing_key_pem(&self) -> &str {
        &self.shared.issuer.public_key_pem
    }

    // --- clients -------------------------------------------------------------------------

    /// Registers a client with a fresh key pair of `algorithm` and the default spec.
    pub fn register_client(&self, algorithm: Algorithm) -> Result<ClientCredentials, Error> {
        self.register_client_with(ClientSpec::new(algorithm))
    }

    /// Registers a client with a fresh key pair, as `spec` says.
    pub fn register_client_with(&self, spec: ClientSpec) -> Result<ClientCredentials, Error> {
        let key = keys::generate(spec.algorithm)?;
        let info = self.insert(Client::new(spec, key.spki_der.clone())?)?;
        Ok(ClientCredentials {
            client_id: info.client_id,
            client_secret: info.client_secret,
            key_id: info.key_id,
            algorithm: info.algorithm,
            private_key: keys::base64_line(&key.pkcs8_der),
            private_key_pem: keys::pem("PRIVATE KEY", &key.pkcs8_der),
            private_key_der: key.pkcs8_der,
            public_key_pem: keys::pem("PUBLIC KEY", &key.spki_der),
            public_key_der: key.spki_der,
            scopes: info.scopes,
        })
    }

    /// Registers a client whose key the test holds: `public_key` is a SubjectPublicKeyInfo as
    /// PEM (`-----BEGIN PUBLIC KEY-----`) or DER, for `spec.algorithm`.
    pub fn register_public_key(&self, spec: ClientSpec, public_key: impl AsRef<[u8]>) -> Result<ClientInfo, Error> {
        let der = keys::parse_public_key(spec.algorithm, public_key.as_ref())?;
        self.insert(Client::new(spec, der)?)
    }

    /// Adds a fresh key pair of `algorithm` to the registered client `client_id`, as Talkdesk lets a client
    /// hold several keys during a rotation: assertions signed with either key (each under its own `kid`)
    /// are accepted. The credentials returned carry the new key and key id.
    pub fn add_client_key(&self, client_id: &str, algorithm: Algorithm) -> Result<ClientCredentials, Error> {
        let key = keys::generate(algorithm)?;
        let decoding_key = crate::clients::decoding_key(algorithm, &key.spki_der)?;
        let key_id = keys::random_hex(16);
        let mut state = self.shared.lock();
        let client = state.clients.get_mut(client_id).ok_or_else(|| Error::UnknownClient(client_id.to_owned()))?;
        let other = crate::clients::OtherKey { algorithm, public_key_der: key.spki_der.clone(), decoding_key };
        client.other_keys.insert(key_id.clone(), other);
        let (client_secret, scopes) = (client.secret.clone(), client.scopes.clone());
        state.kids.insert(key_id.clone(), client_id.to_owned());
        Ok(ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret,
            key_id,
            algorithm,
            private_key: keys::base64_line(&key.pkcs8_der),
            private_key_pem: keys::pem("PRIVATE KEY", &key.pkcs8_der),
            private_key_der: key.pkcs8_der,
            public_key_pem: keys::pem("PUBLIC KEY", &key.spki_der),
            public_key_der: key.spki_der,
            scopes,
        })
    }

    fn insert(&self, client: Client) -> Result<ClientInfo, Error> {
        let mut state = self.shared.lock();
        if state.clients.contains_key(&client.id) {
            return Err(Error::Duplicate(format!("client id {}", client.id)));
        }
        if state.kids.contains_key(&client.key_id) {
            return Err(Error::Duplicate(format!("key id {}", client.key_id)));
        }
        let info = client.info();
        state.kids.insert(client.key_id.clone(), client.id.clone());
        state.clients.insert(client.id.clone(), client);
        Ok(info)
    }

    // --- settings ------------------------------------------------------------------------

    /// Changes the account name put in tokens issued from now on.
    pub fn set_account(&self, account: impl Into<String>) {
        self.shared.lock().account = account.into();
    }

    /// Also accepts `aud` in client assertions (e.g. the issuer, [`base_url`](Self::base_url),
    /// as RFC 7523bis suggests); the token URL is always accepted.
    pub fn accept_audience(&self, aud: impl Into<String>) {
        self.shared.lock().extra_audiences.push(aud.into());
    }

    /// Changes the server-wide access-token lifetime for tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().token_lifetime = lifetime;
    }

    /// Shifts the server's clock by `seconds` from the machine's from now on (see
    /// [`ServerBuilder::clock_offset`]).
    pub fn set_clock_offset(&self, seconds: i64) {
        self.shared.lock().clock_offset = seconds;
    }

    // --- faults --------------------------------------------------------------------------

    /// Applies `fault` to the next token request.
    pub fn inject(&self, fault: Fault) {
        self.inject_on(FaultTarget::Token, fault, 1);
    }

    /// Applies `fault` to the next `times` token requests.
    pub fn inject_n(&self, fault: Fault, times: usize) {
        self.inject_on(FaultTarget::Token, fault, times);
    }

    /// Applies `fault` to the next `times` requests that `target` matches. Faults queue in the
    /// order injected; a request takes the oldest matching one.
    pub fn inject_on(&self, target: FaultTarget, fault: Fault, times: usize) {
        self.shared.lock().faults.push(target, fault, times);
    }

    /// How many fault applications are still queued.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Makes the next `times` calls to `/api/me` answer 401 `invalid_token` whatever the token.
    pub fn fail_next_api_calls(&self, times: usize) {
        self.shared.lock().api_failures = times;
    }

    /// A refresh token for `client_id` with `scopes`, as if its user had logged in and the code had been
    /// exchanged: for tests that start from a refresh token. It rotates on use like any other.
    pub fn issue_refresh_token(&self, client_id: &str, scopes: &[&str]) -> String {
        let token = crate::keys::random_hex(32);
        let session = crate::state::Session {
            client_id: client_id.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            sid: crate::keys::random_uuid(),
        };
        self.shared.lock().refresh_tokens.insert(token.clone(), session);
        token
    }

    /// Revokes every access token issued so far: `/api/me` refuses them from now on.
    pub fn revoke_access_tokens(&self) {
        self.shared.lock().access_tokens.clear();
    }

    /// Revokes every access token and refresh token issued so far.
    pub fn revoke_all_tokens(&self) {
        let mut state = self.shared.lock();
        state.access_tokens.clear();
        state.refresh_tokens.clear();
    }

    // --- records -------------------------------------------------------------------------

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().records.clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.lock().records.last().cloned()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.shared.lock().records.len()
    }

    /// How many requests went to `path` (e.g. [`TOKEN_PATH`](crate::TOKEN_PATH)).
    pub fn count_path(&self, path: &str) -> usize {
        self.count(|r| r.path == path)
    }

    /// How many token requests had `grant_type` = `grant`.
    pub fn count_grant(&self, grant: &str) -> usize {
        self.count(|r| r.grant_type.as_deref() == Some(grant))
    }

    /// How many requests claimed `client_id`.
    pub fn count_client(&self, client_id: &str) -> usize {
        self.count(|r| r.client_id.as_deref() == Some(client_id))
    }

    /// How many recorded requests satisfy `predicate`.
    pub fn count(&self, predicate: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.shared.lock().records.iter().filter(|r| predicate(r)).count()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.lock().records.clear();
    }

    /// Stops the server and waits for its thread (dropping the handle does the same).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The loop may already be gone (e.g. its thread failed); nothing left to stop then.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The Talkdesk API side.
impl TestServer {
    /// The userinfo URL (`/users/me`).
    pub fn users_me_url(&self) -> String {
        format!("{}{USERS_ME_PATH}", self.base_url())
    }

    /// How many users `/users` lists (default 120: three pages of 50).
    pub fn set_user_count(&self, count: usize) {
        self.shared.lock().api.user_count = count;
    }

    /// Every lifecycle call accepted so far, in order.
    pub fn acknowledgements(&self) -> Vec<Acknowledgement> {
        self.shared.lock().api.acknowledgements.clone()
    }

    /// The state `GET /apps/…/installations/{id}` reports: `pending` until approved or rejected.
    pub fn installation_state(&self, installation_id: &str) -> String {
        self.shared.lock().api.installations.get(installation_id).cloned().unwrap_or_else(|| "pending".into())
    }
}
