//! The partner-app token manager: td-oauth-core's [`TokenManager`](Manager) over this crate's [`Client`], with tokens
//! waited for by blocking.

use std::ops::Deref;
use std::sync::Arc;

use td_oauth_core::partner::TokenManager as Manager;
use td_oauth_core::partner::{
    Acknowledged, Event, InstallationDecision, Lifecycle, RotationFallback, TokenManagerPolicy,
};
use td_oauth_core::transport::run_ready;
use td_oauth_core::{Account, Scopes, TokenResponse};

use crate::{Client, Config, Error};

/// Access tokens for every account that installed your partner app: td-oauth-core's [`TokenManager`](Manager) (installation,
/// rotation with grace, eviction and the other methods, reached through `Deref`), with a blocking
/// [`token`](Self::token). `Clone + Send + Sync`: clones share everything; hand one to every thread.
/// td-oauth-reqwest's `TokenManager` is the same manager, async.
///
/// ```
/// use td_oauth_ureq::{Config, Scopes, TokenManager};
/// # use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};
///
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let event_body = app_event(AppEvent::Installed, "acme", server.token_url(), &registered);
/// let manager = TokenManager::new(Config::default())?.on_rotation_fallback(|report| eprintln!("alert: {report}"));
///
/// // In the webhook handler, for app.installed and app.credentials_rotated:
/// manager.handle_event(&event_body)?;
///
/// // Anywhere in the program:
/// let token = manager.token(&"acme".parse()?, &"users:read".parse::<Scopes>()?)?;
/// # assert!(token.expires_in().as_secs() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenManager(Manager<Client>);

impl TokenManager {
    /// A manager with the default [`TokenManagerPolicy`] (see [`Manager::new`]); fails with [`Error::Config`] for
    /// settings this transport cannot honour.
    pub fn new(config: Config) -> Result<Self, Error> {
        Manager::new(config).map(TokenManager)
    }

    /// A manager with `policy` (provider limit, idle timeout, rotation grace).
    pub fn with_policy(config: Config, policy: TokenManagerPolicy) -> Result<Self, Error> {
        Manager::with_policy(config, policy).map(TokenManager)
    }

    /// Calls `hook` whenever refused new credentials make an installation fall back to its previous ones
    /// (see [`Manager::on_rotation_fallback`]).
    pub fn on_rotation_fallback(self, hook: impl Fn(&RotationFallback) + Send + Sync + 'static) -> Self {
        TokenManager(self.0.on_rotation_fallback(hook))
    }

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

impl Deref for TokenManager {
    type Target = Manager<Client>;

    fn deref(&self) -> &Manager<Client> {
        &self.0
    }
}
