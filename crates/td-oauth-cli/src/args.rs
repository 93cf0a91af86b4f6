//! The command line: subcommands, their flags, and the environment variables behind them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit status: 0 success; 1 the token endpoint could not be reached or gave an unusable answer;
2 bad input or configuration; 3 the server refused the request (invalid_client, invalid_grant, ...).

Set TD_OAUTH_LOG=debug (or trace) to see fetches, retries and refreshes on standard error; no secret is ever
logged.

Private keys and client secrets are read from files or the environment, never from flags, so they stay out
of shell history and process listings; pipe a refresh token in with `--refresh-token -`.";

/// Get Talkdesk OAuth 2.0 access tokens, debug client assertions, run a local identity server.
#[derive(Debug, Parser)]
#[command(name = "td-oauth", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Get an access token with the client-credentials grant and print it.
    #[command(after_help = "Examples:
  td-oauth token --account acme --client-id ID --key-id KID --private-key-file key.pem
  curl -H \"Authorization: Bearer $(td-oauth token --scope users:read)\" https://api.talkdeskapp.com/users
  td-oauth token --json | jq .expires_in
  td-oauth token --dry-run
  TD_OAUTH_CACHE_KEY=$(cat cache.key) td-oauth token --cache redis://cache.internal:6379/0")]
    Token {
        #[command(flatten)]
        connection: Connection,
        /// Scopes to ask for, space-separated (default: everything the client may have).
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// Print the whole token response as one JSON object instead of the access token alone.
        #[arg(long)]
        json: bool,
        /// Print the HTTP request that would be sent (with the assertion decoded) and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Share the token through Redis with every machine that uses the same cache: one token request per
        /// token lifetime for the whole fleet. Tokens are stored encrypted under TD_OAUTH_CACHE_KEY (32 random
        /// bytes, Base64), which is required. If Redis is down, the token is fetched directly.
        #[arg(long, env = "TD_OAUTH_CACHE", value_name = "redis://HOST:PORT/N")]
        cache: Option<String>,
    },

    /// Print one freshly signed client assertion (a JWT valid for a few minutes).
    #[command(after_help = "Example:
  td-oauth assertion --account acme --client-id ID --key-id KID --private-key-file key.pem | td-oauth inspect")]
    Assertion {
        #[command(flatten)]
        connection: Connection,
    },

    /// Print the URL that starts the authorization-code flow in a browser.
    #[command(after_help = "Example:
  td-oauth authorize-url --account acme --client-id ID --redirect-uri https://app.example/cb \\
      --scope \"openid users:read\" --pkce --json")]
    AuthorizeUrl {
        #[command(flatten)]
        connection: Connection,
        /// Where the browser returns with the code; must be registered for the client.
        #[arg(long, value_name = "URI")]
        redirect_uri: String,
        /// Scopes to ask the user for, space-separated.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// The `state` to send (default: random).
        #[arg(long)]
        state: Option<String>,
        /// The `nonce` to send (default: random).
        #[arg(long)]
        nonce: Option<String>,
        /// Add a PKCE S256 challenge; the verifier is printed with --json, keep it for `exchange`.
        #[arg(long)]
        pkce: bool,
        /// The authorize endpoint, instead of the one derived from --account or --token-url.
        #[arg(long, value_name = "URL")]
        authorize_url: Option<String>,
        /// Print {"url", "state", "nonce", "code_verifier"} instead of the URL alone.
        #[arg(long)]
        json: bool,
    },

    /// Exchange an authorization code for tokens (authorization-code grant).
    #[command(after_help = "Example:
  td-oauth exchange --code CODE --redirect-uri https://app.example/cb --code-verifier VERIFIER --json")]
    Exchange {
        #[command(flatten)]
        connection: Connection,
        /// The code from the redirect.
        #[arg(long)]
        code: String,
        /// The redirect URI sent in the authorize request.
        #[arg(long, value_name = "URI")]
        redirect_uri: String,
        /// The PKCE verifier, if the authorize request carried a challenge.
        #[arg(long, value_name = "VERIFIER")]
        code_verifier: Option<String>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Get a new access token from a refresh token (refresh-token grant).
    #[command(after_help = "Examples:
  td-oauth refresh --refresh-token - --json < refresh-token.txt
  td-oauth refresh --refresh-token \"$REFRESH_TOKEN\" --scope users:read")]
    Refresh {
        #[command(flatten)]
        connection: Connection,
        /// The refresh token, or `-` to read it from standard input.
        #[arg(long, value_name = "TOKEN")]
        refresh_token: String,
        /// Narrow the scopes, space-separated.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Decode a JWT (access token, ID token, assertion) without trusting it, and show when it expires.
    #[command(after_help = "Examples:
  td-oauth inspect eyJhbGciOi...
  td-oauth token | td-oauth inspect")]
    Inspect {
        /// The JWT; read from standard input when absent.
        token: Option<String>,
    },

    /// Run the local Talkdesk-compatible identity server (td-oauth-testkit) in the foreground.
    #[command(after_help = "Example:
  td-oauth serve --port 8443 --https")]
    Serve {
        /// The port on 127.0.0.1 (default: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Serve HTTPS with a freshly generated self-signed certificate.
        #[arg(long)]
        https: bool,
    },

    /// Walk through the whole flow against an in-process identity server: no account, no network.
    Demo,
}

/// Where the token endpoint is and how the client authenticates; each flag also reads the variable shown.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The Talkdesk account name (acme for acme.mytalkdesk.com).
    #[arg(long, env = "TALKDESK_ACCOUNT", value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// The account's region.
    #[arg(long, env = "TALKDESK_REGION", default_value = "us", value_parser = ["us", "eu", "ca", "au"])]
    pub(crate) region: String,
    /// The token endpoint, instead of --account and --region (https, or http on loopback only).
    #[arg(long, env = "TALKDESK_TOKEN_URL", value_name = "URL")]
    pub(crate) token_url: Option<String>,
    /// The client id.
    #[arg(long, env = "TALKDESK_CLIENT_ID", value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The client key id (the assertion's `kid`).
    #[arg(long, env = "TALKDESK_KEY_ID", value_name = "KID")]
    pub(crate) key_id: Option<String>,
    /// A file holding the private key in any form Talkdesk or OpenSSL writes (or set TALKDESK_PRIVATE_KEY to
    /// the key itself).
    #[arg(long, env = "TALKDESK_PRIVATE_KEY_FILE", value_name = "PATH")]
    pub(crate) private_key_file: Option<PathBuf>,
    /// The key's algorithm (ES256, ES384, ES512, PS256, PS384, PS512); inferred from the key when absent.
    #[arg(long, env = "TALKDESK_KEY_ALGORITHM", value_name = "ALG")]
    pub(crate) algorithm: Option<String>,
    /// A file holding the client secret: HTTP Basic authentication instead of a signed JWT (or set
    /// TALKDESK_CLIENT_SECRET to the secret itself, used when no private key is given).
    #[arg(long, value_name = "PATH")]
    pub(crate) client_secret_file: Option<PathBuf>,
    /// A PEM file of extra CA certificates to trust (a private CA, or `td-oauth serve --https`).
    #[arg(long, env = "TALKDESK_CA_FILE", value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// The assertion's `aud` (default: the token URL).
    #[arg(long, value_name = "AUD")]
    pub(crate) audience: Option<String>,
    /// Seconds to wait for each attempt.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) timeout: u64,
    /// Retries after a failed attempt (connection errors, timeouts, 5xx, 429).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) retries: u32,
}
