//! [`FleetManager`]: the token manager of a fleet of replicas that share an
//! [`InstallationStore`], written once for both transports, as [`Manager`] is.
//!
//! The store is the source of truth and memory a cache of it:
//!
//! - **Read-through, then warm.** A replica that never saw an account reads its record on first use, keeps
//!   the installation in its [`Manager`], and serves later tokens from memory with no store round trip.
//! - **Notices, with a version check as the safety net.** Every write is a compare-and-set on the record's
//!   version; the store tells every replica of it ([`Notice::Changed`]), and a replica holding an older
//!   version reads the record again before it serves that account. While the subscription is lost (or never
//!   started) a held record is read again when its last confirmation is older than [`RECHECK_AFTER`], so
//!   no replica hands out a token for an uninstalled account for more than about a second after the
//!   uninstall was written. While notices arrive, a held record is still confirmed every
//!   [`CONFIRM_EVERY`], in case the store dropped one without saying so.
//! - **Each lifecycle step once per fleet.** An event is claimed by id in the store before it is handled
//!   (a redelivery handled by another replica is a [`Lifecycle::Duplicate`], or
//!   [`Error::EventInProgress`] while the first is still at it), and each step writes its progress into the
//!   record, so that a replica killed in the middle of a step leaves a state the next delivery finishes.
//! - **Uninstalled records stay.** An acknowledged uninstall leaves a record with no credentials (state
//!   [`InstallationState::Uninstalled`]), so that a late redelivery finds the uninstall done; a reinstall of
//!   the account replaces it.
//! - **The store down.** Tokens of installations already in memory keep being served (their records are
//!   read again once the store answers); what needs the store (a first token for an account not held,
//!   every lifecycle step) fails with [`Error::Store`], which [`Error::is_retryable`] says to answer with a
//!   5xx so that AppConnect redelivers.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use td_oauth_core::random::OsRandom;
use td_oauth_core::transport::Config;
use td_oauth_core::{Account, Scopes, TokenResponse};

use crate::apps_api::{Acknowledged, InstallationDecision};
use crate::events::{Event, EventPayload};
use crate::installations::{Admission, Gate, SyncedInstallation};
use crate::lifecycle::missing;
use crate::manager::{Gated, Manager, unknown};
use crate::record::{InstallationState, InstallationSummary, Record, SealingKeys, account_of, store_key, unix_ms};
use crate::store::{EventClaim, InstallationStore, Notice, NoticeSink, Put, StoreError, Subscription, Versioned};
use crate::transport::ManagerTransport;
use crate::{Error, InstallationCredentials, Lifecycle, RotationFallback, RotationKind, TokenManagerPolicy};

/// How old a held record's last confirmation may be, while no change notices arrive, before the record is
/// read again ahead of handing out a token.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);
/// How old a held record's last confirmation may be while change notices arrive: a notice lost without the
/// subscription saying so (a store that drops one) delays a change by at most this long.
pub const CONFIRM_EVERY: Duration = Duration::from_secs(60);
/// How long a replica holds an event's claim while it handles it; a replica killed meanwhile blocks the
/// event's redelivery (5 minutes later at AppConnect) for no longer than this.
pub const EVENT_LEASE: Duration = Duration::from_secs(60);
/// How long a handled event id is remembered: AppConnect's last redelivery comes 15 minutes after the
/// first try.
pub const REMEMBER_EVENTS: Duration = Duration::from_secs(24 * 3600);
/// How often a subscription that could not be started is tried again (from a token request that reads
/// the store anyway).
pub const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(5);
/// Compare-and-set attempts before a write gives up (another replica writing the same record each time).
const WRITE_ATTEMPTS: usize = 8;

/// Access tokens for every account that installed a partner app, on every replica of a fleet that shares
/// an [`InstallationStore`], over the transport `T`; the lifecycle applied once per fleet. The rules are in
/// the [module documentation](self).
///
/// [`FleetTokenManager`](crate::FleetTokenManager) is this type over td-oauth-reqwest,
/// [`BlockingFleetTokenManager`](crate::BlockingFleetTokenManager) over td-oauth-ureq. `Clone + Send + Sync`:
/// clones share everything.
pub struct FleetManager<T: ManagerTransport> {
    inner: Arc<FleetInner<T>>,
}

