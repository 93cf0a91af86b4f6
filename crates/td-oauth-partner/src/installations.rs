//! The token managers' bookkeeping, once for both transports: every installation's credential sets (a
//! [`Rotation`] each), a client per set made on first use, and the providers made over them, kept in
//! least-recently-used order.
//!
//! Generic over the transport's client `C` and provider `P`, which it only stores and clones: the transport
//! passes closures that build them, keeps an [`Installations`] behind its lock, and does the fetching, the
//! logging and the alerting itself. Time is passed in, as everywhere in this crate.
//!
//! Each credential set gets a serial number, unique in one [`Installations`]; a provider remembers the
//! serial of the set it was made over. That is what tells a provider of the new set from one of the old
//! set when a rotation keeps the client id (a new key for the same client), and what lets a refusal that
//! raced with a rotation be ignored.
//!
//! Layout, and what each operation costs (n installations, p providers kept):
//! - installations by account in a hash map of boxed records, so the table's spare slots cost a pointer
//!   each; the table shrinks when three quarters of it are empty;
//! - each credential set lists its own providers by scopes (usually one), as handles into one [`Lru`] of
//!   every provider; a provider's entry names its account and set, so evicting it finds its set directly;
//! - a warm lookup ([`Installations::active`]): one hash lookup by the borrowed account, a scan of that
//!   set's few providers, an O(1) move to the front of the LRU; nothing allocated, nothing cloned but the
//!   provider handed out;
//! - a new provider into a full map evicts the least recently used in O(1);
//! - install, rotate, uninstall touch that installation's providers only;
//! - a sweep pops the idle providers from the LRU's tail (O(evicted)) and checks the grace of the
//!   installations in a rotation only.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

use td_oauth_core::{Account, Scopes};

use crate::lru::{Handle, Lru};
use crate::rotation::{CredentialSet, Rotation};
use crate::{Error, InstallationCredentials, RotationFallback, RotationKind, TokenManagerPolicy};

/// How precisely a provider's last use is kept (see [`Lru`]): idle eviction is exact to a second.
const USE_RESOLUTION: Duration = Duration::from_secs(1);

/// Every installation of a partner app and the providers made for them: the state behind a transport's
/// `TokenManager`, with the rules of [`Rotation`] and [`TokenManagerPolicy`] applied (at most
/// [`max_providers`](TokenManagerPolicy::max_providers) providers kept, the least recently used and the idle
/// evicted).
///
/// `C` is the transport's client for one credential set (made on the set's first use, then cloned into each
/// of its providers, and dropped with its last provider); `P` is its token provider for one set and scope
/// set. Methods that return `Option` return `None` when the account has no installation: the transport
/// turns that into its own error.
///
pub(crate) struct Installations<C, P> {
    policy: TokenManagerPolicy,
    /// Boxed records: an empty slot of the table costs a pointer, not a record. foldhash, seeded per map:
    /// several times faster than SipHash on account names, and still not predictable from outside.
    installations: HashMap<Account, Box<Installation<C>>, RandomState>,
    providers: Lru<Kept<P>>,
    /// The accounts that keep a previous credential set: the only ones a sweep checks for an ended grace.
    rotating: HashSet<Account>,
    last_sweep: Instant,
    next_serial: u64,
}

/// One account's credentials, and a client and providers per credential set.
struct Installation<C> {
    rotation: Rotation,
    current: Set<C>,
    /// Present exactly while `rotation` keeps a previous set; boxed, as it is rare.
    previous: Option<Box<Set<C>>>,
    synced: Synced,
}

/// Where an installation held in memory stands against an installation store's record of it (for the
/// [`FleetManager`](crate::fleet::FleetManager); an in-process manager passes [`Gate::Open`] and never reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Synced {
    /// The record's version this installation was read from (0: not from a store).
    pub version: u64,
    /// When the store last confirmed that version.
    pub checked: Instant,
    /// A change notice named a newer version: check the store before serving.
    pub stale: bool,
    /// Whether tokens may be handed out (not while an uninstall is being acknowledged).
    pub serving: bool,
}

/// What a lookup checks of an installation's [`Synced`] state before it serves from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Nothing: the installation lives in this process only.
    Open,
    /// Refuse an installation that does not serve; send one that is stale, or (with `max_age`) whose record
    /// was last confirmed longer ago than that, back to the store first.
    Store {
        /// How old a confirmation may be; `None` while change notices arrive.
        max_age: Option<Duration>,
    },
    /// Refuse an installation that does not serve, whatever its age (just checked, or the store is down).
    Serving,
}

/// Why a gated lookup did not serve from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The account is not held.
    Absent,
    /// Held, but to be checked against the store first.
    Check,
    /// Held, and not serving (its uninstall is under way).
    Refused,
}

/// An installation as a store's record holds it, to put in memory with [`Installations::apply_synced`].
pub(crate) struct SyncedInstallation {
    pub current: InstallationCredentials,
    /// The previous credentials and the end of their grace (`None`: no end an `Instant` can hold).
    pub previous: Option<(InstallationCredentials, Option<Instant>)>,
    pub version: u64,
    pub serving: bool,
}

