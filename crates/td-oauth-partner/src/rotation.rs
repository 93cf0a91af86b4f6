//! One installation's credential sets across AppConnect's rotations, as a plain value with time passed in:
//! [`Rotation`] holds the current credentials and, during the grace after a routine rotation, the previous
//! ones, with the rule for falling back to them when the new ones are refused.
//!
//! ```text
//!  rotate(Routine)         refused(Current)            now + retry_rotated_after      grace ends
//! ------|----- Current ---------|------- Previous ------------|------- Current ----------|--- previous dropped
//!   (new set at once)     (report: RotationFallback)   (try the new set again)
//! ```
//!
//! A compromised rotation keeps no previous set: there is nothing to fall back to.
//!
//! [`Installations`](crate::installations::Installations) applies these rules to every installation of an app at once.

use std::fmt;
use std::time::{Duration, Instant};

use td_oauth_core::{Account, ClientId};

use crate::{Error, InstallationCredentials, TokenManagerPolicy};

/// Why credentials were rotated. AppConnect's `app.credentials_rotated` event does not say; the caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationKind {
    /// A routine rotation: the old credentials keep working for the grace period (seven days at Talkdesk),
    /// so they stay available as a fallback in case the new ones are refused.
    Routine,
    /// The old credentials were compromised: they are dropped at once, with every token they obtained.
    Compromised,
}

/// Which of an installation's credential sets is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CredentialSet {
    /// The newest credentials.
    Current,
    /// The credentials before the last routine rotation, standing in because the new ones were refused.
    Previous,
}

/// The new credentials were refused and the previous ones stand in: what the manager reports when it falls back (to its hook and as a warning).
/// Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationFallback {
    account: Account,
    new_client_id: ClientId,
    old_client_id: ClientId,
    grace_remaining: Duration,
}

impl RotationFallback {
    /// The installation's account.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The client id of the refused new credentials.
    pub fn new_client_id(&self) -> &ClientId {
        &self.new_client_id
    }

    /// The client id of the previous credentials now in use.
    pub fn old_client_id(&self) -> &ClientId {
        &self.old_client_id
    }

    /// How long the previous credentials may still be used; after that the installation needs working
    /// new credentials.
    pub fn grace_remaining(&self) -> Duration {
        self.grace_remaining
    }
}

impl fmt::Display for RotationFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the rotated credentials of account `{}` (client {}) were refused with invalid_client; using the \
             previous ones (client {}) for at most {} s more",
            self.account,
            self.new_client_id,
            self.old_client_id,
            self.grace_remaining.as_secs()
        )
    }
}

/// The credentials before the last routine rotation.
#[derive(Debug, Clone)]
struct Previous {
    credentials: InstallationCredentials,
    /// `None` when the grace runs past what an `Instant` can hold: no end.
    grace_until: Option<Instant>,
    /// While set and in the future, the previous set is the active one.
    fallback_until: Option<Instant>,
}

impl Previous {
    fn in_grace(&self, now: Instant) -> bool {
        self.grace_until.is_none_or(|until| now < until)
    }
}

/// One installation's credential sets through rotations: the current set and, for the grace period after
/// a routine rotation, the previous one as a fallback.
///
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    current: InstallationCredentials,
    /// Boxed: present only during a rotation's grace, and as large as the current set.
    previous: Option<Box<Previous>>,
}

impl Rotation {
    /// An installation with its first credentials (from `app.installed`).
    pub(crate) fn new(current: InstallationCredentials) -> Self {
        Rotation { current, previous: None }
    }

    /// The newest credentials.
    pub(crate) fn current(&self) -> &InstallationCredentials {
        &self.current
    }

    /// The previous credentials, while they are kept as a fallback.
    pub(crate) fn previous(&self) -> Option<&InstallationCredentials> {
        self.previous.as_ref().map(|previous| &previous.credentials)
    }

