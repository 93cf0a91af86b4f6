//! Partner apps on AppConnect: one set of credentials per installed account, rotated by AppConnect, and the
//! token manager that keeps a provider per account over them. Every rule is a plain value with time passed
//! in; the manager holds them behind one lock.
//!
//! - [`InstallationCredentials`]: an account's credentials from `app.installed` / `app.credentials_rotated`,
//!   every field checked;
//! - [`Rotation`]: one installation's current credentials and, during the grace after a routine rotation, the
//!   previous ones, with the rule for falling back to them ([`RotationFallback`]) when the new ones are
//!   refused;
//! - [`TokenManagerPolicy`]: how many providers, how long an idle one lives, the rotation grace;
//! - [`Installations`]: the bookkeeping over every installation (a client per credential set, the providers
//!   by account, set and scopes, lazy sweeps, the fallback decision), generic over a transport's types;
//! - [`TokenManager`]: all of that behind one mutex, over a transport's client (td-oauth-reqwest's
//!   `TokenManager` is this type; td-oauth-ureq's wraps it with a blocking `token()`);
//! - the app lifecycle: [`Event`] (every documented event type typed, unknown ones kept), the
//!   [`EventReceiver`] (a raw `http::Request` in, the event and the response out; verification seam,
//!   bounded [`EventDedup`] on event ids), the Apps API's calls ([`installation_state_request`],
//!   [`credentials_state_request`], …, with [`Acknowledged`]: 409 = already done), and
//!   [`TokenManager::apply`] with its rules ([`Lifecycle`]).

mod apps_api;
mod events;
mod installations;
mod lifecycle;
mod lru;
mod manager;
mod policy;
mod receiver;
mod rotation;

pub use apps_api::{
    Acknowledged, Installation, InstallationDecision, acknowledge_uninstall_request, credentials_state_request,
    installation_request, installation_state_request,
};
pub use events::{Event, EventKind, EventPayload, InstallationCredentials};
pub use installations::{ActiveProvider, Fallback, Installations};
pub use lifecycle::Lifecycle;
pub use manager::TokenManager;
pub use policy::TokenManagerPolicy;
pub use receiver::{Delivery, EventDedup, EventReceiver, NoVerification, ReceiveError, VerifyEvent};
pub use rotation::{CredentialSet, Rotation, RotationFallback, RotationKind};