/// A credential set's serial, its client and its providers.
struct Set<C> {
    serial: u64,
    /// Made on the set's first use; dropped with its last provider.
    client: Option<C>,
    /// The set's providers by scopes, as handles into the [`Lru`]; a scan, as there are one or two.
    providers: Vec<(Scopes, Handle)>,
}

/// A provider in the [`Lru`], with what finds its set again when it is evicted.
struct Kept<P> {
    account: Account,
    serial: u64,
    provider: P,
}

/// What to do after an installation's provider failed, from [`Installations::after_failure`].
#[derive(Debug)]
pub(crate) struct Fallback<P> {
    /// The fallback to report (to the application's hook), when one began.
    pub report: Option<RotationFallback>,
    /// The provider to try once more, if any.
    pub retry: Option<P>,
}

/// The provider to fetch with, from [`Installations::active`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActiveProvider<P> {
    /// The provider of the active credential set for the scopes asked for.
    pub provider: P,
    /// Which credential set is active.
    pub which: CredentialSet,
    /// The set's serial: pass it to [`Installations::refused`] if the endpoint refuses the set.
    pub serial: u64,
}

impl<C, P> fmt::Debug for Installations<C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: clients and providers carry credentials and tokens.
        f.debug_struct("Installations")
            .field("installations", &self.installations.len())
            .field("providers", &self.providers.len())
            .finish_non_exhaustive()
    }
}

