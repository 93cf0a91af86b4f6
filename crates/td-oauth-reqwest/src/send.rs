//! Sending token requests: one attempt (core request in, capped `http::Response` out) and the retry loop
//! around it, which signs a fresh assertion for every attempt.

use std::time::{Duration, Instant, SystemTime};

use td_oauth_core::{FormBody, Grant, OsRandom, RandomSource, TokenClient, TokenResponse};

use crate::error::display_url;
use crate::{Config, Error};

/// Fetches a token for `grant`, retrying per the config's [`RetryPolicy`](td_oauth_core::RetryPolicy).
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    token_client: &TokenClient,
    config: &Config,
    grant: &Grant,
) -> Result<TokenResponse, Error> {
    let started = Instant::now();
    let token_url = token_client.token_url().as_str();
    let grant_type = grant.grant_type();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        tracing::debug!(grant_type, token_url, attempt, "requesting a token");
        // A new request each attempt: a replayed assertion `jti` would be refused.
        let request = token_client.token_request(grant, SystemTime::now())?;
        let remaining = config.retry().total_deadline().saturating_sub(started.elapsed());
        let timeout = config.attempt_timeout().min(remaining);
        let outcome = match send_once(http, token_client.token_url().url(), request, timeout, config.body_cap()).await {
            Ok(response) => TokenResponse::from_http(&response, Instant::now()).map_err(Error::from),
            Err(err) => Err(err),
        };
        let error = match outcome {
            Ok(token) => {
                tracing::debug!(
                    grant_type,
                    token_url,
                    attempt,
                    expires_in = token.expires_in().as_secs(),
                    scope = token.scope().unwrap_or_default(),
                    "token received"
                );
                return Ok(token);
            }
            Err(error) => error,
        };
        match config.retry().next_delay(attempt, error.failure(), started.elapsed(), random_u64()) {
            Some(delay) => {
                tracing::warn!(
                    grant_type,
                    token_url,
                    attempt,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    reason = %error,
                    "token request failed; retrying"
                );
                tokio::time::sleep(delay).await;
            }
            None => {
                tracing::warn!(grant_type, token_url, attempt, error = %error, "token request failed");
                return Err(error);
            }
        }
    }
}

/// One POST of `request` to `url` (the same URL, already parsed by the core), bounded by `timeout` from
/// connecting to the last body byte, keeping at most `cap` body bytes.
async fn send_once(
    http: &reqwest::Client,
    url: &reqwest::Url,
    request: http::Request<FormBody>,
    timeout: Duration,
    cap: usize,
) -> Result<http::Response<Vec<u8>>, Error> {
    let (parts, body) = request.into_parts();
    let shown = display_url(url);
    let mut request = reqwest::Request::new(parts.method, url.clone());
    *request.headers_mut() = parts.headers;
    *request.body_mut() = Some(body.into_vec().into());

    // tokio's timeout covers a caller-supplied client with none of its own, and the body as well as the headers.
    let exchange = async {
        let mut response = http.execute(request).await.map_err(|e| Error::from_reqwest(e, &shown, Some(timeout)))?;
        let status = response.status();
        if status.is_redirection() || response.url() != url {
            return Err(Error::Redirected { status: status.as_u16() });
        }
        if response.content_length().is_some_and(|len| len > cap as u64) {
            return Err(Error::ResponseTooLarge { limit: cap });
        }
        let mut body = Vec::with_capacity(response.content_length().map_or(1024, |len| len as usize));
        while let Some(chunk) = response.chunk().await.map_err(|e| Error::from_reqwest(e, &shown, Some(timeout)))? {
            if body.len() + chunk.len() > cap {
                return Err(Error::ResponseTooLarge { limit: cap });
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(Error::Timeout { url: shown.clone(), timeout: Some(timeout) }))
}

/// Jitter for the retry policy. Should the system source fail, the clock's nanoseconds serve well enough.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    match OsRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            u64::from(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos())
        }
    }
}
