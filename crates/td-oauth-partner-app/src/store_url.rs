//! `--store URL`: which installation store the app uses, checked before anything connects. Errors and
//! [`StoreUrl::location`] name the scheme and `host:port` only, never a user or password the URL holds.

use std::fmt;

use url::Url;

use crate::error::StartupError;

/// A checked `--store` value.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// `memory`: this process's memory; installations last as long as the process.
    Memory,
    /// `redis://` or `rediss://`: one Redis or Valkey server.
    Redis {
        /// The URL as given (it may hold a password: never shown).
        url: String,
    },
    /// Seed nodes of a Redis Cluster (`--redis-cluster`).
    RedisCluster {
        /// The seed nodes' URLs as given.
        nodes: Vec<String>,
    },
    /// `postgres://` or `postgresql://`.
    Postgres {
        /// The URL as given.
        url: String,
    },
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.location())
    }
}

impl StoreUrl {
    /// Reads `--store` (with `--redis-cluster`, comma-separated seed nodes).
    pub fn parse(text: &str, cluster: bool) -> Result<StoreUrl, StartupError> {
        let text = text.trim();
        if text == "memory" {
            if cluster {
                return Err(StartupError::Store("--redis-cluster needs redis:// or rediss:// seed nodes".into()));
            }
            return Ok(StoreUrl::Memory);
        }
        if cluster {
            let nodes: Vec<String> =
                text.split(',').map(str::trim).filter(|node| !node.is_empty()).map(str::to_owned).collect();
            if nodes.is_empty() {
                return Err(StartupError::Store("--redis-cluster needs at least one seed node's URL".into()));
            }
            for node in &nodes {
                if !matches!(checked(node)?.scheme(), "redis" | "rediss") {
                    return Err(StartupError::Store(
                        "every --redis-cluster seed node is a redis:// or rediss:// URL".into(),
                    ));
                }
            }
            return Ok(StoreUrl::RedisCluster { nodes });
        }
        let url = checked(text)?;
        match url.scheme() {
            "redis" | "rediss" => Ok(StoreUrl::Redis { url: text.to_owned() }),
            "postgres" | "postgresql" => Ok(StoreUrl::Postgres { url: text.to_owned() }),
            other => Err(StartupError::Store(format!(
                "--store: the scheme `{}` is not a store this app knows; give redis://, rediss://, postgres:// \
                 or memory",
                td_oauth_core::text::excerpt(other)
            ))),
        }
    }

    /// Where the store is, for logs and errors: `memory`, or the scheme and `host:port` of each server.
    pub fn location(&self) -> String {
        match self {
            StoreUrl::Memory => "memory".to_owned(),
            StoreUrl::Redis { url } | StoreUrl::Postgres { url } => shown(url),
            StoreUrl::RedisCluster { nodes } => {
                format!("{} (cluster)", nodes.iter().map(|node| shown(node)).collect::<Vec<_>>().join(","))
            }
        }
    }

    /// Whether a URL holds a password (or a user name with one).
    pub fn has_password(&self) -> bool {
        let urls: Vec<&String> = match self {
            StoreUrl::Memory => Vec::new(),
            StoreUrl::Redis { url } | StoreUrl::Postgres { url } => vec![url],
            StoreUrl::RedisCluster { nodes } => nodes.iter().collect(),
        };
        // libpq also takes the password as a `password=` query parameter.
        let holds_password =
            |url: &Url| url.password().is_some() || url.query_pairs().any(|(name, _)| name == "password");
        urls.into_iter().any(|url| Url::parse(url).is_ok_and(|url| holds_password(&url)))
    }

    /// Whether the store is this process's memory (no other replica sees it).
    pub fn is_memory(&self) -> bool {
        matches!(self, StoreUrl::Memory)
    }
}

/// A URL with a host, or an error that does not repeat it (it may hold a password).
fn checked(text: &str) -> Result<Url, StartupError> {
    let url = Url::parse(text).map_err(|err| {
        StartupError::Store(format!(
            "--store is not a URL ({err}); give redis://HOST:PORT/N, rediss://HOST:PORT/N, \
             postgres://USER@HOST:PORT/DB or memory"
        ))
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(StartupError::Store(format!("--store: a {}:// URL needs a host", url.scheme())));
    }
    Ok(url)
}

/// `scheme://host:port` of a URL already checked.
fn shown(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Err(_) => "an invalid URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_scheme_and_shows_no_password() {
        let redis = StoreUrl::parse("redis://:hunter2@127.0.0.1:6379/0", false).unwrap_or(StoreUrl::Memory);
        assert_eq!(redis.location(), "redis://127.0.0.1:6379");
        assert!(!format!("{redis:?}").contains("hunter2"));
        let pg = StoreUrl::parse("postgres://app:s3cret@db.internal:5432/app", false).unwrap_or(StoreUrl::Memory);
        assert_eq!(pg.location(), "postgres://db.internal:5432");
        assert!(matches!(StoreUrl::parse("memory", false), Ok(StoreUrl::Memory)));
        let cluster = StoreUrl::parse("redis://a:7000, redis://b:7001", true).unwrap_or(StoreUrl::Memory);
        assert_eq!(cluster.location(), "redis://a:7000,redis://b:7001 (cluster)");
    }

    #[test]
    fn refuses_other_values_without_repeating_them() {
        for (text, cluster) in [
            ("mysql://root:pw@db/x", false),
            ("not a url pw", false),
            ("redis://", false),
            ("memory", true),
            ("postgres://u:pw@h/db", true),
        ] {
            let err = StoreUrl::parse(text, cluster).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.starts_with("--store")
                    || err.starts_with("--redis-cluster")
                    || err.starts_with("every --redis-cluster"),
                "{err}"
            );
            assert!(!err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn a_password_in_the_query_counts_as_one() {
        let has = |text| StoreUrl::parse(text, false).is_ok_and(|store| store.has_password());
        assert!(has("postgres://u:pw@h/db"));
        assert!(has("postgres://u@h/db?sslmode=require&password=pw"));
        assert!(!has("postgres://u@h/db?sslmode=require"));
    }
}
