//! The server's mutable state, shared by the handlers and the [`TestServer`](crate::TestServer)
//! handle behind one mutex (every handler holds it only briefly, never across an await).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::clients::Client;
use crate::faults::FaultQueue;
use crate::issuer::Issuer;
use crate::paths::TOKEN_PATH;
use crate::record::{Acknowledgement, RecordedRequest};

/// What every connection task shares.
pub(crate) struct Shared {
    /// `http(s)://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    /// `{base_url}/oauth/token`: the only `aud` accepted in client assertions.
    pub(crate) token_url: String,
    pub(crate) issuer: Issuer,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(base_url: String, issuer: Issuer, state: State) -> Self {
        Shared { token_url: format!("{base_url}{}", TOKEN_PATH), base_url, issuer, state: Mutex::new(state) }
    }

    /// Locks the state. A panic while holding the lock cannot leave it half-updated in a way
    /// that matters to a test server, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Mutable server state.
pub(crate) struct State {
    pub(crate) account: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) code_lifetime: Duration,
    pub(crate) iat_leeway: Duration,
    /// Seconds the server's clock is ahead of the machine's (negative: behind).
    pub(crate) clock_offset: i64,
    /// `aud` values accepted besides the token URL.
    pub(crate) extra_audiences: Vec<String>,
    /// Clients by client id.
    pub(crate) clients: HashMap<String, Client>,
    /// Client id by key id.
    pub(crate) kids: HashMap<String, String>,
    /// Every assertion `jti` accepted so far.
    pub(crate) seen_jti: HashSet<String>,
    /// Unused authorization codes.
    pub(crate) codes: HashMap<String, CodeGrant>,
    /// Unused refresh tokens.
    pub(crate) refresh_tokens: HashMap<String, Session>,
    /// `jti` of every access token issued and not revoked.
    pub(crate) access_tokens: HashSet<String>,
    pub(crate) faults: FaultQueue,
    /// How many more `/api/me` calls answer 401 regardless of the token.
    pub(crate) api_failures: usize,
    /// In arrival order.
    pub(crate) records: Vec<RecordedRequest>,
    /// The Talkdesk API side: the user list, lifecycle calls received.
    pub(crate) api: ApiState,
    /// Arrival number of the last request.
    pub(crate) last_seq: u64,
}

impl State {
    /// Records a request as it arrives.
    pub(crate) fn record_arrival(&mut self, record: &mut RecordedRequest) {
        self.last_seq += 1;
        record.seq = self.last_seq;
        self.records.push(record.clone());
    }

    /// Replaces the arrival record with the completed one (unless the records were cleared).
    pub(crate) fn record_answer(&mut self, record: RecordedRequest) {
        if let Some(slot) = self.records.iter_mut().rev().find(|r| r.seq == record.seq) {
            *slot = record;
        }
    }

    pub(crate) fn new(
        account: String,
        token_lifetime: Duration,
        code_lifetime: Duration,
        iat_leeway: Duration,
    ) -> Self {
        State {
            account,
            token_lifetime,
            code_lifetime,
            iat_leeway,
            clock_offset: 0,
            extra_audiences: Vec::new(),
            clients: HashMap::new(),
            kids: HashMap::new(),
            seen_jti: HashSet::new(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashSet::new(),
            faults: FaultQueue::default(),
            api_failures: 0,
            records: Vec::new(),
            api: ApiState::new(),
            last_seq: 0,
        }
    }
}

impl State {
    pub(crate) fn with_clock_offset(mut self, seconds: i64) -> Self {
        self.clock_offset = seconds;
        self
    }

    /// The server's time: the machine's, shifted by its clock offset.
    pub(crate) fn now(&self) -> SystemTime {
        let by = Duration::from_secs(self.clock_offset.unsigned_abs());
        let now = SystemTime::now();
        let shifted = if self.clock_offset >= 0 { now.checked_add(by) } else { now.checked_sub(by) };
        shifted.unwrap_or(now)
    }

    /// The server's time in seconds since the Unix epoch.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
    }
}

/// What an authorization code stands for until it is exchanged.
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) nonce: Option<String>,
    /// PKCE S256 challenge, when the authorize request carried one.
    pub(crate) code_challenge: Option<String>,
    pub(crate) issued: Instant,
}

/// What a refresh token stands for (rotated on every use).
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) sid: String,
}

/// What the API side remembers.
#[derive(Debug, Default)]
pub(crate) struct ApiState {
    /// Users in the `/users` list.
    pub(crate) user_count: usize,
    /// Accepted lifecycle calls, in order.
    pub(crate) acknowledgements: Vec<Acknowledgement>,
    /// Installation state by installation id.
    pub(crate) installations: HashMap<String, String>,
}

impl ApiState {
    pub(crate) fn new() -> Self {
        ApiState { user_count: 120, ..ApiState::default() }
    }
}
