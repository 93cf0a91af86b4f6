//! [`ClientParts`]: everything a transport's one-shot client holds, the same in both, and [`http_client`]:
//! which HTTP client a config sends through and which proxy rule requests through it follow.

use std::fmt;
use std::sync::Arc;

use super::proxy::ProxyRule;
use super::{Config, TokenFetch, Transport, jitter};
use crate::Error;
use crate::random::OsRandom;
use crate::text::display_url;
use crate::{Grant, TokenClient};

/// The HTTP client `config` sends through, and the proxy rule requests through it follow: the caller's own
/// client (which keeps its own proxy settings: no rule), or one built from the settings, whose requests
/// follow td-oauth-core's [`ProxyRule`] read from the environment now. Refuses settings that contradict each
/// other ([`Config::check`]) or a proxy variable that cannot be used, before anything is built.
pub fn http_client<T: Transport>(config: &Config<T>) -> Result<(T::HttpClient, Option<Arc<ProxyRule>>), Error> {
    config.check()?;
    if let Some(client) = config.http_client() {
        return Ok((client.clone(), None));
    }
    let proxies = Arc::new(ProxyRule::from_env()?);
    Ok((T::build_http_client(config, &proxies)?, Some(proxies)))
}

/// A token client's request builder, its settings, its HTTP client and that client's proxy rule, its token
/// URL as errors show it, and the random source of its jitter: all a transport's `Client` holds.
pub struct ClientParts<T: Transport> {
    tokens: TokenClient,
    config: Config<T>,
    http: T::HttpClient,
    /// The proxy rule of the HTTP client built here; `None` for a caller's client.
    proxies: Option<Arc<ProxyRule>>,
    /// The token URL as errors show it: without its query.
    shown: String,
    random: OsRandom,
}

impl<T: Transport> ClientParts<T> {
    /// The parts of a client that builds requests with `tokens` and sends them as `config` says, through
    /// the HTTP client [`http_client`] gives.
    /// Refuses an async signer when the transport cannot await it.
    pub fn new(tokens: TokenClient, config: Config<T>) -> Result<Self, Error> {
        if tokens.signs_async() && !T::DRIVES_ASYNC_SIGNERS {
            return Err(Error::Config {
                reason: "this client's signer is async (an AsyncSigner), which a blocking transport cannot await; \
                         implement the blocking Signer trait for it, or use td-oauth-reqwest"
                    .into(),
            });
        }
        let (http, proxies) = http_client(&config)?;
        let shown = display_url(tokens.token_url().url());
        Ok(ClientParts { tokens, config, http, proxies, shown, random: OsRandom::new() })
    }

    /// The HTTP client requests go through.
    pub fn http_client(&self) -> &T::HttpClient {
        &self.http
    }

    /// The proxy rule requests through that client follow (`None` with a caller's client).
    pub fn proxies(&self) -> Option<&Arc<ProxyRule>> {
        self.proxies.as_ref()
    }

    /// The core client that builds (and signs) the requests.
    pub fn tokens(&self) -> &TokenClient {
        &self.tokens
    }

    /// The settings.
    pub fn config(&self) -> &Config<T> {
        &self.config
    }

    /// The token URL as errors show it.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// A random number for jitter, from the client's one random source.
    pub fn jitter(&self) -> u64 {
        jitter(&self.random)
    }

    /// A fetch of `grant` starting now, with these settings' retry policy and timeouts.
    pub fn token_fetch<'a>(&'a self, grant: &'a Grant) -> TokenFetch<'a> {
        TokenFetch::new(&self.tokens, grant, &self.config, self.config.clock().now())
    }
}

impl<T: Transport> fmt::Debug for ClientParts<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // TokenClient's Debug shows the client id, key id and URL, never the key or secret.
        f.debug_struct("Client").field("tokens", &self.tokens).field("config", &self.config).finish()
    }
}
