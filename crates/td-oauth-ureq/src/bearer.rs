//! Calling Talkdesk's APIs with the provider's token: `Authorization: Bearer …` attached, and one new token
//! and one more try when the API answers 401 (Talkdesk's documented remedy for an expired or revoked token).

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use td_oauth_core::TokenResponse;
use ureq::AsSendBody;

use crate::{Error, TokenProvider};

/// A ureq agent that authorizes every request with a [`TokenProvider`]'s token.
///
/// ```no_run
/// # fn demo(provider: td_oauth_ureq::TokenProvider) -> Result<(), td_oauth_ureq::Error> {
/// use td_oauth_ureq::BearerAgent;
///
/// let api = BearerAgent::new(td_oauth_ureq::ureq::Agent::new_with_defaults(), provider);
/// let response = api.run(|| http::Request::get("https://api.talkdeskapp.com/users/me").body(()).unwrap())?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BearerAgent {
    agent: ureq::Agent,
    provider: TokenProvider,
}

impl fmt::Debug for BearerAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAgent").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl BearerAgent {
    /// Sends with `agent`, authorized by `provider`.
    pub fn new(agent: ureq::Agent, provider: TokenProvider) -> Self {
        BearerAgent { agent, provider }
    }

    /// The provider.
    pub fn provider(&self) -> &TokenProvider {
        &self.provider
    }

    /// Sends the request `build` makes, with the current token. If the API answers 401, the token is
    /// invalidated (once for all threads that saw it refused), a new one is fetched, and `build` is called
    /// again for one more try. Any status, 401 included after the retry, is returned as a response.
    pub fn run<B: AsSendBody>(&self, mut build: impl FnMut() -> Request<B>) -> Result<Response<ureq::Body>, Error> {
        let token = self.provider.token()?;
        let response = self.send(build(), &token)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tracing::info!("the API refused the token (401); fetching a new one and retrying once");
        self.provider.invalidate_token(&token);
        let token = self.provider.token()?;
        self.send(build(), &token)
    }

    fn send<B: AsSendBody>(
        &self,
        mut request: Request<B>,
        token: &Arc<TokenResponse>,
    ) -> Result<Response<ureq::Body>, Error> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.access_token().secret()))
            .map_err(|_| Error::Request { reason: "the access token is not a valid header value".into() })?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        // A 401 must come back as a response, whatever the caller's agent does with error statuses.
        let request = self.agent.configure_request(request).http_status_as_error(false).build();
        self.agent.run(request).map_err(|err| Error::Api { reason: err.to_string() })
    }
}
