//! The command line: subcommands, their flags, and the environment variables behind them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use td_oauth_core::authorize::Prompt;
use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::{AuthorizeRequest, Region};

const AFTER_HELP: &str = "\
Exit status, decided by what the answer means, so that a script can tell a refusal from a hiccup:
  0  success (also when the reader of standard output stops early, e.g. `| head -c1`)
  1  try again later: the token endpoint could not be reached or timed out; it answered 5xx or 429, or an
     OAuth error that says so (server_error, temporarily_unavailable, slow_down), after the retries; or its
     answer was unusable (not JSON, no token, a token with characters the RFCs forbid)
  2  bad input or configuration, found before anything was sent: flags, files, environment
  3  refused: the server rejected the credentials or the grant with an OAuth error such as invalid_client,
     invalid_grant, invalid_scope or unauthorized_client (HTTP 400 or 401, or even 200), or answered 401 or
     403 without one; fix the credentials, retrying will not help. For `api` and `whoami`: the Talkdesk
     API answered 4xx (its error is printed); 5xx and 429 are 1
  4  the proxy (HTTPS_PROXY, https_proxy, ALL_PROXY) refused the tunnel: 407, it wants a user and password
     or refused those in its URL; 403, its rules refuse the destination. Not retried

Where secrets come from: a file, standard input or the environment, never the command line, which every
user of the machine can read (ps, /proc) and which lands in shell history.
  private key         --private-key-file PATH, or TALKDESK_PRIVATE_KEY holding the key itself; or on a
                      PKCS#11 token: --private-key-uri 'pkcs11:token=…;object=…' with --pkcs11-module PATH
  token PIN           --pin-file PATH, or TALKDESK_PKCS11_PIN holding the PIN itself
  client secret       --client-secret-file PATH, or TALKDESK_CLIENT_SECRET
  code, verifier      --code - (standard input), --code-file PATH, or TALKDESK_CODE;
                      --code-verifier-file PATH or TALKDESK_CODE_VERIFIER
  refresh token       --refresh-token - (standard input), --refresh-token-file PATH, or TALKDESK_REFRESH_TOKEN
  JWT to inspect      standard input
A file holding a private key or client secret should be readable by you alone (chmod 600): td-oauth warns
when it is not. Secret files and standard input are read up to 64 KiB.

Files td-oauth keeps, readable by you alone (0600), in directories only you can write to: a file or
directory that another user owns or others can read (files) or write (directories), or a link, is refused:
  user logins         `login` keeps the refresh token in the system keyring when one answers (the Secret
                      Service, the macOS Keychain, Windows Credential Manager), else in a file; its record
                      is in ~/.config/td-oauth/logins/ (XDG_CONFIG_HOME) either way; `auth status` lists
                      them, `logout` removes one, `logout --all` every one
  token cache         `token --cache local` keeps tokens in ~/.cache/td-oauth/tokens/ (XDG_CACHE_HOME);
                      remove the directory to drop them

Set TD_OAUTH_LOG=debug (or trace) to see fetches, retries and refreshes on standard error; no secret is ever
logged.";

