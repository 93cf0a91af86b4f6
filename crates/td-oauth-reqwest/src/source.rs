//! Token sources for the async wrappers: [`TokenSource`], anything that hands out access tokens (a
//! [`TokenProvider`](crate::TokenProvider), or your own), which [`BearerClient`](crate::BearerClient) takes,
//! and [`AuthSource`], what the middleware and the tower layer are generic over. Async-only: the blocking
//! transport's wrappers call its provider directly.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use td_oauth_core::TokenResponse;

use crate::Error;

/// Something that hands out access tokens: a [`TokenProvider`](crate::TokenProvider), or your own source
/// (tokens from a vault, a sidecar, a fixed token in tests). A [`BearerClient`](crate::BearerClient) takes
/// any of them.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use td_oauth_reqwest::source::TokenSource;
/// use td_oauth_reqwest::{Error, TokenResponse, async_trait};
///
/// /// Always the same token, e.g. one a test was handed.
/// struct Fixed(Arc<TokenResponse>);
///
/// #[async_trait]
/// impl TokenSource for Fixed {
///     async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
///         Ok(Arc::clone(&self.0))
///     }
///     fn invalidate(&self) {}
/// }
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// let body = r#"{"access_token":"eyJ...","token_type":"Bearer","expires_in":600}"#;
/// let token = TokenResponse::from_http(&http::Response::new(body), Instant::now())?;
/// let source: Arc<dyn TokenSource> = Arc::new(Fixed(Arc::new(token)));
/// assert_eq!(source.token().await?.expires_in().as_secs(), 600);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token usable now.
    async fn token(&self) -> Result<Arc<TokenResponse>, Error>;

    /// Forgets the current token (the API refused it): the next [`token`](Self::token) gets a new one.
    fn invalidate(&self);

    /// The API answered 401 to `rejected`. Forgets it if it is still the current token, so that many
    /// requests refused at once cause one new fetch, not one each. The default calls
    /// [`invalidate`](Self::invalidate).
    fn token_rejected(&self, rejected: &Arc<TokenResponse>) {
        let _ = rejected;
        self.invalidate();
    }
}

/// A token source the API wrappers ([`BearerMiddleware`](crate::middleware::BearerMiddleware),
/// [`BearerLayer`](crate::layer::BearerLayer)) are generic over, called without a boxed future: a
/// [`TokenProvider`](crate::TokenProvider) is called directly (a warm hit allocates nothing), and any
/// [`TokenSource`] of your own through `Arc<dyn TokenSource>` (one boxed future per call, as
/// `async-trait` makes it).
pub trait AuthSource: Clone + Send + Sync + 'static {
    /// A token usable now.
    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send;

    /// The API answered 401 to `rejected` (see [`TokenSource::token_rejected`]).
    fn token_rejected(&self, rejected: &Arc<TokenResponse>);
}

impl AuthSource for crate::TokenProvider {
    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        crate::TokenProvider::token(self)
    }

    fn token_rejected(&self, rejected: &Arc<TokenResponse>) {
        TokenSource::token_rejected(self, rejected);
    }
}

impl AuthSource for Arc<dyn TokenSource> {
    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        TokenSource::token(&**self)
    }

    fn token_rejected(&self, rejected: &Arc<TokenResponse>) {
        TokenSource::token_rejected(&**self, rejected);
    }
}
