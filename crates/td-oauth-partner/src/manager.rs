//! [`Manager`]: the partner-app token manager of both transports, written once: the bookkeeping and the
//! rotation rules behind one mutex that is never held while a token is fetched, the fallback decision after
//! a refusal, and the fallback hook. [`TokenManager`](crate::TokenManager) is this type over td-oauth-reqwest,
//! [`BlockingTokenManager`](crate::BlockingTokenManager) over td-oauth-ureq, waiting by blocking.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use td_oauth_core::transport::Config;
use td_oauth_core::{Account, Scopes, TokenResponse};

use crate::installations::{ActiveProvider, Admission, Gate, Installations};
use crate::transport::ManagerTransport;
use crate::{Error, EventKind, InstallationCredentials, RotationFallback, RotationKind, TokenManagerPolicy};

type Hook = Arc<dyn Fn(&RotationFallback) + Send + Sync>;

/// Access tokens for every account that installed a partner app, over the transport `T`.
///
/// Feed it AppConnect's events ([`handle_event`](Self::handle_event), or [`install`](Self::install) and
/// [`rotate`](Self::rotate)), then ask for a token by account and scopes. Each installation gets its own
/// provider per scope set, made on first use, sharing one HTTP client (and connection pool) with all the
/// others; a provider unused for the policy's idle timeout is dropped, and at most
/// [`TokenManagerPolicy::max_providers`] are kept (the least recently used goes first). A dropped provider costs
/// one token request on its next use.
///
/// Rotation: [`rotate`](Self::rotate) makes the new credentials current at once. After a
/// [`RotationKind::Routine`] rotation, if the token endpoint refuses the new credentials with
/// `invalid_client` during the grace period (seven days by default), the previous ones are used for
/// [`TokenManagerPolicy::retry_rotated_after`] before the new ones are tried again, and the fallback is reported
/// to the hook and as a `tracing` warning. After a [`RotationKind::Compromised`] rotation the previous
/// credentials, and every token they obtained, are dropped at once.
///
/// `Clone + Send + Sync`: clones share everything; hand one to every task or thread.
pub struct Manager<T: ManagerTransport> {
    inner: Arc<Inner<T>>,
}

struct Inner<T: ManagerTransport> {
    /// Carries the one shared HTTP client, so every credential set's client uses the same pool.
    config: Config<T>,
    installations: Mutex<Installations<T, T::Provider>>,
    hook: Mutex<Option<Hook>>,
}

impl<T: ManagerTransport> Clone for Manager<T> {
    fn clone(&self) -> Self {
        Manager { inner: Arc::clone(&self.inner) }
    }
}

impl<T: ManagerTransport> fmt::Debug for Manager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager").field("installations", &*self.lock()).finish_non_exhaustive()
    }
}

impl<T: ManagerTransport> Manager<T> {
    /// A manager with the default [`TokenManagerPolicy`] that fetches as `config` says, through one HTTP client
    /// every installation shares (`config`'s own, or one built from it). Fails with [`td_oauth_core::Error::Config`] when
    /// that client cannot be built from `config`.
    pub fn new(config: Config<T>) -> Result<Self, Error> {
        Self::with_policy(config, TokenManagerPolicy::default())
    }

    /// A manager with `policy` (provider limit, idle timeout, rotation grace).
    pub fn with_policy(config: Config<T>, policy: TokenManagerPolicy) -> Result<Self, Error> {
        let (http, _) = td_oauth_core::transport::http_client(&config)?;
        let config = config.with_built_client(http);
        let installations = Mutex::new(Installations::new(policy, config.clock().now()));
        Ok(Manager { inner: Arc::new(Inner { config, installations, hook: Mutex::new(None) }) })
    }

    /// Calls `hook` whenever refused new credentials make an installation fall back to its previous ones
    /// (see [`RotationFallback`]; it holds no secret), to alert someone: the installation works on borrowed
    /// time until the grace ends. Called outside the manager's lock, at most once per fallback period.
    pub fn on_rotation_fallback(self, hook: impl Fn(&RotationFallback) + Send + Sync + 'static) -> Self {
        *self.inner.hook.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
        self
    }

    /// Adds an installation (from `app.installed`). An installation of the same account is replaced at once,
    /// without grace, and its providers dropped.
    pub fn install(&self, credentials: InstallationCredentials) {
        self.lock().install(credentials);
    }

    /// Rotates an installation's credentials (from `app.credentials_rotated`): `credentials` become current
    /// at once. With [`RotationKind::Routine`], the previous ones stay as a fallback for the grace period;
    /// with [`RotationKind::Compromised`], they and their tokens are dropped now. Fails with
    /// [`Error::UnknownInstallation`] when the account was never installed.
    pub fn rotate(&self, credentials: InstallationCredentials, kind: RotationKind) -> Result<(), Error> {
        let account = credentials.account().clone();
        let rotated = self.lock().rotate(credentials, kind, self.inner.config.clock().now());
        rotated.ok_or_else(|| unknown(&account))??;
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
        self.lock().uninstall(account)
    }

    /// A token for `account` with `scopes`, from the active credentials' provider (cached, refreshed ahead
    /// of expiry, one request however many callers ask). When the current credentials are refused with
    /// `invalid_client` and a routine rotation's previous ones are within their grace, the previous ones are
    /// used and the fallback reported.
    pub async fn token(&self, account: &Account, scopes: &Scopes) -> Result<Arc<TokenResponse>, Error> {
        match self.token_gated(account, scopes, Gate::Open).await {
            Ok(token) => Ok(token),
            Err(Gated::Failed(error)) => Err(error),
            Err(Gated::Held(_)) => Err(unknown(account)),
        }
    }

