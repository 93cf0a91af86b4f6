//! [`ClientParts`]: what a transport's one-shot client holds besides its HTTP client, the same in both.

use std::fmt;

use super::{Config, TokenFetch, Transport, jitter};
use crate::random::OsRandom;
use crate::text::display_url;
use crate::{Grant, TokenClient};

/// A token client's request builder, its settings, its token URL as errors show it, and the random
/// source of its jitter. A transport's `Client` is this and its HTTP client.
pub struct ClientParts<T: Transport> {
    tokens: TokenClient,
    config: Config<T>,
    /// The token URL as errors show it: without its query.
    shown: String,
    random: OsRandom,
}

impl<T: Transport> ClientParts<T> {
    /// The parts of a client that builds requests with `tokens` and sends them as `config` says.
    pub fn new(tokens: TokenClient, config: Config<T>) -> Self {
        let shown = display_url(tokens.token_url().url());
        ClientParts { tokens, config, shown, random: OsRandom::new() }
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
