//! Calling Talkdesk's APIs with the provider's token: `Authorization: Bearer …` attached, and one new token
//! and one more try when the API answers 401 (Talkdesk's documented remedy for an expired or revoked token).

use std::fmt;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use td_oauth_core::text::display_uri;
use td_oauth_core::transport::Reauthorization;
use ureq::AsSendBody;

use crate::{Error, TokenProvider, send};

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

    /// The agent requests go through.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Sends the request `build` makes, with the current token. If the API answers 401, the token is
    /// reported refused (dropped once for all threads that saw it), a new one is fetched, and `build` is
    /// called again for one more try, unless the new token is the refused one. Any status, 401 included
    /// after the retry, is returned as a response. The rule is td-oauth-core's [`Reauthorization`], the
    /// same td-oauth-reqwest's wrappers follow (`build` makes every request anew, so each one can be replayed).
    pub fn run<B: AsSendBody>(&self, mut build: impl FnMut() -> Request<B>) -> Result<Response<ureq::Body>, Error> {
        let mut call = Reauthorization::new(self.provider.token()?, true);
        let response = self.send(build(), call.header()?)?;
        let Some(refused) = call.refused(response.status()) else {
            return Ok(response);
        };
        self.provider.token_rejected(refused);
        let Some(header) = call.retry_with(self.provider.token()?)? else {
            return Ok(response);
        };
        tracing::debug!("the API answered 401; retrying once with a new token");
        self.send(build(), header)
    }

    fn send<B: AsSendBody>(&self, mut request: Request<B>, header: HeaderValue) -> Result<Response<ureq::Body>, Error> {
        request.headers_mut().insert(AUTHORIZATION, header);
        let url = display_uri(request.uri());
        // A 401 must come back as a response, whatever the caller's agent does with error statuses.
        let request = self.agent.configure_request(request).http_status_as_error(false).build();
        self.agent.run(request).map_err(|err| send::map_error(err, &url, None))
    }
}
