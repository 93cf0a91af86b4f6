//! [`api_client_face!`](crate::api_client_face): the part of a transport's `ApiClient` that is the same in
//! both transports, written once.

/// Writes a transport's `ApiClient` type (a `BearerClient`, an [`ApiGateway`](crate::ApiGateway) and
/// [`ApiLimits`](crate::ApiLimits)) with its constructors and settings: `new`, `from_bearer`,
/// `with_max_response_bytes`, `with_timeout` and `gateway`. `BearerClient` and `TokenProvider` are the
/// transport crate's own. The transport writes what sends (`send`, `call`, `get`, the lists).
#[doc(hidden)]
#[macro_export]
macro_rules! api_client_face {
    ($(#[$doc:meta])*) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct ApiClient {
            bearer: BearerClient,
            gateway: $crate::ApiGateway,
            limits: $crate::ApiLimits,
        }

        impl ApiClient {
            /// Calls `gateway` with `provider`'s tokens, through its client's HTTP client and timeout.
            pub fn new(provider: TokenProvider, gateway: $crate::ApiGateway) -> Self {
                Self::from_bearer(provider.bearer_client(), gateway, provider.client().config().timeout())
            }

            /// Calls `gateway` through `bearer` (any token source), each request given `timeout`.
            pub fn from_bearer(
                bearer: BearerClient,
                gateway: $crate::ApiGateway,
                timeout: ::std::time::Duration,
            ) -> Self {
                ApiClient { bearer, gateway, limits: $crate::ApiLimits::new(timeout) }
            }

            /// Reads at most `bytes` of an answer (default
            /// [`DEFAULT_MAX_API_RESPONSE_BYTES`](td_oauth_api::DEFAULT_MAX_API_RESPONSE_BYTES)).
            pub fn with_max_response_bytes(self, bytes: usize) -> Self {
                ApiClient { limits: self.limits.with_max_response_bytes(bytes), ..self }
            }

            /// Gives each request `timeout`, from connecting to the last body byte (default: the client's).
            pub fn with_timeout(self, timeout: ::std::time::Duration) -> Self {
                ApiClient { limits: self.limits.with_timeout(timeout), ..self }
            }

            /// The gateway.
            pub fn gateway(&self) -> &$crate::ApiGateway {
                &self.gateway
            }
        }
    };
}