struct FleetInner<T: ManagerTransport> {
    manager: Manager<T>,
    store: Arc<dyn InstallationStore>,
    keys: SealingKeys,
    random: OsRandom,
    /// Change notices arrive: memory needs no age check.
    listening: AtomicBool,
    /// Notices heard so far, so that a read that raced with one knows to read again.
    notices: AtomicU64,
    subscription: Mutex<Option<Subscription>>,
    /// When a subscription was last tried and failed.
    failed_subscribe: Mutex<Option<Instant>>,
}

impl<T: ManagerTransport> Clone for FleetManager<T> {
    fn clone(&self) -> Self {
        FleetManager { inner: Arc::clone(&self.inner) }
    }
}

impl<T: ManagerTransport> fmt::Debug for FleetManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetManager")
            .field("manager", &self.inner.manager)
            .field("store", &self.inner.store)
            .field("keys", &self.inner.keys)
            .field("listening", &self.inner.listening.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What a read-modify-write decided.
enum Step<R> {
    /// Write this record, then answer `R`.
    Write(Box<Record>, R),
    /// Write nothing; answer `R`.
    Keep(R),
}

impl<T: ManagerTransport> FleetManager<T> {
    /// A manager over `store` with the default [`TokenManagerPolicy`], sealing records with `keys`, that
    /// fetches as `config` says. Subscribes to the store's change notices; a store that cannot be reached
    /// now is not an error (held records are then checked by age, and subscribing is tried again).
    pub async fn new(config: Config<T>, store: Arc<dyn InstallationStore>, keys: SealingKeys) -> Result<Self, Error> {
        Self::with_policy(config, TokenManagerPolicy::default(), store, keys).await
    }

    /// [`new`](Self::new) with `policy` (provider limit, idle timeout, rotation grace).
    pub async fn with_policy(
        config: Config<T>,
        policy: TokenManagerPolicy,
        store: Arc<dyn InstallationStore>,
        keys: SealingKeys,
    ) -> Result<Self, Error> {
        let manager = Manager::with_policy(config, policy)?;
        let fleet = FleetManager {
            inner: Arc::new(FleetInner {
                manager,
                store,
                keys,
                random: OsRandom::new(),
                listening: AtomicBool::new(false),
                notices: AtomicU64::new(0),
                subscription: Mutex::new(None),
                failed_subscribe: Mutex::new(None),
            }),
        };
        fleet.subscribe().await;
        Ok(fleet)
    }

    /// Calls `hook` whenever refused new credentials make an installation fall back to its previous ones
    /// (see [`Manager::on_rotation_fallback`]).
    pub fn on_rotation_fallback(self, hook: impl Fn(&RotationFallback) + Send + Sync + 'static) -> Self {
        let _ = self.inner.manager.clone().on_rotation_fallback(hook);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn InstallationStore> {
        &self.inner.store
    }

    /// Whether change notices arrive now (else held records are checked every [`RECHECK_AFTER`]).
    pub fn is_listening(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
    }

    /// How many installations this replica holds in memory.
    pub fn installation_count(&self) -> usize {
        self.inner.manager.installation_count()
    }

    /// How many providers this replica keeps.
    pub fn provider_count(&self) -> usize {
        self.inner.manager.provider_count()
    }

    /// The policy.
    pub fn policy(&self) -> TokenManagerPolicy {
        self.inner.manager.policy()
    }

    /// A token for `account` with `scopes`: from memory when the installation is held and confirmed (no
    /// store round trip), else after reading its record from the store. The rest is [`Manager::token`]'s:
    /// cached, refreshed ahead of expiry, one request however many callers ask, the fallback to a routine
    /// rotation's previous credentials.
    ///
    /// Fails with [`Error::UnknownInstallation`] for an account the store has no active installation of
    /// (never installed, or uninstalled), and with [`Error::Store`] when the store cannot be read and the
    /// installation is not held.
    pub async fn token(&self, account: &Account, scopes: &Scopes) -> Result<Arc<TokenResponse>, Error> {
        match self.inner.manager.token_gated(account, scopes, self.gate()).await {
            Ok(token) => return Ok(token),
            Err(Gated::Failed(error)) => return Err(error),
            Err(Gated::Held(Admission::Refused)) => return Err(unknown(account)),
            Err(Gated::Held(Admission::Absent | Admission::Check)) => {}
        }
        self.refresh(account).await?;
        match self.inner.manager.token_gated(account, scopes, Gate::Serving).await {
            Ok(token) => Ok(token),
            Err(Gated::Failed(error)) => Err(error),
            Err(Gated::Held(_)) => Err(unknown(account)),
        }
    }

    /// Applies an AppConnect event once for the fleet (see [`Manager::apply`] for what each type does):
    ///
    /// - the event id is claimed in the store first: an event another replica handled is a
    ///   [`Lifecycle::Duplicate`]; one another replica is handling now is [`Error::EventInProgress`]
    ///   (answer 5xx: AppConnect redelivers later);
    /// - `app.installed`: the record is written (once per installation id);
    /// - `app.credentials_rotated`: the record's credentials rotate (the previous ones kept for the grace),
    ///   the new ones get a token, and then the rotation is acknowledged, unless the record says it was;
    ///   the acknowledgement is written into the record;
    /// - `app.uninstalled`: the record is marked uninstalling (no replica serves its tokens from then on),
    ///   the uninstall acknowledged with its credentials, then the credentials erased from the record;
    /// - other types: as [`Manager::apply`].
    ///
    /// A handled event is remembered for [`REMEMBER_EVENTS`]; one that failed (or whose acknowledgement
    /// failed) is released, so its redelivery is handled at once and finishes from the record's state.
    pub async fn apply(&self, event: Event) -> Result<Lifecycle, Error> {
        let id = event.id().to_owned();
        let done = self
            .once(&id, async {
                let result = self.apply_claimed(event).await;
                let handled = matches!(&result, Ok(lifecycle)
                    if !matches!(lifecycle, Lifecycle::Rotated { acknowledged: Err(_), .. }));
                (result, handled)
            })
            .await?;
        Ok(done.unwrap_or(Lifecycle::Duplicate { event_id: id }))
    }

    /// Runs `work` once for the fleet under the claim of `id`: `None` when a replica already did it, and
    /// [`Error::EventInProgress`] while one is doing it. `work` says whether it is done: done, the claim
    /// becomes a marker remembered for [`REMEMBER_EVENTS`]; not done, the claim is released, so that a
    /// redelivery tries again at once and finishes from the record's state.
    async fn once<R>(
        &self,
        id: &str,
        work: impl Future<Output = (Result<R, Error>, bool)>,
    ) -> Result<Option<R>, Error> {
        let holder = self.claim_holder()?;
        match self.inner.store.claim_event(id, &holder, EVENT_LEASE).await? {
            EventClaim::Done => return Ok(None),
            EventClaim::Busy => return Err(Error::EventInProgress { event_id: id.to_owned() }),
            EventClaim::Claimed => {}
        }
        let (result, done) = work.await;
        let settled = if done {
            self.inner.store.finish_event(id, REMEMBER_EVENTS).await
        } else {
            self.inner.store.release_event(id, &holder).await
        };
        if let Err(error) = settled {
            tracing::warn!(
                event_id = id,
                %error,
                "the event's claim could not be settled in the installation store; a redelivery finds the step's \
                 progress in the record"
            );
        }
        result.map(Some)
    }

    /// A name for one claim of an event, unique to it, so that a replica whose claim lapsed cannot release
    /// the claim another replica took since.
    fn claim_holder(&self) -> Result<String, Error> {
        Ok(td_oauth_core::random::random_token(&self.inner.random, 16)?)
    }

    /// Rotates an installation's credentials for the whole fleet: `credentials` become current in the record
    /// (every replica reads them before its next token). With [`RotationKind::Routine`] the previous ones stay
    /// for the grace, as `app.credentials_rotated` does through [`apply`](Self::apply); with
    /// [`RotationKind::Compromised`] the record keeps no previous set, and every replica drops the old
    /// credentials and their tokens. Nothing is acknowledged. Fails with [`Error::UnknownInstallation`] when
    /// the store has no active installation of the account.
    pub async fn rotate(&self, credentials: &InstallationCredentials, kind: RotationKind) -> Result<(), Error> {
        let account = credentials.account().clone();
        let grace = match kind {
            RotationKind::Routine => Some(self.inner.manager.policy().grace()),
            RotationKind::Compromised => None,
        };
        let wall = self.inner.manager.now().1;
        self.update(&account, |record| {
            let Some(mut record) = record.filter(|record| record.state == InstallationState::Active) else {
                return Err(unknown(&account));
            };
            if record.is_current(credentials) && (grace.is_some() || record.previous.is_none()) {
                return Ok(Step::Keep(()));
            }
            if record.is_current(credentials) {
                // Compromised, and already current: only the previous set goes.
                record.previous = None;
                record.updated_at_ms = unix_ms(wall);
            } else {
                record.rotate(credentials, grace, wall)?;
            }
            Ok(Step::Write(Box::new(record), ()))
        })
        .await
    }

    /// Approves or rejects the installation `event` announced, once for the fleet: when the record says a
    /// decision was taken, nothing is sent ([`Acknowledged::AlreadyDone`]); else the Apps API is called with
    /// the installation's own credentials and the decision written into the record.
    pub async fn decide_installation(
        &self,
        event: &Event,
        decision: InstallationDecision,
        reason: Option<&str>,
    ) -> Result<Acknowledged, Error> {
        let account = Account::new(event.account_name().ok_or_else(|| missing("data.account_name"))?)?;
        let decided = self
            .update(&account, |record| match record {
                Some(record) if record.state == InstallationState::Active => Ok(Step::Keep(record.decision.is_some())),
                _ => Err(unknown(&account)),
            })
            .await?;
        if decided {
            return Ok(Acknowledged::AlreadyDone);
        }
        let step = format!("decision:{}", event.installation_id().unwrap_or(account.as_str()));
        let done = self
            .once(&step, async {
                let acknowledged = match self.inner.manager.state_call(&account, event, decision, reason).await {
                    Ok(acknowledged) => acknowledged,
                    Err(error) => return (Err(error), false),
                };
                let wall = self.inner.manager.now().1;
                let written = self
                    .update(&account, |record| match record {
                        Some(mut record) if record.decision.is_none() => {
                            record.decision = Some(decision.as_str().to_owned());
                            record.updated_at_ms = unix_ms(wall);
                            Ok(Step::Write(Box::new(record), ()))
                        }
                        _ => Ok(Step::Keep(())),
                    })
                    .await;
                (written.map(|()| acknowledged), true)
            })
            .await?;
        Ok(done.unwrap_or(Acknowledged::AlreadyDone))
    }

    /// Every installation in the store, as the operator may see it: names, states, client and key ids, the
    /// sealing key's fingerprint; never a secret. Fails on a record this process cannot open (naming its
    /// key).
    pub async fn installations(&self) -> Result<Vec<InstallationSummary>, Error> {
        let mut summaries = Vec::new();
        for (key, stored) in self.inner.store.list().await? {
            if account_of(&key).is_none() {
                continue;
            }
            let (record, sealed_with) = Record::open(&stored.value, &self.inner.keys, &key)?;
            summaries.push(record.summary(stored.version, sealed_with));
        }
        Ok(summaries)
    }

    /// Reads every installation record of the store into memory, so that the first token of each needs no
    /// store round trip (at start, say; without it, each is read on first use). Returns how many
    /// installations are held now. A record this process cannot open fails it, naming its key.
    pub async fn preload(&self) -> Result<usize, Error> {
        let heard = self.inner.notices.load(Ordering::Acquire);
        for (key, stored) in self.inner.store.list().await? {
            if let Some(account) = account_of(&key) {
                self.hold(&account, &key, Some(&stored))?;
            }
        }
        if self.inner.notices.load(Ordering::Acquire) != heard {
            // Changes came while the list was read: each held record is read again on its next use.
            self.inner.manager.with_installations(|installations, _| installations.all_stale());
        }
        Ok(self.installation_count())
    }

    /// Seals again with the current key every record sealed with the previous one (after a rotation of the
    /// sealing key: then the previous key can be retired). Returns how many were re-sealed; a record written
    /// meanwhile by another replica is skipped (that write sealed it with the current key).
    pub async fn reseal(&self) -> Result<usize, Error> {
        let mut resealed = 0;
        for (key, stored) in self.inner.store.list().await? {
            if account_of(&key).is_none() {
                continue;
            }
            let (record, sealed_with) = Record::open(&stored.value, &self.inner.keys, &key)?;
            if sealed_with == self.inner.keys.current_id() {
                continue;
            }
            let sealed = record.seal(&self.inner.keys, &key, &self.inner.random)?;
            if let Put::Written { .. } = self.inner.store.put(&key, Some(stored.version), &sealed).await? {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    /// The gate a warm token passes: notices and a confirmation at most [`CONFIRM_EVERY`] old, or one at
    /// most [`RECHECK_AFTER`] old while there are no notices.
    fn gate(&self) -> Gate {
        if self.inner.listening.load(Ordering::Acquire) {
            Gate::Store { max_age: Some(CONFIRM_EVERY) }
        } else {
            Gate::Store { max_age: Some(RECHECK_AFTER) }
        }
    }

    async fn subscribe(&self) {
        let weak = Arc::downgrade(&self.inner);
        let sink: NoticeSink = Arc::new(move |notice| {
            if let Some(inner) = weak.upgrade() {
                inner.heard(notice);
            }
        });
        match self.inner.store.subscribe(sink).await {
            Ok(subscription) => {
                *self.inner.subscription.lock().unwrap_or_else(PoisonError::into_inner) = Some(subscription);
                *self.inner.failed_subscribe.lock().unwrap_or_else(PoisonError::into_inner) = None;
                // Whatever changed before now is read with each record.
                self.inner.listening.store(true, Ordering::Release);
            }
            Err(error) => {
                *self.inner.failed_subscribe.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                tracing::warn!(
                    %error,
                    "no change notices from the installation store; held installations are checked against it every \
                     second until they arrive"
                );
            }
        }
    }

    /// Tries to subscribe again when the last attempt failed long enough ago.
    async fn maybe_resubscribe(&self) {
        let due = {
            let mut failed = self.inner.failed_subscribe.lock().unwrap_or_else(PoisonError::into_inner);
            let due = failed.is_some_and(|at| at.elapsed() >= RESUBSCRIBE_EVERY);
            if due {
                // The next try is this caller's: the others wait for another interval, not each subscribe.
                *failed = Some(Instant::now());
            }
            due
        };
        if due {
            self.subscribe().await;
        }
    }

    /// Reads `account`'s record and puts it in memory. When the store cannot be read, an installation held
    /// and serving keeps being served (confirmed again after [`RECHECK_AFTER`]); else the store's error.
    async fn refresh(&self, account: &Account) -> Result<(), Error> {
        self.maybe_resubscribe().await;
        let key = store_key(account);
        let heard = self.inner.notices.load(Ordering::Acquire);
        let stored = match self.inner.store.get(&key).await {
            Ok(stored) => stored,
            Err(error) => {
                let serving = self.inner.manager.with_installations(|installations, now| {
                    let serving = installations.synced(account).map(|synced| synced.serving);
                    if serving == Some(true) {
                        installations.unconfirmed(account, now);
                    }
                    serving
                });
                return match serving {
                    Some(true) => {
                        tracing::warn!(
                            account = account.as_str(),
                            %error,
                            "the installation store cannot be read; serving the installation held in memory"
                        );
                        Ok(())
                    }
                    Some(false) => Err(unknown(account)),
                    None => Err(Error::Store(error)),
                };
            }
        };
        self.hold(account, &key, stored.as_ref())?;
        if let Some(stored) = stored
            && self.inner.notices.load(Ordering::Acquire) != heard
        {
            // A notice came while the record was read: it may be newer than what was read.
            self.inner.manager.with_installations(|installations, _| {
                installations.notice(account, stored.version.saturating_add(1));
            });
        }
        Ok(())
    }

    /// Puts what the store holds under `key` in memory: the installation, or its absence.
    fn hold(&self, account: &Account, key: &str, stored: Option<&Versioned>) -> Result<(), Error> {
        let Some(stored) = stored else {
            self.inner.manager.with_installations(|installations, _| installations.uninstall(account));
            return Ok(());
        };
        let unchanged = self.inner.manager.with_installations(|installations, now| {
            let held = installations.synced(account).is_some_and(|synced| synced.version == stored.version);
            if held {
                installations.confirmed(account, stored.version, now);
            }
            held
        });
        if unchanged {
            return Ok(());
        }
        let (record, _) = Record::open(&stored.value, &self.inner.keys, key)?;
        self.hold_record(account, &record, stored.version)
    }

    fn hold_record(&self, account: &Account, record: &Record, version: u64) -> Result<(), Error> {
        let current = match (record.state, record.current_credentials()?) {
            (InstallationState::Uninstalled, _) | (_, None) => {
                self.inner.manager.with_installations(|installations, _| {
                    if installations.synced(account).is_none_or(|synced| synced.version <= version) {
                        installations.uninstall(account);
                    }
                });
                return Ok(());
            }
            (_, Some(current)) => current,
        };
        let (now, wall) = self.inner.manager.now();
        let previous = record.previous_credentials(now, wall)?;
        let serving = record.state == InstallationState::Active;
        self.inner.manager.with_installations(|installations, now| {
            installations.apply_synced(SyncedInstallation { current, previous, version, serving }, now);
        });
        Ok(())
    }

    /// Reads `account`'s record, lets `change` decide, and writes what it decided with compare-and-set,
    /// reading again when another write came first. What was read or written is put in memory.
    async fn update<R>(
        &self,
        account: &Account,
        mut change: impl FnMut(Option<Record>) -> Result<Step<R>, Error>,
    ) -> Result<R, Error> {
        let key = store_key(account);
        let mut stored = self.inner.store.get(&key).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let record = match &stored {
                Some(stored) => Some(Record::open(&stored.value, &self.inner.keys, &key)?.0),
                None => None,
            };
            let expected = stored.as_ref().map(|stored| stored.version);
            match change(record.clone())? {
                Step::Keep(answer) => {
                    if let (Some(record), Some(version)) = (&record, expected) {
                        self.hold_record(account, record, version)?;
                    }
                    return Ok(answer);
                }
                Step::Write(new, answer) => {
                    let sealed = new.seal(&self.inner.keys, &key, &self.inner.random)?;
                    match self.inner.store.put(&key, expected, &sealed).await? {
                        Put::Written { version } => {
                            self.hold_record(account, &new, version)?;
                            return Ok(answer);
                        }
                        Put::Conflict { current } => stored = current,
                    }
                }
            }
        }
        Err(Error::Store(StoreError::Unavailable {
            location: "installation store".to_owned(),
            reason: format!(
                "the record of account `{account}` changed under {WRITE_ATTEMPTS} writes in a row; try again"
            ),
        }))
    }

    async fn apply_claimed(&self, event: Event) -> Result<Lifecycle, Error> {
        match event.payload() {
            EventPayload::Installed(credentials) => {
                self.install(credentials).await?;
                Ok(Lifecycle::Installed { account: credentials.account().clone() })
            }
            EventPayload::CredentialsRotated(credentials) => self.rotated(&event, credentials).await,
            EventPayload::Uninstalled { .. } => {
                let account = Account::new(event.account_name().ok_or_else(|| missing("data.account_name"))?)?;
                self.uninstalled(&event, account).await
            }
            // Nothing of the installation's: the in-process rules.
            _ => self.inner.manager.apply(event).await,
        }
    }

    /// Writes the installation of `credentials`, once per installation id: a record of the same
    /// installation, active, is kept as it is (a later rotation may have replaced its credentials).
    async fn install(&self, credentials: &InstallationCredentials) -> Result<(), Error> {
        let wall = self.inner.manager.now().1;
        self.update(credentials.account(), |record| match record {
            Some(record)
                if record.state == InstallationState::Active
                    && record.installation_id == credentials.installation_id() =>
            {
                Ok(Step::Keep(()))
            }
            _ => Ok(Step::Write(Box::new(Record::installed(credentials, wall)?), ())),
        })
        .await
    }

    async fn rotated(&self, event: &Event, credentials: &InstallationCredentials) -> Result<Lifecycle, Error> {
        let account = credentials.account().clone();
        let grace = self.inner.manager.policy().grace();
        let wall = self.inner.manager.now().1;
        let client_id = credentials.client_id().as_str().to_owned();
        let already_acknowledged = self
            .update(&account, |record| {
                let Some(mut record) = record.filter(|record| record.state == InstallationState::Active) else {
                    return Err(unknown(&account));
                };
                if record.is_current(credentials) {
                    let acknowledged = record.rotation_acknowledged.as_deref() == Some(client_id.as_str());
                    return Ok(Step::Keep(acknowledged));
                }
                record.rotate(credentials, Some(grace), wall)?;
                Ok(Step::Write(Box::new(record), false))
            })
            .await?;
        // Memory holds the record's credentials now.
        let acknowledged =
            self.inner.manager.confirm_rotation(event, &account, &client_id, !already_acknowledged).await?;
        if already_acknowledged || acknowledged.is_err() {
            return Ok(Lifecycle::Rotated { account, acknowledged });
        }
        let wall = self.inner.manager.now().1;
        let written = self
            .update(&account, |record| match record {
                Some(mut record)
                    if record.is_current(credentials)
                        && record.rotation_acknowledged.as_deref() != Some(client_id.as_str()) =>
                {
                    record.rotation_acknowledged = Some(client_id.clone());
                    record.updated_at_ms = unix_ms(wall);
                    Ok(Step::Write(Box::new(record), ()))
                }
                _ => Ok(Step::Keep(())),
            })
            .await;
        // Not recorded: the redelivery acknowledges again and hears 409, already done.
        let acknowledged = written.and(acknowledged);
        Ok(Lifecycle::Rotated { account, acknowledged })
    }

    async fn uninstalled(&self, event: &Event, account: Account) -> Result<Lifecycle, Error> {
        let wall = self.inner.manager.now().1;
        let state = self
            .update(&account, |record| match record {
                None => Err(unknown(&account)),
                Some(record) if record.state != InstallationState::Active => Ok(Step::Keep(record.state)),
                Some(mut record) => {
                    record.state = InstallationState::Uninstalling;
                    record.updated_at_ms = unix_ms(wall);
                    Ok(Step::Write(Box::new(record), InstallationState::Uninstalling))
                }
            })
            .await?;
        if state == InstallationState::Uninstalled {
            return Ok(Lifecycle::Uninstalled { account, acknowledged: Acknowledged::AlreadyDone, known: true });
        }
        // Held but not serving: its credentials acknowledge, then go.
        let acknowledged = self.inner.manager.state_call(&account, event, InstallationDecision::Approve, None).await?;
        let wall = self.inner.manager.now().1;
        self.update(&account, |record| match record {
            Some(mut record) if record.state == InstallationState::Uninstalling => {
                record.state = InstallationState::Uninstalled;
                record.current = None;
                record.previous = None;
                record.updated_at_ms = unix_ms(wall);
                Ok(Step::Write(Box::new(record), ()))
            }
            _ => Ok(Step::Keep(())),
        })
        .await?;
        Ok(Lifecycle::Uninstalled { account, acknowledged, known: true })
    }
}

impl<T: ManagerTransport> FleetInner<T> {
    /// A notice from the store's subscription (on the store's task: it only marks memory).
    fn heard(&self, notice: Notice) {
        self.notices.fetch_add(1, Ordering::AcqRel);
        match notice {
            Notice::Changed { key, version } => {
                if let Some(account) = account_of(&key) {
                    self.manager.with_installations(|installations, _| installations.notice(&account, version));
                }
            }
            Notice::Lost => {
                self.listening.store(false, Ordering::Release);
                tracing::warn!("change notices from the installation store lost; checking held installations by age");
            }
            Notice::Resumed => {
                // Changes made meanwhile were not told: read every held record again before it serves.
                self.manager.with_installations(|installations, _| installations.all_stale());
                self.listening.store(true, Ordering::Release);
            }
        }
    }
}
