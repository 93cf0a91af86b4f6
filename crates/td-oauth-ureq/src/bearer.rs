//! Calling Talkdesk's APIs with the provider's token: `Authorization: Bearer …` attached, and one new token
//! and one more try when the API answers 401 (Talkdesk's documented remedy for an expired or revoked token).

use std::fmt;
use std::future::{Future, ready};
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use td_oauth_api::SentCredentials;
use td_oauth_core::text::display_uri;
use td_oauth_core::transport::proxy::ProxyRule;
use td_oauth_core::transport::{Authorizing, run_ready, send_authorized};
use ureq::AsSendBody;

use crate::{Error, TokenProvider, TokenResponse, config, send};

/// A ureq agent that authorizes every request with a [`TokenProvider`]'s token (td-oauth-reqwest's
/// `BearerClient` over a `reqwest::Client`).
///
/// ```no_run
/// # fn demo(provider: td_oauth_ureq::TokenProvider) -> Result<(), td_oauth_ureq::Error> {
/// use td_oauth_ureq::BearerClient;
///
/// let api = BearerClient::new(td_oauth_ureq::ureq::Agent::new_with_defaults(), provider);
/// let response = api.run(|| http::Request::get("https://api.talkdeskapp.com/users/me").body(()).unwrap())?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BearerClient {
    agent: ureq::Agent,
    provider: TokenProvider,
    /// The proxy rule, when `agent` is the one the provider's client built (see [`BearerClient::new`]).
    proxies: Option<Arc<ProxyRule>>,
}

impl fmt::Debug for BearerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerClient").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl BearerClient {
    /// Sends with `agent`, authorized by `provider`. `agent` sends as it was built, its proxy included.
    pub fn new(agent: ureq::Agent, provider: TokenProvider) -> Self {
        BearerClient { agent, provider, proxies: None }
    }

    /// Sends with the agent `provider`'s client sends with, through the proxy td-oauth-core's proxy rule
    /// gives each request when that agent is the one the client built (as token requests do).
    pub(crate) fn of_provider(provider: TokenProvider) -> Self {
        let client = provider.client();
        let (agent, proxies) = (client.http_client().clone(), client.proxies().cloned());
        BearerClient { agent, provider, proxies }
    }

    /// The provider.
    pub fn provider(&self) -> &TokenProvider {
        &self.provider
    }

    /// The agent requests go through, to build requests with.
    pub fn http_client(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Sends the request `build` makes, with the current token. If the API answers 401, the token is
    /// reported refused (dropped once for all threads that saw it), a new one is fetched, and `build` is
    /// called again for one more try, unless the new token is the refused one. Any status, 401 included
    /// after the retry, is returned as a response. The rule is td-oauth-core's [`send_authorized`], the
    /// same td-oauth-reqwest's wrappers follow (`build` makes every request anew, so each one can be replayed).
    /// The answer's extensions hold the [`SentCredentials`](td_oauth_api::SentCredentials) its
    /// request carried, which td-oauth-api's `ApiError::from_response` replaces in the texts it keeps.
    pub fn run<B: AsSendBody>(&self, build: impl FnMut() -> Request<B>) -> Result<Response<ureq::Body>, Error> {
        // Every future the loop awaits is ready when made: the I/O happens in the calls themselves.
        run_ready(send_authorized(&mut Rebuilt { client: self, build }, (), Some(())))
    }

    fn send<B: AsSendBody>(&self, mut request: Request<B>, header: HeaderValue) -> Result<Response<ureq::Body>, Error> {
        request.headers_mut().insert(AUTHORIZATION, header);
        let url = display_uri(request.uri());
        let route = match &self.proxies {
            Some(rule) => config::proxy_for(rule, request.uri())?,
            None => None,
        };
        // A 401 must come back as a response, whatever the caller's agent does with error statuses.
        let mut request = self.agent.configure_request(request).http_status_as_error(false);
        if self.proxies.is_some() {
            request = request.proxy(route.as_ref().map(|(proxy, _)| proxy.clone()));
        }
        let shown = route.as_ref().map(|(_, shown)| shown);
        self.agent.run(request.build()).map_err(|err| send::map_error_via(err, &url, None, shown))
    }
}

/// A [`BearerClient`]'s I/O for the 401 rule: each send builds its request anew, so the replay is a
/// rebuild (the loop's requests are `()`).
struct Rebuilt<'a, F> {
    client: &'a BearerClient,
    build: F,
}

impl<B: AsSendBody, F: FnMut() -> Request<B>> Authorizing for Rebuilt<'_, F> {
    type Request = ();
    type Response = Response<ureq::Body>;
    type Error = Error;

    fn token(&mut self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        ready(self.client.provider.token())
    }

    fn token_rejected(&mut self, token: &Arc<TokenResponse>) {
        self.client.provider.token_rejected(token);
    }

    fn send(
        &mut self,
        (): (),
        authorization: HeaderValue,
    ) -> impl Future<Output = Result<Response<ureq::Body>, Error>> + Send {
        ready(self.client.send((self.build)(), authorization))
    }

    fn status(response: &Response<ureq::Body>) -> StatusCode {
        response.status()
    }

    fn keep_sent(response: &mut Response<ureq::Body>, sent: &Arc<TokenResponse>) {
        response.extensions_mut().insert(SentCredentials::from_token(Arc::clone(sent)));
    }

    fn error(err: td_oauth_core::Error) -> Error {
        err
    }
}
