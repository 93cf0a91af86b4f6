//! Tokens for a partner app installed in many accounts: one [`TokenProvider`] per installation, credential
//! set and scopes, made on first use, dropped when idle, with credential rotation and its grace period.
//!
//! The rules and the bookkeeping (which set is active, when to fall back, what is idle, which providers are
//! kept) are td-oauth-core's [`Installations`]; this file keeps it behind one `std` mutex, never held while a
//! token is fetched, fetches through the providers, and logs and reports what it did.

use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use td_oauth_core::{
    Account, ActiveProvider, EventKind, InstallationCredentials, Installations, ManagerPolicy, OAuthError,
    RotationFallback, RotationKind, Scopes, TokenResponse, Which,
};

use crate::{Client, Config, Error, TokenProvider};

type Hook = Arc<dyn Fn(&RotationFallback) + Send + Sync>;

/// Access tokens for every account that installed your partner app.
///
/// Feed it AppConnect's events ([`handle_event`](Self::handle_event), or [`install`](Self::install) and
/// [`rotate`](Self::rotate)), then ask for a token by account and scopes with [`token`](Self::token). Each
/// installation gets its own [`TokenProvider`] per scope set, made on first use, sharing one `ureq::Agent`
/// (and connection pool) with all the others; a provider unused for the policy's idle timeout is dropped,
/// and at most [`ManagerPolicy::max_providers`] are kept (the least recently used goes first). A dropped
/// provider costs one token request on its next use.
///
/// `Clone + Send + Sync`: clones share everything; hand one to every thread.
///
/// Rotation: [`rotate`](Self::rotate) makes the new credentials current at once. After a
/// [`RotationKind::Routine`] rotation, if the token endpoint refuses the new credentials with
/// `invalid_client` during the grace period (seven days by default), the previous ones are used for
/// [`ManagerPolicy::retry_rotated_after`] before the new ones are tried again, and the fallback is reported
/// to the [`on_rotation_fallback`](Self::on_rotation_fallback) hook and as a `tracing` warning. After a
/// [`RotationKind::Compromised`] rotation the previous credentials, and every token they obtained, are
/// dropped at once.
///
/// ```
/// use td_oauth_ureq::{Config, Scopes, TokenManager};
/// # use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};
///
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let event_body = app_event(AppEvent::Installed, "acme", server.token_url(), &registered);
/// let manager = TokenManager::new(Config::default())
///     .on_rotation_fallback(|report| eprintln!("alert: {report}"));
///
/// // In the webhook handler, for app.installed and app.credentials_rotated:
/// manager.handle_event(&event_body)?;
///
/// // Anywhere in the program:
/// let token = manager.token(&"acme".parse()?, &"users:read".parse::<Scopes>()?)?;
/// # assert!(token.expires_in().as_secs() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    /// Carries the one shared agent, so every credential set's [`Client`] uses the same pool.
    config: Config,
    policy: ManagerPolicy,
    state: Mutex<State>,
}

struct State {
    installations: Installations<Client, TokenProvider>,
    hook: Option<Hook>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("TokenManager")
            .field("installations", &state.installations.installations())
            .field("providers", &state.installations.len())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

fn unknown(account: &Account) -> Error {
    Error::UnknownInstallation { account: account.as_str().to_owned() }
}

impl TokenManager {
    /// A manager with the default [`ManagerPolicy`] that fetches as `config` says, through one agent every
    /// installation shares (`config`'s own, or one built from it). Cannot fail, unlike td-oauth-reqwest's.
    pub fn new(config: Config) -> Self {
        Self::with_policy(config, ManagerPolicy::default())
    }

    /// A manager with `policy` (provider limit, idle timeout, rotation grace).
    pub fn with_policy(config: Config, policy: ManagerPolicy) -> Self {
        let agent = config.build_agent();
        let config = config.agent(agent);
        let state = State { installations: Installations::new(&policy, Instant::now()), hook: None };
        TokenManager { inner: Arc::new(Inner { config, policy, state: Mutex::new(state) }) }
    }

    /// Calls `hook` whenever refused new credentials make an installation fall back to its previous ones
    /// (see [`RotationFallback`]; it holds no secret), to alert someone: the installation works on borrowed
    /// time until the grace ends. Called outside the manager's lock, at most once per fallback period.
    pub fn on_rotation_fallback(self, hook: impl Fn(&RotationFallback) + Send + Sync + 'static) -> Self {
        self.inner.lock().hook = Some(Arc::new(hook));
        self
    }

    /// Adds an installation (from `app.installed`). An installation of the same account is replaced at once,
    /// without grace, and its providers dropped.
    pub fn install(&self, credentials: InstallationCredentials) {
        let account = credentials.account().clone();
        let client_id = credentials.client_id().clone();
        let report = self.inner.lock().installations.install(credentials);
        tracing::info!(
            account = account.as_str(),
            client_id = client_id.as_str(),
            replaced = report.replaced,
            providers_dropped = report.providers_dropped,
            "installation added"
        );
    }

    /// Rotates an installation's credentials (from `app.credentials_rotated`): `credentials` become current
    /// at once. With [`RotationKind::Routine`], the previous ones stay as a fallback for the grace period;
    /// with [`RotationKind::Compromised`], they and their tokens are dropped now. Fails with
    /// [`Error::UnknownInstallation`] when the account was never installed.
    pub fn rotate(&self, credentials: InstallationCredentials, kind: RotationKind) -> Result<(), Error> {
        let now = Instant::now();
        let account = credentials.account().clone();
        let client_id = credentials.client_id().clone();
        let rotated = self.inner.lock().installations.rotate(credentials, kind, now, &self.inner.policy);
        let providers_dropped = rotated.ok_or_else(|| unknown(&account))??;
        tracing::info!(
            account = account.as_str(),
            client_id = client_id.as_str(),
            ?kind,
            providers_dropped,
            "installation credentials rotated"
        );
        Ok(())
    }

