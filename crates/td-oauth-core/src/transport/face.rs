//! [`client_face!`](crate::client_face): the part of a transport's `Client` that is the same in both
//! transports but for `async`, written once.

/// Writes a transport's `Client` type around [`ClientParts`](crate::transport::ClientParts): the type, its
/// `Debug`, the constructors, the grant shortcuts over its `fetch`, `provider` and the accessors. The
/// transport writes only `fetch` (its I/O, its waiting) and its [`Transport`](crate::transport::Transport)
/// impl. `Config`, `Error` and `TokenProvider` are the transport crate's own; `calls: async await` makes
/// the shortcuts async, `calls:` alone blocking.
#[doc(hidden)]
#[macro_export]
macro_rules! client_face {
    ($(#[$doc:meta])* http: $http:ty, calls: $($async:tt $await:tt)?) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct Client {
            parts: ::std::sync::Arc<$crate::transport::ClientParts<Client>>,
        }

        impl ::std::fmt::Debug for Client {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.parts, f)
            }
        }

        impl Client {
            /// A client for `endpoints`' token URL with `credentials` and the default [`Config`].
            pub fn new(endpoints: &$crate::Endpoints, credentials: $crate::Credentials) -> Result<Self, Error> {
                Self::with_config(endpoints, credentials, Config::default())
            }

            /// A client for `endpoints`' token URL with `credentials`, sending as `config` says. Fails with
            /// [`Error::Config`] for settings that contradict each other or that this transport cannot honour.
            pub fn with_config(
                endpoints: &$crate::Endpoints,
                credentials: $crate::Credentials,
                config: Config,
            ) -> Result<Self, Error> {
                Self::from_token_client($crate::TokenClient::new(endpoints, credentials), config)
            }

            /// A client around a core [`TokenClient`](td_oauth_core::TokenClient), e.g. one with a custom
            /// assertion audience or lifetime, sending as `config` says.
            pub fn from_token_client(tokens: $crate::TokenClient, config: Config) -> Result<Self, Error> {
                Ok(Client { parts: ::std::sync::Arc::new($crate::transport::ClientParts::new(tokens, config)?) })
            }

            /// The client-credentials grant: a token for the client itself.
            pub $($async)? fn client_credentials(
                &self,
                scopes: $crate::Scopes,
            ) -> Result<$crate::TokenResponse, Error> {
                self.fetch(&$crate::Grant::client_credentials(scopes))$(.$await)?
            }

            /// The authorization-code grant: exchanges the code from the authorize redirect. With
            /// [`PendingAuthorization::finish`](td_oauth_core::PendingAuthorization::finish), use
            /// [`fetch`](Self::fetch) with the grant it returns.
            pub $($async)? fn authorization_code(
                &self,
                code: $crate::AuthorizationCode,
                redirect_uri: impl Into<String>,
                code_verifier: Option<$crate::PkceVerifier>,
            ) -> Result<$crate::TokenResponse, Error> {
                self.fetch(&$crate::Grant::authorization_code(code, redirect_uri, code_verifier))$(.$await)?
            }

            /// The refresh-token grant. Talkdesk may rotate refresh tokens: keep the new one from the
            /// response (a [`TokenProvider`] over this grant does).
            pub $($async)? fn refresh(
                &self,
                refresh_token: $crate::RefreshToken,
                scopes: $crate::Scopes,
            ) -> Result<$crate::TokenResponse, Error> {
                self.fetch(&$crate::Grant::refresh_token(refresh_token, scopes))$(.$await)?
            }

            /// A shared, refreshing token source for `grant` over this client; the same as
            /// [`TokenProvider::new`].
            pub fn provider(&self, grant: $crate::Grant) -> TokenProvider {
                TokenProvider::new(self.clone(), grant)
            }

            /// The HTTP client token requests go through (the caller's, if the config supplied one); fine
            /// for API requests too.
            pub fn http_client(&self) -> &$http {
                self.parts.http_client()
            }

            /// The core client that builds (and signs) the requests.
            pub fn token_client(&self) -> &$crate::TokenClient {
                self.parts.tokens()
            }

            /// The settings.
            pub fn config(&self) -> &Config {
                self.parts.config()
            }

            /// A random number for jitter, from the client's one random source.
            pub(crate) fn jitter(&self) -> u64 {
                self.parts.jitter()
            }
        }
    };
}

