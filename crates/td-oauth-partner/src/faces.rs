//! The manager over each transport: [`TokenManager`] (td-oauth-reqwest, async) and [`BlockingTokenManager`]
//! (td-oauth-ureq, blocking). Both are the one [`Manager`] (installation, rotation with grace, eviction, reached
//! through `Deref`); they differ only in how a token, a lifecycle step or a decision is waited for.

#[cfg(feature = "ureq")]
use std::sync::Arc;

#[cfg(feature = "ureq")]
use td_oauth_core::transport::run_ready;
#[cfg(feature = "ureq")]
use td_oauth_core::{Account, Scopes, TokenResponse};

use crate::manager::Manager;
#[cfg(feature = "ureq")]
use crate::{Acknowledged, Event, InstallationDecision, Lifecycle};
use crate::{Error, RotationFallback, TokenManagerPolicy};

macro_rules! face {
    ($(#[$doc:meta])* $name:ident, $client:ty, $config:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(Manager<$client>);

        impl $name {
            /// A manager with the default [`TokenManagerPolicy`] (see [`Manager::new`]); fails when the HTTP
            /// client cannot be built from `config`.
            pub fn new(config: $config) -> Result<Self, Error> {
                Manager::new(config).map($name)
            }

            /// A manager with `policy` (provider limit, idle timeout, rotation grace).
            pub fn with_policy(config: $config, policy: TokenManagerPolicy) -> Result<Self, Error> {
                Manager::with_policy(config, policy).map($name)
            }

            /// Calls `hook` whenever refused new credentials make an installation fall back to its previous
            /// ones (see [`Manager::on_rotation_fallback`]).
            pub fn on_rotation_fallback(self, hook: impl Fn(&RotationFallback) + Send + Sync + 'static) -> Self {
                $name(self.0.on_rotation_fallback(hook))
            }
        }

        impl std::ops::Deref for $name {
            type Target = Manager<$client>;

            fn deref(&self) -> &Manager<$client> {
                &self.0
            }
        }
    };
}

#[cfg(feature = "reqwest")]
face!(
    /// Access tokens for every account that installed your partner app, async, over td-oauth-reqwest: the
    /// [`Manager`]'s methods through `Deref` (`token`, `apply` and `decide_installation` are awaited).
    /// `Clone + Send + Sync`: clones share everything.
    ///
    /// ```
    /// use td_oauth_partner::TokenManager;
    /// use td_oauth_reqwest::{Config, Scopes};
    /// # use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};
    ///
    /// # let server = TestServer::start()?;
    /// # let registered = server.register_client(Algorithm::Es256)?;
    /// # let event_body = app_event(AppEvent::Installed, "acme", server.token_url(), &registered);
    /// let manager = TokenManager::new(Config::default())?.on_rotation_fallback(|report| eprintln!("alert: {report}"));
    /// # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    /// # rt.block_on(async {
    /// // In the webhook handler, for app.installed and app.credentials_rotated:
    /// manager.handle_event(&event_body)?;
    ///
    /// // Anywhere in the service:
    /// let token = manager.token(&"acme".parse()?, &"users:read".parse::<Scopes>()?).await?;
    /// # assert!(token.expires_in().as_secs() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    TokenManager,
    td_oauth_reqwest::Client,
    td_oauth_reqwest::Config
);

#[cfg(feature = "ureq")]
face!(
    /// Access tokens for every account that installed your partner app, blocking, over td-oauth-ureq: the
    /// [`Manager`]'s methods through `Deref`, with [`token`](Self::token), [`apply`](Self::apply) and
    /// [`decide_installation`](Self::decide_installation) waiting by blocking. `Clone + Send + Sync`: clones
    /// share everything; hand one to every thread.
    ///
    /// ```
    /// use td_oauth_partner::BlockingTokenManager;
    /// use td_oauth_ureq::{Config, Scopes};
    /// # use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};
    ///
    /// # let server = TestServer::start()?;
    /// # let registered = server.register_client(Algorithm::Es256)?;
    /// # let event_body = app_event(AppEvent::Installed, "acme", server.token_url(), &registered);
    /// let manager = BlockingTokenManager::new(Config::default())?;
    ///
    /// // In the webhook handler, for app.installed and app.credentials_rotated:
    /// manager.handle_event(&event_body)?;
    ///
    /// // Anywhere in the program:
    /// let token = manager.token(&"acme".parse()?, &"users:read".parse::<Scopes>()?)?;
    /// # assert!(token.expires_in().as_secs() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    BlockingTokenManager,
    td_oauth_ureq::Client,
    td_oauth_ureq::Config
);

#[cfg(feature = "ureq")]
impl BlockingTokenManager {
    /// A token for `account` with `scopes` (see [`Manager::token`]), blocking while one is fetched.
    pub fn token(&self, account: &Account, scopes: &Scopes) -> Result<Arc<TokenResponse>, Error> {
        run_ready(self.0.token(account, scopes))
    }

    /// Applies an AppConnect event with the lifecycle rules (see [`Manager::apply`]), blocking.
    pub fn apply(&self, event: Event) -> Result<Lifecycle, Error> {
        run_ready(self.0.apply(event))
    }

    /// Approves or rejects an installation (see [`Manager::decide_installation`]), blocking.
    pub fn decide_installation(
        &self,
        event: &Event,
        decision: InstallationDecision,
        reason: Option<&str>,
    ) -> Result<Acknowledged, Error> {
        run_ready(self.0.decide_installation(event, decision, reason))
    }
}

#[cfg(feature = "reqwest")]
/// The [`FleetManager`](crate::fleet::FleetManager) over td-oauth-reqwest, async: every replica of a fleet
/// serves every installation in its [`InstallationStore`](crate::store::InstallationStore), and applies
/// each lifecycle step once for the fleet. Its methods through `Deref` (`token`, `apply`,
/// `decide_installation`, `installations`, `preload`, `reseal` are awaited). `Clone + Send + Sync`: clones share
/// everything.
///
/// ```
/// use std::sync::Arc;
/// use td_oauth_core::crypto::SealingKey;
/// use td_oauth_partner::FleetTokenManager;
/// use td_oauth_partner::record::SealingKeys;
/// use td_oauth_partner::store::MemoryStore;
/// use td_oauth_reqwest::{Config, Scopes};
/// # use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};
///
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let event_body = app_event(AppEvent::Installed, "acme", server.token_url(), &registered);
/// # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
/// # rt.block_on(async {
/// // One store for the fleet (Redis or PostgreSQL in production), one key from the operator.
/// let store = Arc::new(MemoryStore::new());
/// let keys = SealingKeys::new(SealingKey::new([7; 32]));
/// let replica_a = FleetTokenManager::new(Config::default(), store.clone(), keys.clone()).await?;
/// let replica_b = FleetTokenManager::new(Config::default(), store, keys).await?;
///
/// // The event reaches replica A...
/// let event = td_oauth_partner::Event::parse(&event_body, &Default::default())?;
/// replica_a.apply(event).await?;
/// // ...and replica B serves the account: read from the store on first use, warm after.
/// let token = replica_b.token(&"acme".parse()?, &"users:read".parse::<Scopes>()?).await?;
/// # assert!(token.expires_in().as_secs() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct FleetTokenManager(crate::fleet::FleetManager<td_oauth_reqwest::Client>);

#[cfg(feature = "reqwest")]
impl FleetTokenManager {
    /// A manager over `store`, sealing with `keys` (see [`FleetManager::new`](crate::fleet::FleetManager::new)).
    pub async fn new(
        config: td_oauth_reqwest::Config,
        store: std::sync::Arc<dyn crate::store::InstallationStore>,
        keys: crate::record::SealingKeys,
    ) -> Result<Self, Error> {
        crate::fleet::FleetManager::new(config, store, keys).await.map(FleetTokenManager)
    }

    /// [`new`](Self::new) with `policy`.
    pub async fn with_policy(
        config: td_oauth_reqwest::Config,
        policy: TokenManagerPolicy,
        store: std::sync::Arc<dyn crate::store::InstallationStore>,
        keys: crate::record::SealingKeys,
    ) -> Result<Self, Error> {
        crate::fleet::FleetManager::with_policy(config, policy, store, keys).await.map(FleetTokenManager)
    }
}

#[cfg(feature = "reqwest")]
impl std::ops::Deref for FleetTokenManager {
    type Target = crate::fleet::FleetManager<td_oauth_reqwest::Client>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[cfg(feature = "ureq")]
/// The [`FleetManager`](crate::fleet::FleetManager) over td-oauth-ureq, blocking: the store is driven
/// through a [`BlockingStore`](crate::store::BlockingStore) (a tokio runtime of its own), and
/// [`token`](Self::token), [`apply`](Self::apply), [`decide_installation`](Self::decide_installation),
/// [`installations`](Self::installations), [`preload`](Self::preload) and [`reseal`](Self::reseal) block. The other methods through
/// `Deref`. `Clone + Send + Sync`: clones share everything.
#[derive(Clone, Debug)]
pub struct BlockingFleetTokenManager(crate::fleet::FleetManager<td_oauth_ureq::Client>);

#[cfg(feature = "ureq")]
impl BlockingFleetTokenManager {
    /// A manager over `store`, sealing with `keys` (see [`FleetManager::new`](crate::fleet::FleetManager::new));
    /// fails when the store's runtime cannot be started or the HTTP client built.
    pub fn new(
        config: td_oauth_ureq::Config,
        store: Arc<dyn crate::store::InstallationStore>,
        keys: crate::record::SealingKeys,
    ) -> Result<Self, Error> {
        Self::with_policy(config, TokenManagerPolicy::default(), store, keys)
    }

    /// [`new`](Self::new) with `policy`.
    pub fn with_policy(
        config: td_oauth_ureq::Config,
        policy: TokenManagerPolicy,
        store: Arc<dyn crate::store::InstallationStore>,
        keys: crate::record::SealingKeys,
    ) -> Result<Self, Error> {
        let store: Arc<dyn crate::store::InstallationStore> = Arc::new(crate::store::BlockingStore::new(store)?);
        run_ready(crate::fleet::FleetManager::with_policy(config, policy, store, keys)).map(BlockingFleetTokenManager)
    }

    /// A token for `account` with `scopes` (see [`FleetManager::token`](crate::fleet::FleetManager::token)),
    /// blocking.
    pub fn token(&self, account: &Account, scopes: &Scopes) -> Result<Arc<TokenResponse>, Error> {
        run_ready(self.0.token(account, scopes))
    }

    /// Applies an event once for the fleet (see [`FleetManager::apply`](crate::fleet::FleetManager::apply)),
    /// blocking.
    pub fn apply(&self, event: Event) -> Result<Lifecycle, Error> {
        run_ready(self.0.apply(event))
    }

    /// Approves or rejects an installation once for the fleet (see
    /// [`FleetManager::decide_installation`](crate::fleet::FleetManager::decide_installation)), blocking.
    pub fn decide_installation(
        &self,
        event: &Event,
        decision: InstallationDecision,
        reason: Option<&str>,
    ) -> Result<Acknowledged, Error> {
        run_ready(self.0.decide_installation(event, decision, reason))
    }

    /// Every installation in the store, without secrets (see
    /// [`FleetManager::installations`](crate::fleet::FleetManager::installations)), blocking.
    pub fn installations(&self) -> Result<Vec<crate::record::InstallationSummary>, Error> {
        run_ready(self.0.installations())
    }

    /// Reads every installation record into memory (see
    /// [`FleetManager::preload`](crate::fleet::FleetManager::preload)), blocking.
    pub fn preload(&self) -> Result<usize, Error> {
        run_ready(self.0.preload())
    }

    /// Re-seals records sealed with the previous key (see
    /// [`FleetManager::reseal`](crate::fleet::FleetManager::reseal)), blocking.
    pub fn reseal(&self) -> Result<usize, Error> {
        run_ready(self.0.reseal())
    }
}

#[cfg(feature = "ureq")]
impl std::ops::Deref for BlockingFleetTokenManager {
    type Target = crate::fleet::FleetManager<td_oauth_ureq::Client>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
