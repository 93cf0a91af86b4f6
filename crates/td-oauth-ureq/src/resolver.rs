//! Name resolution for the agent this crate builds. ureq looks the host up before every request, even one
//! that goes out on a kept-alive connection, and whenever a timeout is set (td-oauth always sets one) it
//! does so on a thread of its own, spawned per lookup. On a busy machine the caller then waits for that
//! thread to be scheduled, a few milliseconds per request: what made each page of an API list through this
//! crate cost 3.5–4 ms against 0.5 ms through td-oauth-reqwest, whose HTTP client looks a host up only to
//! open a new connection.
//!
//! So: an address in the URL is used as it is, without a lookup or a thread; a name is looked up by ureq's
//! own resolver (on its thread, within the timeout) and its addresses kept for [`KEEP`], as curl keeps
//! them, so that the requests of a list or a refresh on a pooled connection need neither.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a name's addresses are kept (curl keeps them 60 s).
const KEEP: Duration = Duration::from_secs(30);
/// The most names kept at once; beyond it the oldest answers are dropped.
const MAX_NAMES: usize = 32;

/// ureq's resolver, without a lookup for an address and with a name's answer kept for [`KEEP`].
#[derive(Debug, Default)]
pub(crate) struct KeepingResolver {
    lookup: DefaultResolver,
    kept: Mutex<HashMap<(String, u16), (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for KeepingResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let Some(host) = uri.host() else {
            // ureq's resolver says what is wrong with such a URI.
            return self.lookup.resolve(uri, config, timeout);
        };
        // An IPv6 address comes in brackets.
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            let mut addresses = self.empty();
            addresses.push(SocketAddr::new(ip, port));
            return Ok(addresses);
        }
        let key = (host.to_ascii_lowercase(), port);
        let now = Instant::now();
        {
            let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, addresses)) = kept.get(&key)
                && now.saturating_duration_since(*at) < KEEP
            {
                return Ok(addresses.clone());
            }
        }
        let addresses = self.lookup.resolve(uri, config, timeout)?;
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_NAMES {
            kept.retain(|_, (at, _)| now.saturating_duration_since(*at) < KEEP);
            if kept.len() >= MAX_NAMES {
                kept.clear();
            }
        }
        kept.insert(key, (now, addresses.clone()));
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ureq::Timeout;
    use ureq::unversioned::transport::time;

    use super::*;

    /// A timeout that has already run out: any lookup ureq's resolver makes (on its thread) fails with it,
    /// so an answer means no lookup was made.
    fn spent() -> NextTimeout {
        NextTimeout { after: time::Duration::Exact(Duration::ZERO), reason: Timeout::Resolve, ..Default::default() }
    }

    fn resolve(resolver: &KeepingResolver, uri: &str, timeout: NextTimeout) -> Result<Vec<SocketAddr>, ureq::Error> {
        let config = Config::default();
        resolver.resolve(&uri.parse().unwrap(), &config, timeout).map(|addresses| addresses.iter().copied().collect())
    }

    #[test]
    fn an_address_needs_no_lookup() {
        let resolver = KeepingResolver::default();
        let v4 = resolve(&resolver, "http://127.0.0.1:8080/users", spent()).unwrap();
        assert_eq!(v4, ["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(resolve(&resolver, "https://[::1]/users", spent()).unwrap(), ["[::1]:443".parse().unwrap()]);
        assert_eq!(resolve(&resolver, "http://127.0.0.1/", spent()).unwrap(), ["127.0.0.1:80".parse().unwrap()]);
    }

    #[test]
    fn a_name_is_looked_up_once_and_kept() {
        let resolver = KeepingResolver::default();
        // The first lookup is made, within a real timeout.
        let first = resolve(&resolver, "http://localhost:8080/", NextTimeout::default()).unwrap();
        assert!(!first.is_empty());
        // The next request to that name and port is answered from what was kept, without a lookup.
        assert_eq!(resolve(&resolver, "http://LOCALHOST:8080/other", spent()).unwrap(), first);
    }
}