    /// Installs `new` as the current credentials at once. After a [`RotationKind::Routine`] rotation the
    /// replaced set is kept for the policy's grace as a fallback (any older one is dropped); after a
    /// [`RotationKind::Compromised`] one, no old set is kept. Returns the sets dropped.
    ///
    /// Fails, changing nothing, when `new` belongs to another account.
    pub(crate) fn rotate(
        &mut self,
        new: InstallationCredentials,
        kind: RotationKind,
        now: Instant,
        policy: &TokenManagerPolicy,
    ) -> Result<Vec<InstallationCredentials>, Error> {
        if new.account() != self.current.account() {
            return Err(Error::Core(td_oauth_core::Error::InvalidParameter {
                field: "rotated credentials",
                reason: format!(
                    "they are for account `{}`, not `{}`; rotate that account's installation instead",
                    new.account(),
                    self.current.account()
                ),
            }));
        }
        let replaced = std::mem::replace(&mut self.current, new);
        let mut dropped: Vec<InstallationCredentials> =
            self.previous.take().map(|previous| previous.credentials).into_iter().collect();
        match kind {
            RotationKind::Routine => {
                self.previous = Some(Box::new(Previous {
                    credentials: replaced,
                    grace_until: now.checked_add(policy.grace()),
                    fallback_until: None,
                }));
            }
            RotationKind::Compromised => dropped.push(replaced),
        }
        Ok(dropped)
    }

    /// Keeps `previous` as the previous set, its grace ending at `grace_until` (as a store's record says).
    pub(crate) fn restore_previous(&mut self, previous: InstallationCredentials, grace_until: Option<Instant>) {
        self.previous = Some(Box::new(Previous { credentials: previous, grace_until, fallback_until: None }));
    }

    /// Sets when the previous set's grace ends (as a store's record says, rather than from now).
    pub(crate) fn set_grace_until(&mut self, grace_until: Option<Instant>) {
        if let Some(previous) = self.previous.as_mut() {
            previous.grace_until = grace_until;
        }
    }