    /// Reads an AppConnect event body and applies it: `app.installed` → [`install`](Self::install),
    /// `app.credentials_rotated` → [`rotate`](Self::rotate) with [`RotationKind::Routine`]. The event does
    /// not say whether the old credentials were compromised: when they were, call
    /// [`rotate`](Self::rotate) with [`RotationKind::Compromised`] instead. Returns which event it was.
    pub fn handle_event(&self, body: &[u8]) -> Result<EventKind, Error> {
        let credentials = InstallationCredentials::from_event(body)?;
        let kind = credentials.kind();
        match kind {
            EventKind::Installed => self.install(credentials),
            EventKind::CredentialsRotated => self.rotate(credentials, RotationKind::Routine)?,
        }
        Ok(kind)
    }

    /// Forgets an installation (the app was uninstalled) and drops its providers. Returns whether it
    /// was known.
    pub fn uninstall(&self, account: &Account) -> bool {
        self.inner.lock().installations.uninstall(account)
    }

    /// A token for `account` with `scopes`, from the active credentials' provider (cached, refreshed
    /// ahead of expiry, one request however many threads ask; blocks while one is fetched). When the current credentials are refused with
    /// `invalid_client` and a routine rotation's previous ones are within their grace, the previous ones
    /// are used and the fallback reported.
    pub fn token(&self, account: &Account, scopes: &Scopes) -> Result<Arc<TokenResponse>, Error> {
        let ActiveProvider { provider, which, serial } = self.inner.active(account, scopes)?;
        let error = match provider.token() {
            Ok(token) => return Ok(token),
            Err(error) => error,
        };
        if which != Which::Current || !error.oauth().is_some_and(OAuthError::is_invalid_client) {
            return Err(error);
        }
        let (report, hook, next) = {
            let mut guard = self.inner.lock();
            let state = &mut *guard;
            let now = Instant::now();
            let report = state.installations.refused(account, serial, now, &self.inner.policy);
            (report, state.hook.clone(), self.inner.provider(&mut state.installations, account, scopes, now))
        };
        if let Some(report) = &report {
            tracing::warn!(
                account = report.account().as_str(),
                new_client_id = report.new_client_id().as_str(),
                old_client_id = report.old_client_id().as_str(),
                grace_remaining_secs = report.grace_remaining().as_secs(),
                "rotated credentials refused with invalid_client; using the previous ones"
            );
            if let Some(hook) = hook {
                hook(report);
            }
        }
        match next {
            // Another set is active now (the previous one, or a newer rotation): one try with it.
            Ok(next) if next.serial != serial => next.provider.token(),
            _ => Err(error),
        }
    }

    /// The provider of the credentials active now for `account` and `scopes`, made on first use. Prefer
    /// [`token`](Self::token), which also falls back to previous credentials; a provider kept by the caller
    /// outlives rotations and eviction.
    pub fn provider(&self, account: &Account, scopes: &Scopes) -> Result<TokenProvider, Error> {
        self.inner.active(account, scopes).map(|active| active.provider)
    }

    /// How many providers are kept (one per installation, credential set and scopes in use).
    pub fn len(&self) -> usize {
        self.inner.lock().installations.len()
    }

    /// Whether no provider is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many installations are known.
    pub fn installations(&self) -> usize {
        self.inner.lock().installations.installations()
    }

    /// The policy.
    pub fn policy(&self) -> &ManagerPolicy {
        &self.inner.policy
    }

    /// Drops the providers idle for the policy's idle timeout and the previous credentials whose grace
    /// has ended, now; returns how many providers went. Sweeps also run by themselves, at most every
    /// quarter of the idle timeout, when a provider is asked for.
    pub fn evict_idle(&self) -> usize {
        let mut state = self.inner.lock();
        let evicted = state.installations.sweep(Instant::now(), &self.inner.policy);
        swept(evicted, &state.installations);
        evicted
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding the lock panics on caller or server input; recover the state if a bug did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The provider of the active set, under the lock, with a lazy sweep first.
    fn active(&self, account: &Account, scopes: &Scopes) -> Result<ActiveProvider<TokenProvider>, Error> {
        let now = Instant::now();
        let mut state = self.lock();
        let evicted = state.installations.maybe_sweep(now, &self.policy);
        swept(evicted, &state.installations);
        self.provider(&mut state.installations, account, scopes, now)
    }

    /// The active set's provider for `scopes`: the kept one, or a new one over the set's client.
    fn provider(
        &self,
        installations: &mut Installations<Client, TokenProvider>,
        account: &Account,
        scopes: &Scopes,
        now: Instant,
    ) -> Result<ActiveProvider<TokenProvider>, Error> {
        let make_client = |credentials: &InstallationCredentials| {
            Ok::<_, Infallible>(Client::with_config(
                credentials.endpoints(),
                credentials.credentials(),
                self.config.clone(),
            ))
        };
        installations
            .active(account, scopes, now, make_client, TokenProvider::client_credentials)
            .ok_or_else(|| unknown(account))?
            .map_err(|never| match never {})
    }
}

fn swept(evicted: usize, installations: &Installations<Client, TokenProvider>) {
    if evicted > 0 {
        tracing::debug!(evicted, remaining = installations.len(), "idle token providers dropped");
    }
}