/// Get Talkdesk OAuth 2.0 access tokens, debug client assertions, run a local identity server.
#[derive(Debug, Parser)]
#[command(name = "td-oauth", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check, in order, what a token request needs, a line each: where the configuration came from, the
    /// hosts, DNS, the connection (proxy, TLS roots), this machine's clock against the token endpoint's, the
    /// key, a token request and the scopes granted, the token cache and the login store. Exits with the
    /// status of the first failure; prints nothing secret.
    Doctor {
        #[command(flatten)]
        connection: Connection,
        /// Scopes to ask for in the token request, space-separated (default: everything the client may have).
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// The token cache to check, as `token --cache` takes it.
        #[arg(long, env = "TD_OAUTH_CACHE", value_name = "local|DIR|redis[s]://HOST:PORT/N")]
        cache: Option<String>,
        /// Send nothing over the network: check the configuration, the hosts, the key and the local files only.
        #[arg(long)]
        offline: bool,
        /// Print the checks as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Get an access token with the client-credentials grant and print it.
    #[command(after_help = "Examples:
  td-oauth token --account acme --client-id ID --key-id KID --private-key-file key.pem
  curl -H \"Authorization: Bearer $(td-oauth token --scope users:read)\" https://api.talkdeskapp.com/users
  td-oauth token --json | jq .expires_in
  td-oauth token --dry-run
  for i in $(seq 100); do td-oauth token --cache local; done   # one token request
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
        /// Print the HTTP request that would be sent and send nothing: the assertion's header and claims
        /// decoded, its signature and any client secret redacted, so that the output is no credential.
        #[arg(long)]
        dry_run: bool,
        /// Keep the token between runs: one token request per token lifetime. `local` keeps it on this
        /// machine in a file only you can read, in your cache directory (~/.cache/td-oauth/tokens, or under
        /// XDG_CACHE_HOME); a path or file:///PATH names another directory. redis://HOST:PORT/N shares it
        /// with every machine that uses the same Redis, encrypted under TD_OAUTH_CACHE_KEY (32 random bytes,
        /// Base64), which is then required; rediss://HOST:PORT/N over TLS, trusting the system's CAs or those
        /// in the PEM file TD_OAUTH_CACHE_CA_FILE names. If the cache cannot be used (Redis unreachable, a
        /// directory that cannot be created or written), the token is fetched directly, with a warning; a
        /// cache that is unsafe to use (a file or directory another user owns or others can write, a link)
        /// is refused (exit 2), with the fix.
        #[arg(long, env = "TD_OAUTH_CACHE", value_name = "local|DIR|redis[s]://HOST:PORT/N")]
        cache: Option<String>,
        /// A token for the user who ran `td-oauth login` with this client (refresh-token grant) instead of
        /// the client's own (client credentials). The kept refresh token is replaced by the one the server
        /// rotates to. Not with --cache.
        #[arg(long, conflicts_with = "cache")]
        user: bool,
    },

    /// Log in as a user through the browser (authorization code with PKCE, loopback redirect) and keep the
    /// refresh token for `token --user`.
    #[command(after_help = "Examples:
  td-oauth login --account acme --client-id ID --client-secret-file secret.txt --scope \"openid offline_access\"
  td-oauth login --headless …        # over SSH: open the URL anywhere, paste back the address it ends on
  td-oauth token --user --account acme --client-id ID --client-secret-file secret.txt
  td-oauth auth status
  td-oauth logout --account acme --client-id ID

The browser comes back to http://127.0.0.1:PORT/callback (any port; register http://127.0.0.1/callback
for the client). The browser is $BROWSER if set (`%s` stands for the URL), else xdg-open (open on macOS);
the URL is printed too, for a browser elsewhere on this machine. With --headless nothing listens: the
browser goes to http://127.0.0.1/callback on its own machine, fails to load it, and you paste its address
(or the code) into td-oauth; `state` and PKCE are checked as for the listener.