impl<C: Clone, P: Clone> Installations<C, P> {
    /// No installation yet, following `policy`; `now` starts the clock of [`maybe_sweep`](Self::maybe_sweep).
    pub(crate) fn new(policy: TokenManagerPolicy, now: Instant) -> Self {
        Installations {
            installations: HashMap::default(),
            providers: Lru::new(USE_RESOLUTION),
            rotating: HashSet::new(),
            policy,
            last_sweep: now,
            next_serial: 0,
        }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> &TokenManagerPolicy {
        &self.policy
    }

    /// Adds an installation (from `app.installed`). An installation of the same account is replaced at once,
    /// without grace, and its providers dropped.
    pub(crate) fn install(&mut self, mut credentials: InstallationCredentials) {
        credentials.forget_key_text();
        let account = credentials.account().clone();
        let serial = self.serial();
        let synced = Synced { version: 0, checked: self.last_sweep, stale: false, serving: true };
        let installation = Box::new(Installation {
            rotation: Rotation::new(credentials),
            current: Set::new(serial),
            previous: None,
            synced,
        });
        let client_id = installation.rotation.current().client_id().as_str().to_owned();
        let replaced = self.installations.insert(account.clone(), installation);
        self.rotating.remove(&account);
        let was_installed = replaced.is_some();
        let providers_dropped = replaced.map_or(0, |mut old| {
            let mut dropped = drop_providers(&mut self.providers, &mut old.current);
            if let Some(previous) = old.previous.as_deref_mut() {
                dropped += drop_providers(&mut self.providers, previous);
            }
            dropped
        });
        tracing::info!(
            account = account.as_str(),
            client_id = client_id.as_str(),
            replaced = was_installed,
            providers_dropped,
            "installation added"
        );
    }

    /// Rotates an installation's credentials at `now` (see [`Rotation::rotate`]): `credentials` become
    /// current at once; the previous set stays as a fallback after a [`RotationKind::Routine`] rotation.
    /// Drops the providers of every set no longer kept and returns how many.
    ///
    /// `None` when the account has no installation. Fails, changing nothing, if [`Rotation::rotate`] does.
    pub(crate) fn rotate(
        &mut self,
        credentials: InstallationCredentials,
        kind: RotationKind,
        now: Instant,
    ) -> Option<Result<usize, Error>> {
        let mut credentials = credentials;
        credentials.forget_key_text();
        let account = credentials.account().clone();
        let serial = self.serial();
        let installation = self.installations.get_mut(&account)?;
        if let Err(error) = installation.rotation.rotate(credentials, kind, now, &self.policy) {
            return Some(Err(error));
        }
        let mut replaced = std::mem::replace(&mut installation.current, Set::new(serial));
        let mut dropped = match installation.previous.take() {
            Some(mut older) => drop_providers(&mut self.providers, &mut older),
            None => 0,
        };
        if kind == RotationKind::Routine && installation.rotation.previous().is_some() {
            installation.previous = Some(Box::new(replaced));
            self.rotating.insert(account.clone());
        } else {
            dropped += drop_providers(&mut self.providers, &mut replaced);
            self.rotating.remove(&account);
        }
        tracing::info!(
            account = account.as_str(),
            client_id = installation.rotation.current().client_id().as_str(),
            ?kind,
            providers_dropped = dropped,
            "installation credentials rotated"
        );
        Some(Ok(dropped))
    }

    /// The current credentials of `account`'s installation, if it is known.
    pub(crate) fn current(&self, account: &Account) -> Option<&InstallationCredentials> {
        self.installations.get(account).map(|installation| installation.rotation.current())
    }

    /// Forgets an installation (the app was uninstalled) and drops its providers. Returns whether it was
    /// known.
    pub(crate) fn uninstall(&mut self, account: &Account) -> bool {
        let Some(mut installation) = self.installations.remove(account) else { return false };
        self.rotating.remove(account);
        drop_providers(&mut self.providers, &mut installation.current);
        if let Some(previous) = installation.previous.as_deref_mut() {
            drop_providers(&mut self.providers, previous);
        }
        self.shrink();
        true
    }

    /// The provider of the credential set active at `now` for `account` and `scopes`: the kept one, or a new
    /// one made with `make_provider` over the set's client (made with `make_client` on the set's first
    /// use, then reused), kept from then on. Marks the provider used at `now`. When the map is full, the
    /// least recently used provider makes room.
    ///
    /// `None` when the account has no installation; `Some(Err(..))` when `make_client` fails (nothing is
    /// kept, and the next call tries again).
    pub(crate) fn active<E>(
        &mut self,
        account: &Account,
        scopes: &Scopes,
        now: Instant,
        make_client: impl FnOnce(&InstallationCredentials) -> Result<C, E>,
        make_provider: impl FnOnce(C, Scopes) -> P,
    ) -> Option<Result<ActiveProvider<P>, E>> {
        let (kept, which, serial) = self.lookup(account, scopes, now)?;
        if let Some(provider) = kept {
            return Some(Ok(ActiveProvider { provider: provider.clone(), which, serial }));
        }
        // A new provider: make room first, as the least recently used may be this installation's.
        if self.providers.len() >= self.policy.max_providers() {
            self.evict_least_recent();
        }
        let Installation { rotation, current, previous, .. } = &mut **self.installations.get_mut(account)?;
        let (credentials, _) = rotation.active(now);
        let set = match (which, previous.as_deref_mut()) {
            (CredentialSet::Previous, Some(previous)) => previous,
            _ => current,
        };
        let client = match &set.client {
            Some(client) => client.clone(),
            None => match make_client(credentials) {
                Ok(client) => client,
                Err(error) => return Some(Err(error)),
            },
        };
        let provider = make_provider(client.clone(), scopes.clone());
        let handle = self.providers.insert(Kept { account: account.clone(), serial, provider: provider.clone() }, now);
        set.client = Some(client);
        set.providers.retain(|(kept, _)| kept != scopes);
        set.providers.push((scopes.clone(), handle));
        Some(Ok(ActiveProvider { provider, which, serial }))
    }

    /// The kept provider of the credential set active at `now` for `account` and `scopes`, marked used at
    /// `now`, if `gate` admits the installation: `Ok(None)` when no such provider is kept, `Err` when the
    /// installation is not held or not to be served from memory now. Borrowed: the warm path of a manager
    /// asks it for a fresh token without cloning it.
    pub(crate) fn kept_gated(
        &mut self,
        account: &Account,
        scopes: &Scopes,
        now: Instant,
        gate: Gate,
    ) -> Result<Option<&P>, Admission> {
        self.lookup_gated(account, scopes, now, gate).map(|(kept, _, _)| kept)
    }

    /// The active set's kept provider (if any), which set it is and its serial, after dropping a previous
    /// set whose grace has ended.
    fn lookup(&mut self, account: &Account, scopes: &Scopes, now: Instant) -> Option<(Option<&P>, CredentialSet, u64)> {
        self.lookup_gated(account, scopes, now, Gate::Open).ok()
    }

    /// [`lookup`](Self::lookup) behind `gate`, with one hash lookup.
    fn lookup_gated(
        &mut self,
        account: &Account,
        scopes: &Scopes,
        now: Instant,
        gate: Gate,
    ) -> Result<(Option<&P>, CredentialSet, u64), Admission> {
        let installation = self.installations.get_mut(account).ok_or(Admission::Absent)?;
        match gate {
            Gate::Open => {}
            Gate::Store { max_age } => {
                // Checked first: a newer record may serve again (a reinstall after an uninstall).
                let old = max_age.is_some_and(|age| now.saturating_duration_since(installation.synced.checked) >= age);
                if installation.synced.stale || old {
                    return Err(Admission::Check);
                }
                if !installation.synced.serving {
                    return Err(Admission::Refused);
                }
            }
            Gate::Serving if !installation.synced.serving => return Err(Admission::Refused),
            Gate::Serving => {}
        }
        if installation.rotation.expire(now).is_some() {
            if let Some(mut previous) = installation.previous.take() {
                drop_providers(&mut self.providers, &mut previous);
            }
            self.rotating.remove(account);
        }
        let (_, which) = installation.rotation.active(now);
        let set = installation.set(which);
        let serial = set.serial;
        let kept = set.provider(scopes).and_then(|handle| self.providers.touch(handle, now));
        Ok((kept.map(|kept| &kept.provider), which, serial))
    }

    /// The [`Synced`] state of `account`'s installation, if it is held.
    pub(crate) fn synced(&self, account: &Account) -> Option<Synced> {
        self.installations.get(account).map(|installation| installation.synced)
    }

    /// The store confirmed `version` of `account`'s record at `now`.
    pub(crate) fn confirmed(&mut self, account: &Account, version: u64, now: Instant) {
        if let Some(installation) = self.installations.get_mut(account)
            && installation.synced.version == version
        {
            installation.synced.checked = now;
            installation.synced.stale = false;
        }
    }

    /// The store could not be asked about `account` at `now`: keep serving what is held, and ask again
    /// after the gate's `max_age`.
    pub(crate) fn unconfirmed(&mut self, account: &Account, now: Instant) {
        if let Some(installation) = self.installations.get_mut(account) {
            installation.synced.checked = now;
        }
    }

    /// A change notice: `account`'s record was written with `version`. A held older version is checked
    /// against the store before it serves again.
    pub(crate) fn notice(&mut self, account: &Account, version: u64) {
        if let Some(installation) = self.installations.get_mut(account)
            && installation.synced.version < version
        {
            installation.synced.stale = true;
        }
    }

    /// Notices may have been missed: every installation held is checked against the store before it
    /// serves again.
    pub(crate) fn all_stale(&mut self) {
        for installation in self.installations.values_mut() {
            installation.synced.stale = true;
        }
    }

    /// Puts a store's record of `account` in memory at `now`, unless a newer version is held. What did not
    /// change keeps its providers: the same sets (a new version for a lifecycle step) keep everything; a
    /// rotation from the held current set keeps that set's providers as the previous set's; anything else
    /// replaces the installation.
    pub(crate) fn apply_synced(&mut self, record: SyncedInstallation, now: Instant) {
        let SyncedInstallation { current, previous, version, serving } = record;
        let account = current.account().clone();
        let synced = Synced { version, checked: now, stale: false, serving };
        if let Some(held) = self.installations.get_mut(&account) {
            if held.synced.version > version {
                return;
            }
            let same_previous = match (held.rotation.previous(), &previous) {
                (None, None) => true,
                (Some(held), Some((stored, _))) => held.same_set(stored),
                _ => false,
            };
            if held.rotation.current().same_set(&current) && same_previous {
                held.synced = synced;
                return;
            }
            let rotated_from_held =
                previous.as_ref().is_some_and(|(stored, _)| held.rotation.current().same_set(stored));
            if rotated_from_held && matches!(self.rotate(current.clone(), RotationKind::Routine, now), Some(Ok(_))) {
                if let Some(held) = self.installations.get_mut(&account) {
                    held.rotation.set_grace_until(previous.as_ref().and_then(|(_, until)| *until));
                    held.synced = synced;
                }
                return;
            }
        }
        self.install(current);
        let serial = self.serial();
        if let Some(held) = self.installations.get_mut(&account) {
            held.synced = synced;
            if let Some((mut stored, grace_until)) = previous {
                stored.forget_key_text();
                held.rotation.restore_previous(stored, grace_until);
                held.previous = Some(Box::new(Set::new(serial)));
                self.rotating.insert(account);
            }
        }
    }

    /// Records that the token endpoint refused the set numbered `serial` of `account` with `invalid_client`
    /// at `now`. Only when that set is still the current one (a rotation may have come since the provider
    /// was handed out) does this go to [`Rotation::refused`], whose fallback report it returns.
    pub(crate) fn refused(&mut self, account: &Account, serial: u64, now: Instant) -> Option<RotationFallback> {
        let installation = self.installations.get_mut(account)?;
        if installation.current.serial != serial {
            return None;
        }
        installation.rotation.refused(CredentialSet::Current, now, &self.policy)
    }

    /// The manager's fallback decision: the provider `failed` (of `account` and `scopes`) could not get a
    /// token, with `error`, at `now`. When that was the current credential set refused with
    /// `invalid_client` and a routine rotation's previous set is within its grace, the previous set becomes
    /// active ([`Rotation::refused`]; reported once, and logged as a warning) and its provider is returned for
    /// one more try. In every other case (another error, the previous set refused, no previous set, a
    /// rotation that came since) there is no retry: return `error`.
    // Seven inputs of which two are the transport's constructors; a struct to bundle them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn after_failure<E>(
        &mut self,
        account: &Account,
        scopes: &Scopes,
        failed: &ActiveProvider<P>,
        error: &Error,
        now: Instant,
        make_client: impl FnOnce(&InstallationCredentials) -> Result<C, E>,
        make_provider: impl FnOnce(C, Scopes) -> P,
    ) -> Fallback<P> {
        if failed.which != CredentialSet::Current
            || !error.oauth().is_some_and(td_oauth_core::OAuthError::is_invalid_client)
        {
            return Fallback { report: None, retry: None };
        }
        let report = self.refused(account, failed.serial, now);
        if let Some(report) = &report {
            tracing::warn!(
                account = report.account().as_str(),
                new_client_id = report.new_client_id().as_str(),
                old_client_id = report.old_client_id().as_str(),
                grace_remaining_secs = report.grace_remaining().as_secs(),
                "rotated credentials refused with invalid_client; using the previous ones"
            );
        }
        let retry = match self.active(account, scopes, now, make_client, make_provider) {
            // Another set is active now (the previous one, or a newer rotation): one try with it.
            Some(Ok(next)) if next.serial != failed.serial => Some(next.provider),
            _ => None,
        };
        Fallback { report, retry }
    }