/// Writes the members of a transport's `TokenProvider` that never wait, the same in both transports: its
/// `Debug`, `client_credentials`, `fresh_token`, `invalidate`, `token_rejected`, `clock_offset` and
/// `client`, all over the core's provider machine. The provider must be `TokenProvider { handle: Handle }`,
/// `Handle(Arc<_>)` a [`Driver`](crate::provider::Driver) whose shared part has `client: Client` and
/// `cell: ProviderCell`; the transport writes what waits (`token`, `with_token`, `force_refresh`) and its
/// `Driver` impl. It also writes `Handle::run`, the elected fetcher's request (through the config's shared
/// cache, if any, after telling it of a dropped token), which `calls: async await` makes async.
#[doc(hidden)]
#[macro_export]
macro_rules! provider_face {
    (calls: $($async:tt $await:tt)?) => {
        impl Handle {
            /// The elected fetcher's request, through the shared cache if the config has one (after telling it
            /// of a dropped token; with the round's fleet backoff rule), else straight to the token endpoint;
            /// then the report. Dropped before the end (a cancelled caller), the ticket reports the round
            /// abandoned.
            $($async)? fn run(
                &self,
                mut ticket: $crate::provider::FetchTicket<Handle>,
            ) -> Result<::std::sync::Arc<$crate::TokenResponse>, Error> {
                let client = &self.0.client;
                let result = match client.config().shared_cache() {
                    Some(shared) => {
                        if let Some(token) = ticket.take_discard() {
                            shared.discard(client, ticket.grant(), &token)$(.$await)?;
                        }
                        shared.fetch_with_backoff(client, ticket.grant(), ticket.backoff_rule())$(.$await)?
                    }
                    None => client.fetch(ticket.grant())$(.$await)?,
                };
                ticket.report(result)
            }
        }

        impl ::std::fmt::Debug for TokenProvider {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let shared = &self.handle.0;
                f.debug_struct("TokenProvider").field("client", &shared.client).field("state", &shared.cell).finish()
            }
        }

        impl TokenProvider {
            /// A provider for the client-credentials grant with `scopes`.
            pub fn client_credentials(client: Client, scopes: $crate::Scopes) -> Self {
                TokenProvider::new(client, $crate::Grant::client_credentials(scopes))
            }

            /// The cached token when it is fresh now (no refresh due), read from the lock-free snapshot: no
            /// waiting, no fetch, no background work. `None` when a call to `token` would have to do more.
            pub fn fresh_token(&self) -> Option<::std::sync::Arc<$crate::TokenResponse>> {
                $crate::provider::fresh(&self.handle)
            }

            /// Forgets the cached token (and any backoff): the next call fetches a new one. For a 401 from the
            /// API, prefer [`token_rejected`](Self::token_rejected), which leaves a newer token alone.
            pub fn invalidate(&self) {
                $crate::provider::invalidate(&self.handle);
                ::tracing::debug!(token_url = self.client().token_client().token_url().as_str(), "token invalidated");
            }

            /// The API refused `token` (a 401): drops it if it is still the cached token, so that when many
            /// callers saw the same 401, the first one's rejection causes one new fetch and the others leave
            /// the new token alone. Returns whether it was dropped.
            pub fn token_rejected(&self, token: &::std::sync::Arc<$crate::TokenResponse>) -> bool {
                $crate::provider::reject(&self.handle, token)
            }

            /// How far the token endpoint's clock is from this machine's, as measured from the `Date` header
            /// of its answers to this provider's client (`None` before the first answer). Over 30 s,
            /// assertions are signed on the endpoint's time; see
            /// [`clock::offset`](td_oauth_core::clock::offset).
            pub fn clock_offset(&self) -> Option<$crate::clock::ClockOffset> {
                self.client().token_client().clock_offset()
            }

            /// The client the tokens are fetched with.
            pub fn client(&self) -> &Client {
                &self.handle.0.client
            }
        }
    };
}
