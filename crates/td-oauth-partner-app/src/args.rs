//! The command line of `td-oauth-partner-app`: where it listens, which store it keeps installations in,
//! which gateways events may name. Secrets (the sealing keys, the callback secret) come from the
//! environment only, never from flags, which every user of the machine can read.

use std::net::SocketAddr;

use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _, Parser};

/// The variable that may hold `--store`'s URL (where a password belongs).
pub const STORE_VAR: &str = "TD_OAUTH_STORE";
/// The variable naming a PEM file of the CA certificates a `rediss://` store's certificate must chain to, in
/// place of the system's roots.
pub const STORE_CA_FILE_VAR: &str = "TD_OAUTH_STORE_CA_FILE";
/// The variable holding the sealing key: 32 random bytes in Base64 (`openssl rand -base64 32`).
pub const STORE_KEY_VAR: &str = "TD_OAUTH_STORE_KEY";
/// The variable holding the previous sealing key while the key is rotated (read, never written).
pub const STORE_KEY_PREVIOUS_VAR: &str = "TD_OAUTH_STORE_KEY_PREVIOUS";
/// The variable holding the callback secret AppConnect deliveries carry as `?secret=` in the callback URL.
pub const CALLBACK_SECRET_VAR: &str = "TD_OAUTH_CALLBACK_SECRET";

const AFTER_HELP: &str = "\
Environment (secrets are never flags):
  TD_OAUTH_STORE_KEY            the sealing key of the installations at rest: 32 random bytes in Base64
                                (openssl rand -base64 32), the same on every replica; required for every
                                store but `memory`
  TD_OAUTH_STORE_KEY_PREVIOUS   the key being rotated out: still read, never written
  TD_OAUTH_CALLBACK_SECRET      the secret the callback URL registered with Talkdesk carries as
                                `?secret=...` (https://app.example/events?secret=...); deliveries without
                                it are refused with 401. Without it, --no-verification must be given
  TD_OAUTH_STORE                --store's URL; a URL with a password must come from here, never from the
                                command line, which every user of the machine can read
  TD_OAUTH_STORE_CA_FILE        a PEM file of the CA certificates a rediss:// or postgres:// store's TLS
                                certificate must chain to, in place of the system's roots
  TD_OAUTH_LOG                  error, warn, info (default), debug or trace; no secret is ever logged

Standard output gets one line per listener (`events http://ADDR`, `admin http://ADDR`) then `ready`.
SIGTERM or SIGINT stops accepting, lets the requests in flight finish (for at most 30 s) and exits 0.";

/// A reference Talkdesk partner app: AppConnect events at `POST /events`, installations in a store every
/// replica shares, and an operator endpoint that lists them and checks their tokens.
#[derive(Clone, Parser)]
#[command(name = "td-oauth-partner-app", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Where AppConnect delivers events (`POST /events`): the address behind the callback URL.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The operator endpoint (`GET /installations`, `GET /installations/{id}/token-status`). Keep it on a
    /// private network: it holds no secret but tells which accounts installed the app.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,

    /// The installation store: `redis://HOST:PORT/N`, `rediss://…` (TLS), `postgres://USER@HOST/DB`, or
    /// `memory` (this process only: for one replica and for trying things out). With --redis-cluster,
    /// comma-separated seed nodes. A URL with a password goes in TD_OAUTH_STORE, not on the command line.
    #[arg(long, value_name = "URL", env = "TD_OAUTH_STORE")]
    pub store: String,

    /// Whether `--store` came from the command line (where a password is refused) rather than
    /// TD_OAUTH_STORE; set by [`Args::from_env_and_command_line`].
    #[arg(skip)]
    pub store_on_command_line: bool,

    /// `--store` names the seed nodes of a Redis Cluster.
    #[arg(long)]
    pub redis_cluster: bool,

    /// Also accept events whose `_links.root` is this origin (repeatable), beside Talkdesk's documented
    /// gateways (US, EU, CA): the AU gateway once you know it, or a local server in tests.
    #[arg(long = "allow-gateway", value_name = "URL")]
    pub allow_gateways: Vec<String>,

    /// The scopes `token-status` asks for when the request names none (space-separated).
    #[arg(long, value_name = "SCOPES", default_value = "apps:read")]
    pub status_scopes: String,

    /// Create the store's tables (PostgreSQL) and exit: once, at deployment, as a database user allowed to
    /// CREATE TABLE (the app never creates them by itself). Redis and memory keep no schema.
    #[arg(long)]
    pub migrate: bool,

    /// Accept deliveries without a callback secret: only behind something else that authenticates them
    /// (Talkdesk documents no event signature).
    #[arg(long)]
    pub no_verification: bool,
}

impl Args {
    /// The command line of this process (and TD_OAUTH_STORE), noting where `--store` came from; exits with
    /// clap's message on a usage error, as `Parser::parse` does.
    pub fn from_env_and_command_line() -> Args {
        let matches = Args::command().get_matches();
        let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
        args.store_on_command_line = matches.value_source("store") == Some(ValueSource::CommandLine);
        args
    }
}

impl std::fmt::Debug for Args {
    /// `--store` as its scheme, host and port: the URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = crate::store_url::StoreUrl::parse(&self.store, self.redis_cluster)
            .map_or_else(|_| "<not a store URL>".to_owned(), |store| store.location());
        f.debug_struct("Args")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("store", &store)
            .field("store_on_command_line", &self.store_on_command_line)
            .field("redis_cluster", &self.redis_cluster)
            .field("allow_gateways", &self.allow_gateways)
            .field("status_scopes", &self.status_scopes)
            .field("migrate", &self.migrate)
            .field("no_verification", &self.no_verification)
            .finish()
    }
}