    /// Drops the providers idle for the policy's idle timeout at `now`, and the previous credential sets
    /// whose grace has ended with their providers; returns how many providers went.
    pub(crate) fn sweep(&mut self, now: Instant) -> usize {
        self.last_sweep = now;
        let mut evicted = 0;
        while let Some((handle, kept)) = self.providers.pop_idle(now, self.policy.idle_timeout()) {
            self.forget(handle, &kept);
            evicted += 1;
        }
        let installations = &mut self.installations;
        let providers = &mut self.providers;
        self.rotating.retain(|account| {
            let Some(installation) = installations.get_mut(account) else { return false };
            if installation.rotation.expire(now).is_none() && installation.rotation.previous().is_some() {
                return true;
            }
            if let Some(mut previous) = installation.previous.take() {
                evicted += drop_providers(providers, &mut previous);
            }
            false
        });
        if evicted > 0 {
            tracing::debug!(evicted, remaining = self.providers.len(), "idle token providers dropped");
            self.shrink();
        }
        evicted
    }

    /// [`sweep`](Self::sweep)s if a quarter of the idle timeout has passed since the last sweep, so that a
    /// caller may call this on every lookup; returns how many providers went (0 when it did not sweep).
    pub(crate) fn maybe_sweep(&mut self, now: Instant) -> usize {
        if now.saturating_duration_since(self.last_sweep) >= self.policy.idle_timeout() / 4 {
            return self.sweep(now);
        }
        0
    }