    /// Drops the previous set if its grace has ended at `now`, and returns it.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<InstallationCredentials> {
        if self.previous.as_ref().is_some_and(|previous| !previous.in_grace(now)) {
            return self.previous.take().map(|previous| previous.credentials);
        }
        None
    }

    /// The set to use at `now`: the previous one while a fallback is in force and its grace lasts,
    /// else the current one. Drops the previous set once its grace has ended.
    pub(crate) fn active(&mut self, now: Instant) -> (&InstallationCredentials, CredentialSet) {
        self.expire(now);
        match &self.previous {
            Some(previous) if previous.fallback_until.is_some_and(|until| now < until) => {
                (&previous.credentials, CredentialSet::Previous)
            }
            _ => (&self.current, CredentialSet::Current),
        }
    }

    /// Records that the token endpoint refused the `which` set with `invalid_client` at `now`.
    ///
    /// When the current set was refused, the previous one is still within its grace and no fallback is
    /// already in force, the previous set becomes the active one until `now + retry_rotated_after` (then the
    /// current set is tried again) and the report is returned, for the caller to log and alert on. Otherwise
    /// nothing changes and `None` is returned: there is no previous set (first credentials, a compromised
    /// rotation, the grace is over), a fallback is already in force (it was reported when it started), or
    /// the previous set itself was refused.
    pub(crate) fn refused(
        &mut self,
        which: CredentialSet,
        now: Instant,
        policy: &TokenManagerPolicy,
    ) -> Option<RotationFallback> {
        self.expire(now);
        if which != CredentialSet::Current {
            return None;
        }
        let previous = self.previous.as_mut()?;
        if previous.fallback_until.is_some_and(|until| now < until) {
            return None;
        }
        previous.fallback_until = Some(now.checked_add(policy.retry_rotated_after()).unwrap_or(now));
        Some(RotationFallback {
            account: self.current.account().clone(),
            new_client_id: self.current.client_id().clone(),
            old_client_id: previous.credentials.client_id().clone(),
            grace_remaining: previous.grace_until.map_or(Duration::MAX, |until| until.saturating_duration_since(now)),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";

    /// Credentials for `account` with client id `client` (and a client secret `SECRET-{client}`).
    pub(crate) fn creds(account: &str, client: &str) -> InstallationCredentials {
        let body = format!(
            r#"{{"type": "app.credentials_rotated", "data": {{"installation_id": "i", "account_name": "{account}",
                "client_id": "{client}", "client_secret": "SECRET-{client}", "private_key": "{KEY}",
                "key_id": "kid-{client}", "key_algorithm": "ES256"}},
                "_links": {{"token": {{"href": "https://{account}.talkdeskid.com/oauth/token"}}}}}}"#
        );
        InstallationCredentials::from_event(body.as_bytes()).unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn rotated(kind: RotationKind, t: Instant, policy: &TokenManagerPolicy) -> Rotation {
        let mut rotation = Rotation::new(creds("acme", "old"));
        assert!(
            rotation.rotate(creds("acme", "new"), kind, t, policy).unwrap().len()
                == usize::from(kind == RotationKind::Compromised)
        );
        rotation
    }

    #[test]
    fn policy_defaults_and_validation() {
        let policy = TokenManagerPolicy::default();
        assert_eq!(policy.max_providers(), 10_000);
        assert_eq!(policy.idle_timeout(), secs(1800));
        assert_eq!(policy.grace(), secs(7 * 24 * 3600));
        assert_eq!(policy.retry_rotated_after(), secs(60));
        assert!(TokenManagerPolicy::default().with_max_providers(0).is_err());
        assert!(TokenManagerPolicy::default().with_idle_timeout(Duration::ZERO).is_err());
        assert!(TokenManagerPolicy::default().with_retry_rotated_after(Duration::ZERO).is_err());
        assert_eq!(TokenManagerPolicy::default().with_grace(Duration::ZERO).grace(), Duration::ZERO);
    }

    #[test]
    fn first_credentials_have_no_fallback() {
        let t = Instant::now();
        let mut rotation = Rotation::new(creds("acme", "only"));
        assert_eq!(rotation.active(t).1, CredentialSet::Current);
        assert_eq!(rotation.refused(CredentialSet::Current, t, &TokenManagerPolicy::default()), None);
        assert_eq!(rotation.active(t).0.client_id().as_str(), "only");
    }

    #[test]
    fn routine_rotation_switches_at_once_and_falls_back_when_refused() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default();
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        let active = rotation.active(t);
        assert_eq!((active.1, active.0.client_id().as_str()), (CredentialSet::Current, "new"));

        let report = rotation.refused(CredentialSet::Current, t + secs(10), &policy).unwrap();
        assert_eq!(report.account().as_str(), "acme");
        assert_eq!(report.new_client_id().as_str(), "new");
        assert_eq!(report.old_client_id().as_str(), "old");
        assert_eq!(report.grace_remaining(), policy.grace() - secs(10));
        let active = rotation.active(t + secs(11));
        assert_eq!((active.1, active.0.client_id().as_str()), (CredentialSet::Previous, "old"));

        // Reported once: a second refusal while the fallback is in force changes nothing.
        assert_eq!(rotation.refused(CredentialSet::Current, t + secs(12), &policy), None);
        // The previous set refused too: nothing more to fall back to.
        assert_eq!(rotation.refused(CredentialSet::Previous, t + secs(13), &policy), None);

        // After retry_rotated_after, the new set is tried again; refused again, a new report.
        assert_eq!(rotation.active(t + secs(70)).1, CredentialSet::Current);
        assert!(rotation.refused(CredentialSet::Current, t + secs(70), &policy).is_some());
        assert_eq!(rotation.active(t + secs(71)).1, CredentialSet::Previous);
    }

    #[test]
    fn after_the_grace_the_previous_set_is_dropped() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_grace(secs(100)).with_retry_rotated_after(secs(60)).unwrap();
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        assert!(rotation.refused(CredentialSet::Current, t + secs(90), &policy).is_some());
        assert_eq!(rotation.active(t + secs(99)).1, CredentialSet::Previous);
        // The fallback would last until 150 s, but the grace ends at 100 s.
        assert_eq!(rotation.active(t + secs(100)).1, CredentialSet::Current);
        assert!(rotation.previous().is_none());
        assert_eq!(rotation.refused(CredentialSet::Current, t + secs(101), &policy), None);
    }

    #[test]
    fn expire_returns_the_dropped_set() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_grace(secs(5));
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        assert!(rotation.expire(t + secs(4)).is_none());
        assert_eq!(rotation.expire(t + secs(5)).unwrap().client_id().as_str(), "old");
        assert!(rotation.expire(t + secs(6)).is_none());
    }

    #[test]
    fn zero_grace_means_no_fallback() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default().with_grace(Duration::ZERO);
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        assert_eq!(rotation.refused(CredentialSet::Current, t, &policy), None);
        assert_eq!(rotation.active(t).1, CredentialSet::Current);
    }

    #[test]
    fn compromised_rotation_keeps_nothing_old() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default();
        let mut rotation = rotated(RotationKind::Compromised, t, &policy);
        assert!(rotation.previous().is_none());
        assert_eq!(rotation.refused(CredentialSet::Current, t, &policy), None);
        assert_eq!(rotation.active(t).0.client_id().as_str(), "new");
    }

    #[test]
    fn a_second_rotation_drops_the_oldest_set() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default();
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        let dropped = rotation.rotate(creds("acme", "newer"), RotationKind::Routine, t + secs(1), &policy).unwrap();
        assert_eq!(dropped.iter().map(|c| c.client_id().as_str()).collect::<Vec<_>>(), ["old"]);
        assert_eq!(rotation.previous().unwrap().client_id().as_str(), "new");
        // A compromise now drops both the previous and the replaced set.
        let dropped =
            rotation.rotate(creds("acme", "newest"), RotationKind::Compromised, t + secs(2), &policy).unwrap();
        assert_eq!(dropped.len(), 2);
        assert!(rotation.previous().is_none());
    }

    #[test]
    fn rotation_for_another_account_is_refused() {
        let t = Instant::now();
        let mut rotation = Rotation::new(creds("acme", "old"));
        let err = rotation
            .rotate(creds("other", "new"), RotationKind::Routine, t, &TokenManagerPolicy::default())
            .unwrap_err();
        assert!(err.to_string().contains("`other`"), "{err}");
        assert_eq!(rotation.current().client_id().as_str(), "old");
    }

    #[test]
    fn reports_and_debug_hold_no_secret() {
        let t = Instant::now();
        let policy = TokenManagerPolicy::default();
        let mut rotation = rotated(RotationKind::Routine, t, &policy);
        let report = rotation.refused(CredentialSet::Current, t, &policy).unwrap();
        for text in [format!("{report:?}"), report.to_string(), format!("{rotation:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(!text.contains(&KEY[30..60]), "{text}");
        }
    }

    /// The example that was this type's documentation, now that the type is the crate's own.
    #[test]
    fn rotation_example() -> Result<(), Box<dyn std::error::Error>> {
        use crate::{InstallationCredentials, RotationKind, TokenManagerPolicy};
        use std::time::{Duration, Instant};

        fn event(kind: &str, client: &str) -> InstallationCredentials {
            let key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";
            let body = format!(
                r#"{{"type": "{kind}", "data": {{"installation_id": "i", "account_name": "starship",
                "client_id": "{client}", "private_key": "{key}", "key_id": "k{client}", "key_algorithm": "ES256"}},
                "_links": {{"token": {{"href": "https://starship.talkdeskid.com/oauth/token"}}}}}}"#
            );
            InstallationCredentials::from_event(body.as_bytes()).unwrap()
        }
        let policy = TokenManagerPolicy::default();
        let now = Instant::now();
        let mut rotation = Rotation::new(event("app.installed", "old"));
        rotation.rotate(event("app.credentials_rotated", "new"), RotationKind::Routine, now, &policy)?;
        assert_eq!(rotation.active(now).1, CredentialSet::Current); // the new set, at once

        // The token endpoint refused the new set with invalid_client: fall back, and report it.
        let report = rotation.refused(CredentialSet::Current, now, &policy).expect("within the grace");
        assert_eq!(report.old_client_id().as_str(), "old");
        assert_eq!(rotation.active(now).1, CredentialSet::Previous);
        // A minute later, the new set is tried again.
        assert_eq!(rotation.active(now + Duration::from_secs(60)).1, CredentialSet::Current);
        Ok(())
    }
}