    /// [`token`](Self::token), served from memory only if `gate` admits the installation (the
    /// [`FleetManager`](crate::fleet::FleetManager)'s check against its store; [`Gate::Open`] admits all).
    pub(crate) async fn token_gated(
        &self,
        account: &Account,
        scopes: &Scopes,
        gate: Gate,
    ) -> Result<Arc<TokenResponse>, Gated> {
        if let Some(token) = self.fresh(account, scopes, gate).map_err(Gated::Held)? {
            return Ok(token);
        }
        let active = self.active(account, scopes).map_err(Gated::Failed)?;
        let error = match T::token(&active.provider).await.map_err(Error::from) {
            Ok(token) => return Ok(token),
            Err(error) => error,
        };
        match self.after_failure(account, scopes, &active, &error) {
            Some(retry) => T::token(&retry).await.map_err(|error| Gated::Failed(error.into())),
            None => Err(Gated::Failed(error)),
        }
    }

    /// Runs `f` on the bookkeeping, under the lock, with the clock's `now`.
    pub(crate) fn with_installations<R>(&self, f: impl FnOnce(&mut Installations<T, T::Provider>, Instant) -> R) -> R {
        let now = self.inner.config.clock().now();
        f(&mut self.lock(), now)
    }

    /// The clock's now, monotonic and wall.
    pub(crate) fn now(&self) -> (Instant, SystemTime) {
        let clock = self.inner.config.clock();
        (clock.now(), clock.wall())
    }

    /// The provider of the credentials active now for `account` and `scopes`, made on first use. Prefer
    /// the manager's `token`, which also falls back to previous credentials; a provider kept by the caller
    /// outlives rotations and eviction.
    pub fn provider(&self, account: &Account, scopes: &Scopes) -> Result<T::Provider, Error> {
        self.active(account, scopes).map(|active| active.provider)
    }

    /// `account`'s current credentials, if the account is installed.
    pub fn current_credentials(&self, account: &Account) -> Option<InstallationCredentials> {
        self.lock().current(account).cloned()
    }

    /// How many providers are kept (one per installation, credential set and scopes in use).
    pub fn provider_count(&self) -> usize {
        self.lock().provider_count()
    }

    /// How many installations are known.
    pub fn installation_count(&self) -> usize {
        self.lock().installation_count()
    }

    /// The policy.
    pub fn policy(&self) -> TokenManagerPolicy {
        self.lock().policy().clone()
    }

    /// Drops the providers idle for the policy's idle timeout and the previous credentials whose grace
    /// has ended, now; returns how many providers went. Sweeps also run by themselves, at most every
    /// quarter of the idle timeout, when a provider is asked for.
    pub fn evict_idle(&self) -> usize {
        self.lock().sweep(self.inner.config.clock().now())
    }

    fn lock(&self) -> MutexGuard<'_, Installations<T, T::Provider>> {
        // No code holding the lock panics on caller or server input; recover the state if a bug did.
        self.inner.installations.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The warm path: the kept provider's token when it is fresh, read under the lock without cloning the
    /// provider.
    /// With [`Gate::Open`] an account not held is `Ok(None)`: [`active`](Self::active) then says so.
    fn fresh(&self, account: &Account, scopes: &Scopes, gate: Gate) -> Result<Option<Arc<TokenResponse>>, Admission> {
        let now = self.inner.config.clock().now();
        let mut installations = self.lock();
        installations.maybe_sweep(now);
        match installations.kept_gated(account, scopes, now, gate) {
            Ok(kept) => Ok(kept.and_then(T::fresh_token)),
            Err(Admission::Absent) if gate == Gate::Open => Ok(None),
            Err(admission) => Err(admission),
        }
    }

    /// The active set's provider for `scopes`, under the lock, after a lazy sweep.
    fn active(&self, account: &Account, scopes: &Scopes) -> Result<ActiveProvider<T::Provider>, Error> {
        let now = self.inner.config.clock().now();
        let mut installations = self.lock();
        installations.maybe_sweep(now);
        installations
            .active(account, scopes, now, |credentials| T::client(credentials, self.inner.config.clone()), T::provider)
            .ok_or_else(|| unknown(account))?
            .map_err(Error::from)
    }

    /// The fallback decision after `failed` failed with `error`, and the hook told of a fallback outside the
    /// lock; the provider to try once more, if any.
    fn after_failure(
        &self,
        account: &Account,
        scopes: &Scopes,
        failed: &ActiveProvider<T::Provider>,
        error: &Error,
    ) -> Option<T::Provider> {
        let now = self.inner.config.clock().now();
        let fallback = self.lock().after_failure(
            account,
            scopes,
            failed,
            error,
            now,
            |credentials| T::client(credentials, self.inner.config.clone()),
            T::provider,
        );
        let hook = self.inner.hook.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let (Some(report), Some(hook)) = (&fallback.report, hook) {
            hook(report);
        }
        fallback.retry
    }
}

/// Why [`Manager::token_gated`] gave no token.
#[derive(Debug)]
pub(crate) enum Gated {
    /// The gate did not admit the installation from memory.
    Held(Admission),
    /// Getting the token failed.
    Failed(Error),
}

pub(crate) fn unknown(account: &Account) -> Error {
    Error::UnknownInstallation { account: account.as_str().to_owned() }
}