    /// How many providers are kept (one per installation, credential set and scopes in use).
    pub(crate) fn provider_count(&self) -> usize {
        self.providers.len()
    }

    /// How many installations are known.
    pub(crate) fn installation_count(&self) -> usize {
        self.installations.len()
    }

    fn serial(&mut self) -> u64 {
        self.next_serial = self.next_serial.wrapping_add(1);
        self.next_serial
    }

    /// Drops the least recently used provider to make room for a new one.
    fn evict_least_recent(&mut self) {
        if let Some((handle, kept)) = self.providers.pop_least_recent() {
            tracing::debug!(
                account = kept.account.as_str(),
                "token provider limit reached; least recently used dropped"
            );
            self.forget(handle, &kept);
        }
    }

    /// Removes an evicted provider from its set; the set's client goes with its last provider.
    fn forget(&mut self, handle: Handle, kept: &Kept<P>) {
        let Some(installation) = self.installations.get_mut(&kept.account) else { return };
        let set = match installation.previous.as_deref_mut() {
            Some(previous) if previous.serial == kept.serial => previous,
            _ if installation.current.serial == kept.serial => &mut installation.current,
            _ => return,
        };
        set.providers.retain(|(_, kept)| *kept != handle);
        if set.providers.is_empty() {
            set.client = None;
        }
    }

    /// Gives memory back after mass uninstalls and evictions: the tables shrink once three quarters of them
    /// are empty, so that this is O(1) amortized.
    fn shrink(&mut self) {
        shrink_map(&mut self.installations);
        let mut moves = HashMap::new();
        self.providers.compact(|old, new, _| {
            moves.insert(old, new);
        });
        if !moves.is_empty() {
            for installation in self.installations.values_mut() {
                let previous = installation.previous.as_deref_mut();
                for set in std::iter::once(&mut installation.current).chain(previous) {
                    for (_, handle) in &mut set.providers {
                        if let Some(new) = moves.get(handle) {
                            *handle = *new;
                        }
                    }
                }
            }
        }
    }
}

impl<C> Installation<C> {
    /// The set `which` names (the current one when there is no previous set).
    fn set(&mut self, which: CredentialSet) -> &mut Set<C> {
        match (which, self.previous.as_deref_mut()) {
            (CredentialSet::Previous, Some(previous)) => previous,
            _ => &mut self.current,
        }
    }
}

impl<C> Set<C> {
    fn new(serial: u64) -> Self {
        Set { serial, client: None, providers: Vec::new() }
    }

    /// The handle of the set's provider for `scopes`.
    fn provider(&self, scopes: &Scopes) -> Option<Handle> {
        self.providers.iter().find(|(kept, _)| kept == scopes).map(|(_, handle)| *handle)
    }
}

/// Removes every provider of `set` from `providers`, and its client; returns how many went.
fn drop_providers<C, P>(providers: &mut Lru<Kept<P>>, set: &mut Set<C>) -> usize {
    set.client = None;
    set.providers.drain(..).filter(|(_, handle)| providers.remove(*handle).is_some()).count()
}

