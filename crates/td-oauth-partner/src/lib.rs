//! # td-oauth-partner
//!
//! Partner apps on AppConnect: one set of credentials per installed account, rotated by AppConnect, and the
//! token manager that keeps a provider per account over them. Every rule is a plain value with time passed
//! in; the manager holds them behind one lock.
//!
//! - [`InstallationCredentials`]: an account's credentials from `app.installed` / `app.credentials_rotated`,
//!   every field checked;
//! - rotation: one installation's current credentials and, during the grace after a routine rotation, the
//!   previous ones, with the rule for falling back to them ([`RotationFallback`]) when the new ones are
//!   refused;
//! - [`TokenManagerPolicy`]: how many providers, how long an idle one lives, the rotation grace;
//! - [`TokenManager`] (async, over td-oauth-reqwest; feature `reqwest`) and [`BlockingTokenManager`]
//!   (blocking, over td-oauth-ureq; feature `ureq`): a provider per installed account, credential set and
//!   scopes, behind one lock never held while a token is fetched; both are the one
//!   [`Manager`](manager::Manager), written once over [`ManagerTransport`](transport::ManagerTransport);
//! - the app lifecycle: [`Event`] (every documented event type typed, unknown ones kept), the
//!   [`EventReceiver`] (a raw `http::Request` in, the event and the response out; verification seam,
//!   bounded [`EventDedup`] on event ids), the Apps API's calls ([`installation_state_request`],
//!   [`credentials_state_request`], …, with [`Acknowledged`]: 409 = already done), and
//!   [`Manager::apply`](manager::Manager::apply) with its rules ([`Lifecycle`]);
//! - a fleet of replicas: the [`store`] seam ([`InstallationStore`](store::InstallationStore): sealed values
//!   under compare-and-set versions, change notices, event claims; implemented by td-oauth-redis and
//!   td-oauth-postgres, and here by [`store::MemoryStore`] for tests and single processes;
//!   [`store::BlockingStore`] drives any of them from blocking code), the installation [`record`] sealed
//!   with AES-256-GCM under the operator's [`SealingKeys`](record::SealingKeys) (a current key and a previous
//!   one accepted for reading, so the key can rotate), and [`FleetTokenManager`] (async) and
//!   [`BlockingFleetTokenManager`] (blocking), both the one [`FleetManager`](fleet::FleetManager): every
//!   replica serves every installation (read from the store on first use, then warm in memory with no store
//!   round trip), restarts lose nothing, an uninstall stops every replica within about a second (notices,
//!   with a version check as the safety net), and each lifecycle step happens once per fleet.

//!
//! ```text
//!        td-oauth-partner: events, receiver, lifecycle, rotation, the managers, the fleet over a store
//!          |                 |                         |
//!   td-oauth-reqwest   td-oauth-ureq   (features)      td-oauth-api: gateways, Apps API errors
//!          \                 |                         |
//!           +------------- td-oauth-core: the token protocol
//! ```
//!
//! Sans-IO where it can be: events, the receiver, deduplication and the lifecycle rules take and return
//! `http` values with time passed in; only the managers send, through a transport, and only the fleet's
//! manager talks to a store, through the seam.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod apps_api;
mod error;
mod events;
#[cfg(any(feature = "reqwest", feature = "ureq"))]
mod faces;
pub mod fleet;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod installations;
mod lifecycle;
mod lru;
pub mod manager;
mod policy;
mod raw_json;
mod receiver;
pub mod record;
mod rotation;
pub mod store;
pub mod transport;

pub use apps_api::{
    Acknowledged, Installation, InstallationDecision, acknowledge_uninstall_request, credentials_state_request,
    installation_request, installation_state_request,
};
pub use error::Error;
pub use events::{Event, EventKind, EventPayload, InstallationCredentials};
#[cfg(feature = "ureq")]
pub use faces::{BlockingFleetTokenManager, BlockingTokenManager};
#[cfg(feature = "reqwest")]
pub use faces::{FleetTokenManager, TokenManager};
pub use lifecycle::Lifecycle;
pub use policy::TokenManagerPolicy;
pub use raw_json::{RawJson, SECRET_KEY_SUFFIXES, is_secret_key};
pub use receiver::{Delivery, EventDedup, EventReceiver, NoVerification, ReceiveError, VerifyEvent};
pub use rotation::{RotationFallback, RotationKind};
