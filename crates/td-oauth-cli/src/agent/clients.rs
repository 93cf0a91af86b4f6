//! The clients the agent serves: the default one (the flags and `TALKDESK_*` variables, as for `token`) and
//! the named ones of `--config`, each with its own [`TokenProvider`].
//!
//! A reload builds a new set; a client whose definition and files are unchanged keeps its provider, so its
//! cached token, and a reload costs no token request for it.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use td_oauth_core::Grant;
use td_oauth_redis::FleetCache;
use td_oauth_reqwest::TokenProvider;

use crate::args::Connection;
use crate::error::CliError;

use super::config::{self, ClientDef};

/// What the agent was started with: the default client from the flags (when they name one) and the
/// configuration file, read again on every reload.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) flags: Option<ClientDef>,
    pub(crate) config: Option<PathBuf>,
}

/// One served client.
struct Served {
    def: ClientDef,
    files: Vec<Option<FileStamp>>,
    provider: TokenProvider,
}

/// The set of clients one configuration defines.
pub(crate) struct Clients {
    /// `/v1/token`: the flags' client, or the configuration's `default`.
    default: Option<Arc<Served>>,
    named: BTreeMap<String, Arc<Served>>,
}

/// What a lookup finds.
pub(crate) enum Lookup {
    Found(TokenProvider),
    /// `/v1/token` on an agent with no default client.
    NoDefault,
    /// `/v1/token/NAME` for a name no client has.
    Unknown,
}

impl Clients {
    /// The clients `sources` define, keeping `previous`'s provider for each client that has not changed.
    pub(crate) fn load(sources: &Sources, previous: Option<&Clients>) -> Result<Clients, CliError> {
        let file = sources.config.as_deref().map(config::load).transpose()?;
        let reuse = |def: ClientDef| -> Result<Arc<Served>, CliError> {
            let files = stamps(&def.connection);
            let old = previous.into_iter().flat_map(Clients::all).find(|s| s.def == def && s.files == files);
            match old {
                Some(old) => Ok(Arc::clone(old)),
                None => Ok(Arc::new(Served { provider: provider(&def)?, def, files })),
            }
        };
        let mut named = BTreeMap::new();
        let mut file_default = None;
        if let Some(file) = file {
            for (name, def) in file.clients {
                named.insert(name, reuse(def)?);
            }
            file_default = file.default;
        }
        let default = match (&sources.flags, file_default) {
            (Some(_), Some(name)) => {
                return Err(CliError::Input(format!(
                    "two default clients: the flags (or TALKDESK_* variables) name one, and the agent \
                     configuration says default = {name:?}; remove one of them"
                )));
            }
            (Some(def), None) => Some(reuse(def.clone())?),
            (None, Some(name)) => named.get(&name).cloned(),
            (None, None) => None,
        };
        if default.is_none() && named.is_empty() {
            return Err(CliError::Input(
                "no client to serve: give the default client's flags as for `td-oauth token` (--account or \
                 --token-url, --client-id, …, or their TALKDESK_* variables), or --config FILE with \
                 [clients.NAME] tables"
                    .into(),
            ));
        }
        Ok(Clients { default, named })
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Served>> {
        self.default.iter().chain(self.named.values())
    }

    /// The client `name` names (`None`: the default one).
    pub(crate) fn lookup(&self, name: Option<&str>) -> Lookup {
        match name {
            None => self.default.as_ref().map_or(Lookup::NoDefault, |s| Lookup::Found(s.provider.clone())),
            Some(name) => self.named.get(name).map_or(Lookup::Unknown, |s| Lookup::Found(s.provider.clone())),
        }
    }

    /// The named clients' names, for messages.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }

    /// Whether there is a default client, for the log.
    pub(crate) fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// How many clients this set shares with `other` (same providers), for the log after a reload.
    pub(crate) fn kept_from(&self, other: &Clients) -> usize {
        self.all().filter(|s| other.all().any(|o| Arc::ptr_eq(s, o))).count()
    }
}

/// The provider for `def`: the async transport built from the same settings as `token`'s, for the
/// client-credentials grant, with the fleet cache when `cache` names one.
fn provider(def: &ClientDef) -> Result<TokenProvider, CliError> {
    let mut config = td_oauth_reqwest::Config::new();
    if let Some(url) = &def.cache {
        if crate::file_cache::FileCache::is_file_cache(url) {
            return Err(CliError::Input(format!(
                "cache = {url:?}: the agent keeps tokens in memory itself; its cache is a fleet cache shared \
                 through Redis (redis://HOST:PORT/N), or none"
            )));
        }
        let key = crate::fleet::sealing_key()?;
        let cache = FleetCache::new(url, key).map_err(|err| CliError::Input(format!("cache: {err}")))?;
        config = config.with_shared_cache(Arc::new(cache));
    }
    let client = def.connection.reqwest_client_with(config)?;
    let scopes = crate::token::scopes(def.scope.as_deref())?;
    Ok(client.provider(Grant::client_credentials(scopes)))
}

/// Whether the flags name a default client at all (an agent may serve only named clients).
pub(crate) fn flags_name_a_client(connection: &Connection) -> bool {
    connection.client_id.is_some() || connection.token_url.is_some() || connection.account.is_some()
}

/// Which file a path holds now, and its size and times: a key replaced or rewritten in place changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        device: metadata.dev(),
        inode: metadata.ino(),
        len: metadata.len(),
        modified: (metadata.mtime(), metadata.mtime_nsec()),
        changed: (metadata.ctime(), metadata.ctime_nsec()),
    })
}

fn stamps(connection: &Connection) -> Vec<Option<FileStamp>> {
    [&connection.private_key_file, &connection.client_secret_file, &connection.ca_file, &connection.token_key.pin_file]
        .into_iter()
        .map(|path| path.as_deref().and_then(stamp))
        .collect()
}