/// Shrinks `map` to twice its length when three quarters of its capacity are unused.
fn shrink_map<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len().saturating_mul(2));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rotation::tests::creds;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn account(name: &str) -> Account {
        name.parse().unwrap()
    }

    fn scopes(text: &str) -> Scopes {
        text.parse().unwrap()
    }

    /// A client is its client id and a build number (to see when one is made); a provider is the client it
    /// was made over and its scopes.
    type Client = (String, usize);
    type Provider = (Client, String);

    struct Manager {
        state: Installations<Client, Provider>,
        clients_made: usize,
    }

    impl Manager {
        fn new(policy: TokenManagerPolicy, t: Instant) -> Self {
            Manager { state: Installations::new(policy, t), clients_made: 0 }
        }

        fn active(&mut self, name: &str, scope: &str, now: Instant) -> Option<ActiveProvider<Provider>> {
            let made = &mut self.clients_made;
            let make_client = |credentials: &InstallationCredentials| {
                *made += 1;
                Ok::<_, ()>((credentials.client_id().to_string(), *made))
            };
            let make_provider = |client: Client, scopes: Scopes| (client, scopes.to_string());
            self.state.active(&account(name), &scopes(scope), now, make_client, make_provider).map(|r| r.unwrap())
        }

        /// The client id of the active provider.
        fn client(&mut self, name: &str, scope: &str, now: Instant) -> String {
            self.active(name, scope, now).unwrap().provider.0.0
        }

        fn rotate(&mut self, name: &str, client: &str, kind: RotationKind, now: Instant) -> usize {
            self.state.rotate(creds(name, client), kind, now).unwrap().unwrap()
        }
    }

    #[test]
    fn providers_are_made_on_first_use_and_share_the_set_client() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        assert_eq!(m.state.installation_count(), 1);
        assert!(m.state.provider_count() == 0);

        let first = m.active("acme", "users:read", t).unwrap();
        assert_eq!(
            (first.provider.clone(), first.which),
            ((("c1".into(), 1), "users:read".into()), CredentialSet::Current)
        );
        assert_eq!(m.active("acme", "users:read", t + secs(1)), Some(first.clone()));
        // Another scope set: another provider over the same client.
        let other = m.active("acme", "users:write", t + secs(2)).unwrap();
        assert_eq!((other.provider.0.1, other.serial), (1, first.serial));
        assert_eq!((m.state.provider_count(), m.clients_made), (2, 1));
    }

    #[test]
    fn unknown_accounts_are_none() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        assert_eq!(m.active("acme", "users:read", t), None);
        assert!(m.state.rotate(creds("acme", "c2"), RotationKind::Routine, t).is_none());
        assert_eq!(m.state.refused(&account("acme"), 1, t), None);
        assert!(!m.state.uninstall(&account("acme")));

        m.state.install(creds("acme", "c1"));
        m.active("acme", "users:read", t).unwrap();
        assert!(m.state.uninstall(&account("acme")));
        assert_eq!((m.state.provider_count(), m.state.installation_count()), (0, 0));
        assert_eq!(m.active("acme", "users:read", t), None);
    }

    #[test]
    fn a_failing_client_keeps_nothing_and_is_tried_again() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default();
        let mut state: Installations<u8, u8> = Installations::new(policy.clone(), t);
        state.install(creds("acme", "c1"));
        let failed = state.active(&account("acme"), &scopes("a"), t, |_| Err("no TLS roots"), |c, _| c);
        assert_eq!(failed, Some(Err("no TLS roots")));
        assert!(state.provider_count() == 0);
        let made = state.active(&account("acme"), &scopes("a"), t, |_| Ok::<_, &str>(7), |c, _| c + 1);
        assert_eq!(made.unwrap().unwrap().provider, 8);
    }

    #[test]
    fn reinstalling_replaces_the_installation_and_its_providers() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        m.state.install(creds("other", "o1"));
        m.active("acme", "a", t);
        m.active("acme", "b", t);
        m.active("other", "a", t);
        assert_eq!(m.state.provider_count(), 3);
        m.state.install(creds("acme", "c2"));
        assert_eq!(m.state.provider_count(), 1, "the replaced installation's two providers went");
        assert_eq!(m.state.installation_count(), 2);
        assert_eq!(m.client("acme", "a", t), "c2");
    }

    #[test]
    fn a_routine_rotation_keeps_the_previous_providers_and_a_second_drops_the_oldest() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        assert_eq!(m.rotate("acme", "c2", RotationKind::Routine, t), 0);
        assert_eq!(m.client("acme", "a", t), "c2");
        assert_eq!(m.state.provider_count(), 2);
        // The set before the previous one goes, with its provider.
        assert_eq!(m.rotate("acme", "c3", RotationKind::Routine, t + secs(1)), 1);
        assert_eq!(m.state.provider_count(), 1);
        assert_eq!(m.client("acme", "a", t + secs(1)), "c3");
        assert_eq!(m.clients_made, 3);
    }

    #[test]
    fn a_compromised_rotation_drops_the_old_providers_at_once() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        m.active("acme", "b", t);
        assert_eq!(m.rotate("acme", "c2", RotationKind::Compromised, t), 2);
        assert!(m.state.provider_count() == 0);
        let active = m.active("acme", "a", t).unwrap();
        // Nothing to fall back to.
        assert_eq!(m.state.refused(&account("acme"), active.serial, t), None);
        assert_eq!(m.client("acme", "a", t), "c2");
    }

    #[test]
    fn a_rotation_to_the_same_client_id_gets_new_providers() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        let before = m.active("acme", "a", t).unwrap();
        m.rotate("acme", "c1", RotationKind::Routine, t);
        let after = m.active("acme", "a", t).unwrap();
        assert_ne!(after.serial, before.serial);
        assert_eq!(after.provider.0, ("c1".to_owned(), 2));
    }

    #[test]
    fn refused_current_credentials_fall_back_and_a_stale_serial_changes_nothing() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.install(creds("acme", "c1"));
        let old = m.active("acme", "a", t).unwrap();
        m.rotate("acme", "c2", RotationKind::Routine, t);
        let new = m.active("acme", "a", t).unwrap();

        // The old set's serial is not current: a refusal of it is no reason to fall back.
        assert_eq!(m.state.refused(&account("acme"), old.serial, t), None);
        let report = m.state.refused(&account("acme"), new.serial, t + secs(1)).unwrap();
        assert_eq!((report.new_client_id().as_str(), report.old_client_id().as_str()), ("c2", "c1"));
        // The previous set's provider, kept since before the rotation.
        assert_eq!(m.active("acme", "a", t + secs(2)), Some(ActiveProvider { which: CredentialSet::Previous, ..old }));
        // After retry_rotated_after, the new set again.
        assert_eq!(m.active("acme", "a", t + secs(61)), Some(new.clone()));

        // A rotation after the provider was handed out: its refusal no longer counts.
        m.rotate("acme", "c3", RotationKind::Routine, t + secs(62));
        assert_eq!(m.state.refused(&account("acme"), new.serial, t + secs(63)), None);
        assert_eq!(m.client("acme", "a", t + secs(63)), "c3");
    }

    #[test]
    fn sweeps_drop_idle_providers() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_idle_timeout(secs(100)).unwrap();
        let mut m = Manager::new(policy.clone(), t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        m.active("acme", "b", t);
        m.active("acme", "b", t + secs(60));
        assert_eq!(m.state.sweep(t + secs(99)), 0);
        assert_eq!(m.state.sweep(t + secs(100)), 1);
        assert_eq!(m.state.provider_count(), 1);
        assert_eq!(m.state.sweep(t + secs(160)), 1);
        assert!(m.state.provider_count() == 0);
        // Made again on the next use, with a new client: a set's client went with its last provider.
        m.active("acme", "a", t + secs(161));
        assert_eq!((m.state.provider_count(), m.clients_made), (1, 2));
    }

    #[test]
    fn sweeps_drop_the_previous_set_when_its_grace_ends() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_grace(secs(50));
        let mut m = Manager::new(policy.clone(), t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        m.rotate("acme", "c2", RotationKind::Routine, t + secs(1));
        m.active("acme", "a", t + secs(1));
        assert_eq!(m.state.sweep(t + secs(50)), 0);
        assert_eq!(m.state.provider_count(), 2);
        // The grace ends at 51 s: the old set's provider goes, though it is not idle.
        assert_eq!(m.state.sweep(t + secs(51)), 1);
        assert_eq!(m.client("acme", "a", t + secs(52)), "c2");
        assert_eq!(m.state.provider_count(), 1);
    }

    #[test]
    fn lazy_sweeps_run_at_most_every_quarter_of_the_idle_timeout() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_idle_timeout(secs(100)).unwrap();
        let mut m = Manager::new(policy.clone(), t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        m.active("acme", "b", t + secs(90));
        // Due (25 s after the start), but nothing idle yet.
        assert_eq!(m.state.maybe_sweep(t + secs(99)), 0);
        // "a" is idle now, but the last sweep was 21 s ago.
        assert_eq!(m.state.maybe_sweep(t + secs(120)), 0);
        assert_eq!(m.state.provider_count(), 2);
        assert_eq!(m.state.maybe_sweep(t + secs(124)), 1);
        assert_eq!(m.state.provider_count(), 1);
    }

    #[test]
    fn at_most_the_policy_limit_of_providers_is_kept() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_max_providers(2).unwrap();
        let mut m = Manager::new(policy, t);
        m.state.install(creds("acme", "c1"));
        m.active("acme", "a", t);
        m.active("acme", "b", t + secs(1));
        m.active("acme", "a", t + secs(2));
        m.active("acme", "c", t + secs(3));
        assert_eq!(m.state.provider_count(), 2);
        // "b" was the least recently used and went; made again (evicting "a"), over the same client.
        m.active("acme", "b", t + secs(4));
        assert_eq!((m.state.provider_count(), m.clients_made), (2, 1));
        assert!(format!("{:?}", m.state).contains("providers: 2"));
    }

    #[test]
    fn mass_uninstalls_give_memory_back_and_the_rest_stay_warm() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        let names: Vec<String> = (0..1000).map(|i| format!("acct{i}")).collect();
        for name in &names {
            m.state.install(creds(name, "c"));
            m.active(name, "a", t);
        }
        let kept: Vec<ActiveProvider<Provider>> =
            names[990..].iter().map(|name| m.active(name, "a", t).unwrap()).collect();
        for name in &names[..990] {
            assert!(m.state.uninstall(&account(name)));
        }
        assert_eq!((m.state.installation_count(), m.state.provider_count()), (10, 10));
        assert!(m.state.installations.capacity() < 100, "table of {}", m.state.installations.capacity());
        assert!(m.state.providers.slab_capacity() < 100, "slab of {}", m.state.providers.slab_capacity());
        // Their providers survived the compaction: the same ones, no client made again.
        for (name, before) in names[990..].iter().zip(kept) {
            assert_eq!(m.active(name, "a", t + secs(1)), Some(before));
        }
        assert_eq!(m.clients_made, 1000);
    }

    #[test]
    fn a_full_map_evicts_across_installations_and_only_the_evicted_set_loses_its_client() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_max_providers(3).unwrap();
        let mut m = Manager::new(policy, t);
        for name in ["a", "b", "c", "d"] {
            m.state.install(creds(name, name));
        }
        m.active("a", "x", t);
        m.active("b", "x", t + secs(1));
        m.active("c", "x", t + secs(2));
        m.active("a", "x", t + secs(3));
        // "b" is the least recently used: it goes, with its client.
        m.active("d", "x", t + secs(4));
        assert_eq!((m.state.provider_count(), m.clients_made), (3, 4));
        assert!(m.state.installations[&account("b")].current.client.is_none());
        assert!(m.state.installations[&account("a")].current.client.is_some());
        m.active("b", "x", t + secs(5));
        assert_eq!(m.clients_made, 5, "b's client made again");
    }

    fn synced(current: &str, previous: Option<&str>, version: u64, serving: bool, t: Instant) -> SyncedInstallation {
        SyncedInstallation {
            current: creds("acme", current),
            previous: previous.map(|client| (creds("acme", client), Some(t + secs(100)))),
            version,
            serving,
        }
    }

    #[test]
    fn records_from_a_store_keep_what_did_not_change_and_never_go_back_a_version() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.apply_synced(synced("c1", None, 1, true, t), t);
        let first = m.active("acme", "a", t).unwrap();
        // A new version of the same sets (a lifecycle step recorded): the provider stays.
        m.state.apply_synced(synced("c1", None, 2, true, t), t);
        assert_eq!(m.active("acme", "a", t), Some(first.clone()));
        // A rotation from the held set: the old provider stays as the previous set's, for the record's grace.
        m.state.apply_synced(synced("c2", Some("c1"), 3, true, t), t);
        assert_eq!(m.client("acme", "a", t), "c2");
        assert_eq!((m.state.provider_count(), m.clients_made), (2, 2));
        assert_eq!(m.state.sweep(t + secs(99)), 0);
        assert_eq!(m.state.sweep(t + secs(100)), 1, "the grace the record gave ended");
        // An older version read late changes nothing.
        m.state.apply_synced(synced("c1", None, 2, true, t), t);
        assert_eq!(m.client("acme", "a", t), "c2");
        // Anything else replaces the installation, with the record's previous set.
        m.state.apply_synced(synced("c9", Some("c8"), 4, true, t), t);
        assert_eq!((m.client("acme", "a", t), m.state.provider_count()), ("c9".to_owned(), 1));
        assert!(m.state.installations[&account("acme")].previous.is_some());
        assert!(m.state.rotating.contains(&account("acme")));
    }

    #[test]
    fn the_store_gate_checks_stale_and_old_records_before_it_refuses_or_serves() {
        let t = Instant::now();
        let mut m = Manager::new(TokenManagerPolicy::default(), t);
        m.state.apply_synced(synced("c1", None, 1, true, t), t);
        m.active("acme", "a", t).unwrap();
        let gate = |max_age| Gate::Store { max_age };
        let a = (account("acme"), scopes("a"));
        assert!(m.state.kept_gated(&a.0, &a.1, t, gate(None)).unwrap().is_some());
        assert_eq!(m.state.kept_gated(&a.0, &a.1, t + secs(1), gate(Some(secs(1)))).err(), Some(Admission::Check));
        assert!(m.state.kept_gated(&a.0, &a.1, t + secs(1), Gate::Serving).is_ok());
        m.state.notice(&a.0, 1);
        assert!(m.state.kept_gated(&a.0, &a.1, t, gate(None)).is_ok(), "not newer than held");
        m.state.notice(&a.0, 2);
        assert_eq!(m.state.kept_gated(&a.0, &a.1, t, gate(None)).err(), Some(Admission::Check));
        m.state.apply_synced(synced("c1", None, 2, false, t), t);
        assert_eq!(m.state.kept_gated(&a.0, &a.1, t, gate(None)).err(), Some(Admission::Refused));
        m.state.all_stale();
        assert_eq!(m.state.kept_gated(&a.0, &a.1, t, gate(None)).err(), Some(Admission::Check));
        assert_eq!(m.state.kept_gated(&account("other"), &a.1, t, gate(None)).err(), Some(Admission::Absent));
        // The in-process gate sees none of it.
        assert!(m.state.kept_gated(&a.0, &a.1, t, Gate::Open).is_ok());
    }

    /// The example that was this type's documentation, now that the type is the crate's own.
    #[test]
    fn installations_example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::rotation::CredentialSet;
        use crate::{InstallationCredentials, TokenManagerPolicy};
        use std::time::Instant;
        use td_oauth_core::Scopes;

        let key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";
        let body = format!(
            r#"{{"type": "app.installed", "data": {{"installation_id": "i", "account_name": "acme",
            "client_id": "c1", "private_key": "{key}", "key_id": "k1", "key_algorithm": "ES256"}},
            "_links": {{"token": {{"href": "https://acme.talkdeskid.com/oauth/token"}}}}}}"#
        );
        let credentials = InstallationCredentials::from_event(body.as_bytes())?;
        let policy = TokenManagerPolicy::default();
        let now = Instant::now();
        // Here a "client" is the client id and a "provider" a label; a transport uses its own types.
        let mut installations: Installations<String, String> = Installations::new(policy.clone(), now);
        installations.install(credentials);

        let account = "acme".parse()?;
        let scopes: Scopes = "users:read".parse()?;
        let make_client = |c: &InstallationCredentials| Ok::<_, td_oauth_core::Error>(c.client_id().to_string());
        let active = installations
            .active(&account, &scopes, now, make_client, |client, scopes| format!("{client} {scopes}"))
            .expect("installed")?;
        assert_eq!((active.provider.as_str(), active.which), ("c1 users:read", CredentialSet::Current));
        assert_eq!(installations.provider_count(), 1);

        // Unused for the idle timeout: dropped.
        assert_eq!(installations.sweep(now + policy.idle_timeout()), 1);
        Ok(())
    }
}