The refresh token is kept in the system keyring when one answers (--storage auto), else in a file only you
can read; login says which, and why. Its record (client, user, where it is kept, when it rotated) is in
~/.config/td-oauth/logins/ (under XDG_CONFIG_HOME if set), one per account and client.")]
    Login {
        #[command(flatten)]
        connection: Connection,
        /// Scopes to ask the user for, space-separated (a refresh token may need offline_access).
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// The authorize endpoint, instead of the one derived from --account or --token-url.
        #[arg(long, value_name = "URL")]
        authorize_url: Option<String>,
        /// Print the URL only; open no browser.
        #[arg(long)]
        no_browser: bool,
        /// For a machine without a browser (over SSH, in a container): print the URL for a browser anywhere,
        /// and read the address it ends on (or the code alone) from standard input.
        #[arg(long, conflicts_with = "no_browser")]
        headless: bool,
        /// Where to keep the login: `keyring` (the system's credential store), `file` (a file only you can
        /// read), or `auto`: the keyring when one answers, else a file.
        #[arg(long, env = "TD_OAUTH_STORAGE", value_enum, default_value_t = StorageChoice::Auto)]
        storage: StorageChoice,
        #[command(flatten)]
        prompt: PromptArgs,
        /// Seconds to wait for the browser to come back (or, with --headless, for the paste).
        #[arg(long, value_name = "SECS", default_value_t = 300,
              value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
        wait: u64,
    },

    /// Remove the login `td-oauth login` kept for this account and client, wherever it is kept.
    Logout {
        #[command(flatten)]
        connection: Connection,
        /// Remove every kept login, of every account and client.
        #[arg(long)]
        all: bool,
    },

    /// The logins `td-oauth login` kept.
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
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
        /// Where the browser returns with the code; must be registered for the client. https, http to a
        /// loopback address, or a native app's private-use scheme (com.example.app:/cb); no fragment.
        #[arg(long, value_name = "URI")]
        redirect_uri: String,
        /// Scopes to ask the user for, space-separated.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// The `state` to send (default: random). May begin with `-`.
        #[arg(long, allow_hyphen_values = true)]
        state: Option<String>,
        /// The `nonce` to send (default: random). May begin with `-`.
        #[arg(long, allow_hyphen_values = true)]
        nonce: Option<String>,
        /// Add a PKCE S256 challenge; the verifier is printed with --json, keep it for `exchange`.
        #[arg(long)]
        pkce: bool,
        /// The authorize endpoint, instead of the one derived from --account or --token-url.
        #[arg(long, value_name = "URL")]
        authorize_url: Option<String>,
        #[command(flatten)]
        prompt: PromptArgs,
        /// Print {"url", "state", "nonce", "prompt", "code_verifier"} instead of the URL alone.
        #[arg(long)]
        json: bool,
    },

    /// Exchange an authorization code for tokens (authorization-code grant).
    #[command(after_help = "Examples (the code and verifier stay off the command line):
  td-oauth exchange --redirect-uri https://app.example/cb --code - --code-verifier-file verifier.txt --json
  td-oauth exchange --redirect-uri https://app.example/cb --code-file code.txt --code-verifier-file verifier.txt")]
    Exchange {
        #[command(flatten)]
        connection: Connection,
        /// The code from the redirect; `-` reads it from standard input (or use --code-file or TALKDESK_CODE:
        /// a value given here is visible to other users).
        #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
        code: Option<String>,
        /// A file holding the code.
        #[arg(long, value_name = "PATH")]
        code_file: Option<PathBuf>,
        /// The redirect URI sent in the authorize request, byte for byte.
        #[arg(long, value_name = "URI")]
        redirect_uri: String,
        /// The PKCE verifier, if the authorize request carried a challenge; `-` reads standard input (or use
        /// --code-verifier-file or TALKDESK_CODE_VERIFIER: a value given here is visible to other users).
        #[arg(long, value_name = "VERIFIER", allow_hyphen_values = true)]
        code_verifier: Option<String>,
        /// A file holding the PKCE verifier.
        #[arg(long, value_name = "PATH")]
        code_verifier_file: Option<PathBuf>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Get a new access token from a refresh token (refresh-token grant).
    #[command(after_help = "Examples (the refresh token stays off the command line):
  td-oauth refresh --refresh-token - --json < refresh-token.txt
  td-oauth refresh --refresh-token-file refresh-token.txt --scope users:read")]
    Refresh {
        #[command(flatten)]
        connection: Connection,
        /// `-` reads the refresh token from standard input (or use --refresh-token-file or
        /// TALKDESK_REFRESH_TOKEN: a token given here is visible to other users).
        #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
        refresh_token: Option<String>,
        /// A file holding the refresh token.
        #[arg(long, value_name = "PATH")]
        refresh_token_file: Option<PathBuf>,
        /// Narrow the scopes, space-separated.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Decode a JWT (access token, ID token, assertion) without trusting it, and show when it expires.
    #[command(after_help = "Examples:
  td-oauth token | td-oauth inspect
  td-oauth inspect < token.txt")]
    Inspect {
        /// The JWT; read from standard input when absent or `-` (a token given here is visible to other
        /// users).
        #[arg(allow_hyphen_values = true)]
        token: Option<String>,
    },

    /// Call a Talkdesk API endpoint with a token and print the answer (`gh api` for Talkdesk).
    #[command(after_help = "Examples:
  td-oauth api /users/me --refresh-token-file refresh-token.txt
  td-oauth api --paginate /users | jq -r .email
  td-oauth api POST /apps/APP/installations/ID/state -f state=approve -f reason=provisioned
  td-oauth api PATCH /contacts/ID --input contact.json --include")]
    Api {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        target: ApiTarget,
        /// The method (default GET, or POST with a body), then the path on the gateway.
        #[arg(value_name = "[METHOD] PATH", num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// A body field, key=value (repeatable): the body is a JSON object of them.
        #[arg(short = 'f', long = "field", value_name = "KEY=VALUE")]
        fields: Vec<String>,
        /// The body from a file, sent as it is (`-` reads standard input).
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Follow the list's _links.next to its end and print every item, one JSON object a line.
        #[arg(long)]
        paginate: bool,
        /// Print the status line and headers before the body.
        #[arg(short = 'i', long)]
        include: bool,
    },

    /// Print who the token's user is (userinfo, /users/me: the Talkdesk id and the OpenID Connect sub, each
    /// when sent); needs a user's refresh token.
    #[command(after_help = "Example:
  td-oauth whoami --refresh-token-file refresh-token.txt --json")]
    Whoami {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        target: ApiTarget,
        /// Print {"id", "sub", "name", "email"} instead of lines.
        #[arg(long)]
        json: bool,
    },

    /// Run the local Talkdesk-compatible identity server (td-oauth-testkit) in the foreground.
    #[cfg(feature = "local-server")]
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
    #[cfg(feature = "local-server")]
    Demo,

    /// Serve access tokens to local processes in any language over a Unix socket: `GET /v1/token` (the
    /// client the flags and TALKDESK_* variables name, as for `token`) and `GET /v1/token/NAME` (the
    /// clients of --config FILE). One token request per token lifetime however many processes ask.
    #[cfg(all(feature = "agent", unix))]
    #[command(after_help = AGENT_HELP)]
    Agent {
        #[command(flatten)]
        connection: Connection,
        /// Scopes the default client asks for, space-separated (default: everything the client may have).
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
        /// Share the default client's tokens with every machine on the same Redis (redis://HOST:PORT/N),
        /// encrypted under TD_OAUTH_CACHE_KEY (32 random bytes, Base64), which is then required. The agent
        /// keeps tokens in memory itself, so `local` or a directory mean nothing here.
        #[arg(long, env = "TD_OAUTH_CACHE", value_name = "redis://HOST:PORT/N")]
        cache: Option<String>,
        /// Named clients, served at /v1/token/NAME, from a TOML file (see docs/agent.md). Read again on
        /// SIGHUP.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The Unix socket to listen on, created 0600 in a directory only you can use (created 0700 if
        /// missing). Default: $XDG_RUNTIME_DIR/td-oauth/agent.sock.
        #[arg(long, env = "TD_OAUTH_AGENT_SOCKET", value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Also listen on loopback TCP, as `127.0.0.1:PORT` or `[::1]:PORT` (port 0 picks a free one; the
        /// address is printed). Any local user can connect to a TCP port: prefer the socket.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

/// `td-oauth auth …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// List every kept login: token endpoint, client, user, where it is kept, when its refresh token last
    /// rotated; never a token. Exit status 0 when every login listed works, 1 otherwise.
    #[command(after_help = "Examples:
  td-oauth auth status
  td-oauth auth status --check --client-id ID --private-key-file key.pem --key-id KID
  td-oauth auth status --json | jq '.[].user'

--account, --token-url and --client-id (or their TALKDESK_* variables) list only the logins they name.")]
    Status {
        #[command(flatten)]
        connection: Connection,
        /// Obtain a token with each login now (which rotates its refresh token, as `token --user` does).
        /// Needs the client's credentials: logins of other clients are listed as not checked.
        #[arg(long)]
        check: bool,
        /// Print a JSON array, one object per login.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(all(feature = "agent", unix))]
const AGENT_HELP: &str = "\
Requests must carry the header `TD-OAuth-Agent: 1`; requests with Origin, Forwarded or X-Forwarded-For,
with a Host that is not loopback, or with a body are refused (403, 413). Answers are JSON:
  {\"access_token\": \"…\", \"token_type\": \"Bearer\", \"expires_in\": SECONDS}   (Cache-Control: no-store)
  {\"error\": \"…\", \"error_description\": \"…\"}                                 (4xx, 502, 503)
GET /v1/health answers {\"status\": \"ok\"}.

Examples:
  td-oauth agent --socket $XDG_RUNTIME_DIR/td-oauth/agent.sock --config ~/.config/td-oauth/agent.toml
  curl -sf --unix-socket $XDG_RUNTIME_DIR/td-oauth/agent.sock -H 'TD-OAuth-Agent: 1' http://localhost/v1/token

SIGHUP reads --config and the key files again (a bad file keeps the running configuration, and says why);
SIGTERM or SIGINT stops accepting, lets the requests in flight finish, removes the socket and exits 0.
Any process running as your user can ask the agent for a token: run it as the user of the services it serves.";

/// The longest `--timeout` and `--deadline`: beyond this a token request is not slow but stuck.
pub(crate) const MAX_WAIT_SECS: u64 = 3600;
/// The most `--retries`: each retry is another request to the identity service.
pub(crate) const MAX_RETRIES: u32 = 10;

/// The library's total deadline for all attempts, in whole seconds: the CLI's default, so both are one rule.
pub(crate) fn default_deadline() -> u64 {
    RetryPolicy::default().deadline().as_secs()
}

/// Where the token endpoint is and how the client authenticates; each flag also reads the variable shown.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct Connection {
    /// The Talkdesk account name (acme for acme.mytalkdesk.com).
    #[arg(long, env = "TALKDESK_ACCOUNT", value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// The account's region: us (the default), eu, ca or au, in any case.
    #[arg(long, env = "TALKDESK_REGION", value_name = "REGION", value_parser = parse_region)]
    pub(crate) region: Option<Region>,
    /// The token endpoint, instead of --account and --region (https, or http on loopback only).
    #[arg(long, env = "TALKDESK_TOKEN_URL", value_name = "URL")]
    pub(crate) token_url: Option<String>,
    /// The client id.
    #[arg(long, env = "TALKDESK_CLIENT_ID", value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The client key id (the assertion's `kid`).
    #[arg(long, env = "TALKDESK_KEY_ID", value_name = "KID")]
    pub(crate) key_id: Option<String>,
    /// A file holding the private key in any form Talkdesk or OpenSSL writes, PEM, Base64 or binary DER (or
    /// set TALKDESK_PRIVATE_KEY to the key itself).
    #[arg(long, env = "TALKDESK_PRIVATE_KEY_FILE", value_name = "PATH")]
    pub(crate) private_key_file: Option<PathBuf>,
    // --private-key-uri, --pkcs11-module, --pin-file.
    #[command(flatten)]
    pub(crate) token_key: TokenKey,
    /// The key's algorithm (ES256, ES384, ES512, PS256, PS384, PS512), Talkdesk's key_algorithm. Inferred
    /// from an EC key; an RSA key is taken for PS256 unless this says PS384 or PS512.
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
    /// Seconds to wait for each attempt (at most the --deadline).
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
    pub(crate) timeout: u64,
    /// Retries after a failed attempt (connection errors, timeouts, 5xx, 429, temporary OAuth errors).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_RETRIES)))]
    pub(crate) retries: u32,
    /// Seconds all attempts together may take, retries and their waits included; no retry starts that would
    /// end past it (the default is the library's).
    #[arg(long, value_name = "SECS", default_value_t = default_deadline(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
    pub(crate) deadline: u64,
}

/// A private key on a PKCS#11 token instead of in a file: where it is, the module that reaches the token,
/// and where the token's PIN is (a file, or TALKDESK_PKCS11_PIN holding the PIN itself; never a flag's
/// value). Needs the `pkcs11` feature, on by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct TokenKey {
    /// The private key on a PKCS#11 token (HSM, smart card, YubiKey, SoftHSM2), as an RFC 7512 URI:
    /// 'pkcs11:token=td;object=app-key' (quoted: `;` ends a shell command). Instead of --private-key-file;
    /// needs --pkcs11-module, and the PIN from --pin-file or TALKDESK_PKCS11_PIN.
    #[arg(long, env = "TALKDESK_PRIVATE_KEY_URI", value_name = "URI")]
    pub(crate) private_key_uri: Option<String>,
    /// The token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so or a YubiKey's libykcs11.so.
    #[arg(long, env = "TALKDESK_PKCS11_MODULE", value_name = "PATH")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// A file holding the token's user PIN (or set TALKDESK_PKCS11_PIN to the PIN itself). A PIN the token
    /// refuses is not tried again, so as not to lock the token.
    #[arg(long, value_name = "PATH")]
    pub(crate) pin_file: Option<PathBuf>,
}

fn parse_region(code: &str) -> Result<Region, String> {
    code.parse().map_err(|err: td_oauth_core::Error| err.to_string())
}

/// Where the API is and whose token calls it: shared by `api` and `whoami`.
#[derive(Debug, Args)]
pub(crate) struct ApiTarget {
    /// The API gateway (default: the region's, from --account and --region; needed with --token-url,
    /// e.g. the URL `td-oauth serve` prints).
    #[arg(long, env = "TALKDESK_API_URL", value_name = "URL")]
    pub(crate) api_url: Option<String>,
    /// Scopes to ask for, space-separated (default: everything the client may have).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scope: Option<String>,
    /// Call as a user: a refresh token from the authorization-code flow; `-` reads standard input (or use
    /// --refresh-token-file or TALKDESK_REFRESH_TOKEN). Without it the client's own token is used.
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    pub(crate) refresh_token: Option<String>,
    /// A file holding the refresh token.
    #[arg(long, value_name = "PATH")]
    pub(crate) refresh_token_file: Option<PathBuf>,
}

/// OpenID Connect's `prompt`, shared by `login` and `authorize-url`.
#[derive(Debug, Args)]
pub(crate) struct PromptArgs {
    /// OpenID Connect's prompt: none, login, consent or select_account. Default: consent when --scope asks
    /// for offline_access (OpenID Connect Core §11 grants a refresh token only then), else none. Talkdesk
    /// documents no prompt.
    #[arg(long, value_name = "PROMPT", value_parser = parse_prompt)]
    pub(crate) prompt: Option<Prompt>,
    /// Send no prompt at all, not even consent with offline_access (for a server that refuses it).
    #[arg(long, conflicts_with = "prompt")]
    pub(crate) no_prompt: bool,
}

impl PromptArgs {
    /// `request` with the prompt chosen, or the core's default.
    pub(crate) fn apply(&self, request: AuthorizeRequest) -> AuthorizeRequest {
        match (self.prompt, self.no_prompt) {
            (Some(prompt), _) => request.with_prompt(prompt),
            (None, true) => request.without_prompt(),
            (None, false) => request,
        }
    }
}

fn parse_prompt(text: &str) -> Result<Prompt, String> {
    text.parse().map_err(|err: td_oauth_core::Error| err.to_string())
}

/// `--storage`: where a new login goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StorageChoice {
    /// The system keyring when one answers, else a file.
    Auto,
    /// The system keyring, or an error.
    Keyring,
    /// A file only you can read.
    File,
}
