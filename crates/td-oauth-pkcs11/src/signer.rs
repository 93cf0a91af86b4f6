//! [`Pkcs11Signer`]: one private key on one token, signing JWS inputs through a small pool of sessions.
//!
//! PKCS#11 forbids using one session from two threads at once, so each signature borrows a session of its
//! own from the pool, opening one (up to [`Pkcs11Options::max_sessions`]) when none is idle and waiting for
//! one otherwise; sessions are kept open between signatures, so the warm path is one `C_Sign`. A login is
//! the application's, not a session's: the PIN is presented when the signer opens and again only when the
//! token has forgotten it (every session closed, the token reinserted). A PIN the token refuses is never
//! presented again by this signer, as each wrong try brings the token closer to locking itself.
//! When the token goes away mid-use, the signature is retried once on a freshly found token and key; if
//! the token is still gone, the error says so.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use td_oauth_core::{Algorithm, KeyId};

use crate::error::Pkcs11Error;
use crate::key::{self, KeyKind, KeyProblem};
use crate::pin::Pin;
use crate::uri::{Pkcs11Uri, shown};

/// Sessions a signer keeps at most unless told otherwise: enough for a busy service, few enough for a
/// smart card that allows a handful.
pub const DEFAULT_MAX_SESSIONS: usize = 4;

/// How to open a [`Pkcs11Signer`] beyond the module, the URI and the PIN.
#[derive(Debug, Clone, Default)]
pub struct Pkcs11Options {
    algorithm: Option<Algorithm>,
    max_sessions: Option<usize>,
}

impl Pkcs11Options {
    /// The algorithm to sign with. An EC key's curve decides it (asking for another is an error); an RSA key
    /// signs PS256 unless this says PS384 or PS512 (Talkdesk's `key_algorithm`).
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The most sessions open at once (at least 1; default [`DEFAULT_MAX_SESSIONS`]). Signatures beyond it
    /// wait for a session to come back.
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = Some(max_sessions.max(1));
        self
    }
}

/// A private key on a PKCS#11 token (an HSM, a smart card, a YubiKey, SoftHSM2) that signs client
/// assertions without the key ever leaving the token. Cheap to clone: clones share the sessions.
///
/// ```no_run
/// use std::path::Path;
/// use td_oauth_core::KeyId;
/// use td_oauth_pkcs11::{Pin, Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
///
/// let signer = Pkcs11Signer::open(
///     Path::new("/usr/lib/softhsm/libsofthsm2.so"),
///     &Pkcs11Uri::parse("pkcs11:token=td;object=app-key")?,
///     Pin::from_env("TALKDESK_PKCS11_PIN")?,
///     KeyId::new("fedcba9876543210fedcba9876543210")?,
///     Pkcs11Options::default(),
/// )?;
/// let signature = signer.sign_raw(b"header.claims")?; // JOSE form: r‖s for ECDSA
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pkcs11Signer {
    inner: Arc<Inner>,
}

struct Inner {
    context: Pkcs11,
    module: PathBuf,
    uri: Pkcs11Uri,
    /// For messages: the token as the URI names it.
    token: String,
    pin: Option<Pin>,
    /// The key id Talkdesk registered the public key under (the assertion's `kid`).
    key_id: KeyId,
    /// Set once the token refuses the PIN: it is never presented again.
    pin_refused: AtomicBool,
    algorithm: Algorithm,
    kind: KeyKind,
    /// The length every signature must have: JOSE's `r‖s` for ECDSA, the modulus for RSA-PSS.
    signature_len: usize,
    public_key: Option<Vec<u8>>,
    max_sessions: usize,
    pool: Mutex<Pool>,
    returned: Condvar,
}

struct Pool {
    /// Where the key is; `None` after the token went away, until it is found again.
    location: Option<Location>,
    /// Bumped each time the key is found again: sessions of an older generation are closed, not reused.
    generation: u64,
    idle: Vec<Session>,
    /// Sessions open, idle or lent.
    open: usize,
    /// Whether a caller is finding the key again; the others wait for it.
    locating: bool,
}

#[derive(Clone, Copy)]
struct Location {
    slot: Slot,
    key: ObjectHandle,
}

/// A session lent to one signature.
struct Lease {
    session: Session,
    location: Location,
    generation: u64,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.inner.module)
            .field("key", &self.inner.uri)
            .field("key_id", &self.inner.key_id)
            .field("algorithm", &self.inner.algorithm)
            .field("pin", &self.inner.pin.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Loads `module` (once per process), finds the token and the private key `uri` names, logs in with
    /// `pin` when given or required, and reads the key's type and public key. The PIN is presented once;
    /// a refusal is [`Pkcs11Error::WrongPin`] and is not retried. A `module-path=` in the URI must be
    /// `module` itself.
    pub fn open(
        module: &Path,
        uri: &Pkcs11Uri,
        pin: Option<Pin>,
        key_id: KeyId,
        options: Pkcs11Options,
    ) -> Result<Self, Pkcs11Error> {
        if let Some(named) = uri.module_path()
            && named != module
        {
            return Err(Pkcs11Error::ModuleChoice {
                reason: format!(
                    "the URI's module-path names {} but the module given is {}: give one of them",
                    named.display(),
                    module.display()
                ),
            });
        }
        let context = load_module(module)?;
        let inner = Inner {
            context,
            module: module.to_owned(),
            token: uri.describe_token(),
            uri: uri.clone(),
            pin,
            key_id,
            pin_refused: AtomicBool::new(false),
            algorithm: Algorithm::Es256,
            kind: KeyKind::Ec(Algorithm::Es256),
            signature_len: 0,
            public_key: None,
            max_sessions: options.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            pool: Mutex::new(Pool { location: None, generation: 0, idle: Vec::new(), open: 0, locating: false }),
            returned: Condvar::new(),
        };
        let (session, location) = inner.locate()?;
        let (kind, public_key) = key::inspect(&session, location.key).map_err(|problem| match problem {
            KeyProblem::Unsupported(reason) => Pkcs11Error::UnsupportedKey { key: uri.describe_key(), reason },
            KeyProblem::Pkcs11(err) => inner.failure("reading the key's attributes", &err),
        })?;
        let algorithm = kind
            .algorithm(options.algorithm)
            .map_err(|reason| Pkcs11Error::UnsupportedKey { key: uri.describe_key(), reason })?;
        let signature_len = match kind {
            KeyKind::Rsa(modulus) => modulus,
            KeyKind::Ec(_) => 2 * algorithm.component_len(),
        };
        let inner = Inner { algorithm, kind, signature_len, public_key, ..inner };
        {
            let mut pool = inner.lock();
            pool.location = Some(location);
            pool.open = 1;
            pool.idle.push(session);
        }
        Ok(Pkcs11Signer { inner: Arc::new(inner) })
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The key id (`kid`) the assertions carry.
    pub fn key_id(&self) -> &KeyId {
        &self.inner.key_id
    }

    /// The public key as SubjectPublicKeyInfo DER, when the token shows it: always for RSA; for EC when the
    /// public key object sits beside the private key with the same `CKA_ID` (as `softhsm2-util --import`
    /// and `pkcs11-tool --keypairgen` leave it).
    pub fn public_key_der(&self) -> Option<&[u8]> {
        self.inner.public_key.as_deref()
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`), to register with Talkdesk or a test server.
    pub fn public_key_pem(&self) -> Option<String> {
        self.public_key_der().map(td_oauth_core::key::spki_pem)
    }

    /// How many sessions the signer holds open now (idle or lent): at most its `max_sessions`, kept
    /// between signatures.
    pub fn sessions_open(&self) -> usize {
        self.inner.lock().open
    }

    /// What the key is, for messages and `--dry-run`: `the key "app-key" on the token "td"`.
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.inner.uri.describe_key(), self.inner.kind.describe(), self.inner.algorithm)
    }

    /// Signs `message` (the JWS signing input) with the key's algorithm. ECDSA comes back in JOSE's `r‖s`
    /// form (64, 96 or 132 bytes), RSASSA-PSS as the modulus-long signature.
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let inner = &self.inner;
        // The mechanism is not `Sync` (cryptoki's holds raw pointers for other kinds), so it is made per call:
        // a match, no allocation.
        let (mechanism, digest) = key::mechanism(inner.algorithm).ok_or_else(|| Pkcs11Error::UnsupportedKey {
            key: inner.uri.describe_key(),
            reason: format!("{} is not an algorithm this crate signs", inner.algorithm),
        })?;
        let hashed = digest.map(|algorithm| ring::digest::digest(algorithm, message));
        let data = hashed.as_ref().map_or(message, |digest| digest.as_ref());
        let mut retried = false;
        loop {
            let lease = inner.take()?;
            match lease.session.sign(&mechanism, lease.location.key, data) {
                Ok(signature) => {
                    inner.give_back(lease);
                    return inner.check_form(signature);
                }
                Err(err) if !retried && recoverable(&err) => {
                    // The session, the key handle or the login went away: find the key again, once.
                    inner.discard(lease, true);
                    retried = true;
                }
                Err(err) => {
                    let lost = recoverable(&err);
                    inner.discard(lease, lost);
                    return Err(inner.failure("signing", &err));
                }
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle session, a new one, or (at the limit) the next one given back.
    fn take(&self) -> Result<Lease, Pkcs11Error> {
        let mut pool = self.lock();
        loop {
            if let Some(location) = pool.location {
                if let Some(session) = pool.idle.pop() {
                    return Ok(Lease { session, location, generation: pool.generation });
                }
                if pool.open < self.max_sessions {
                    pool.open += 1;
                    let generation = pool.generation;
                    drop(pool);
                    return match self.open_session(location.slot) {
                        Ok(session) => Ok(Lease { session, location, generation }),
                        Err(err) => {
                            self.lock().open -= 1;
                            self.returned.notify_one();
                            Err(err)
                        }
                    };
                }
            } else if !pool.locating && pool.open < self.max_sessions {
                // The key must be found again (the token went away): one caller does it, counted as a session.
                pool.open += 1;
                pool.locating = true;
                drop(pool);
                let found = self.locate();
                let mut pool = self.lock();
                pool.locating = false;
                self.returned.notify_all();
                return match found {
                    Ok((session, location)) => {
                        pool.generation += 1;
                        pool.location = Some(location);
                        Ok(Lease { session, location, generation: pool.generation })
                    }
                    Err(err) => {
                        pool.open -= 1;
                        Err(err)
                    }
                };
            }
            pool = self.returned.wait(pool).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn give_back(&self, lease: Lease) {
        let mut pool = self.lock();
        if lease.generation == pool.generation && pool.location.is_some() {
            pool.idle.push(lease.session);
        } else {
            pool.open -= 1;
            drop(pool);
            drop(lease.session);
        }
        self.returned.notify_one();
    }

    /// Closes a session that failed; when `lost`, the key is to be found again and every idle session goes.
    fn discard(&self, lease: Lease, lost: bool) {
        let mut pool = self.lock();
        pool.open -= 1;
        let mut stale = Vec::new();
        if lost && lease.generation == pool.generation {
            pool.location = None;
            stale = std::mem::take(&mut pool.idle);
            pool.open -= stale.len();
        }
        drop(pool);
        self.returned.notify_all();
        drop(stale);
        drop(lease.session);
    }

    /// Finds the token and the key, with a logged-in session on it.
    fn locate(&self) -> Result<(Session, Location), Pkcs11Error> {
        let slot = self.find_slot()?;
        let session = self.open_session(slot)?;
        let key = self.find_key(&session)?;
        Ok((session, Location { slot, key }))
    }

    fn find_slot(&self) -> Result<Slot, Pkcs11Error> {
        let uri = &self.uri;
        let library = self.context.get_library_info().map_err(|err| self.failure("reading the module's info", &err))?;
        let library_matches = matches(&uri.library_manufacturer, library.manufacturer_id())
            && matches(&uri.library_description, library.library_description())
            && uri.library_version.is_none_or(|(major, minor)| {
                let version = library.library_version();
                version.major() == major && version.minor() == minor
            });
        let slots = self.context.get_slots_with_token().map_err(|err| self.failure("listing the slots", &err))?;
        let mut found = Vec::new();
        let mut present = Vec::new();
        for slot in slots {
            // An uninitialised token (SoftHSM2 always offers one) holds no key.
            let Some(token) = self.context.get_token_info(slot).ok().filter(|token| token.token_initialized()) else {
                continue;
            };
            present.push(format!("{:?}", shown(token.label().trim())));
            let slot_matches = uri.slot_id.is_none_or(|id| id == slot.id())
                && (uri.slot_description.is_none() && uri.slot_manufacturer.is_none()
                    || self.context.get_slot_info(slot).is_ok_and(|info| {
                        matches(&uri.slot_description, info.slot_description())
                            && matches(&uri.slot_manufacturer, info.manufacturer_id())
                    }));
            if library_matches
                && slot_matches
                && matches(&uri.token, token.label())
                && matches(&uri.manufacturer, token.manufacturer_id())
                && matches(&uri.model, token.model())
                && matches(&uri.serial, token.serial_number())
            {
                found.push(slot);
            }
        }
        match found.as_slice() {
            [slot] => Ok(*slot),
            [] => Err(Pkcs11Error::TokenNotFound {
                token: self.token.clone(),
                present: if present.is_empty() { "none".into() } else { present.join(", ") },
            }),
            _ => Err(Pkcs11Error::AmbiguousToken { token: self.token.clone(), count: found.len() }),
        }
    }

    fn find_key(&self, session: &Session) -> Result<ObjectHandle, Pkcs11Error> {
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(object) = &self.uri.object {
            template.push(Attribute::Label(object.as_bytes().to_vec()));
        }
        if let Some(id) = &self.uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        let keys = session.find_objects(&template).map_err(|err| self.failure("looking for the key", &err))?;
        match keys.as_slice() {
            [key] => Ok(*key),
            [] => Err(Pkcs11Error::KeyNotFound { key: self.uri.describe_key() }),
            _ => Err(Pkcs11Error::AmbiguousKey { key: self.uri.describe_key(), count: keys.len() }),
        }
    }

    /// A read-only session on `slot`, logged in when the token needs it (or a PIN was given).
    fn open_session(&self, slot: Slot) -> Result<Session, Pkcs11Error> {
        let session = self.context.open_ro_session(slot).map_err(|err| self.failure("opening a session", &err))?;
        let state =
            session.get_session_info().map_err(|err| self.failure("reading the session", &err))?.session_state();
        if matches!(state, SessionState::RoUser | SessionState::RwUser) {
            return Ok(session);
        }
        let token = self.context.get_token_info(slot).map_err(|err| self.failure("reading the token's info", &err))?;
        let Some(pin) = &self.pin else {
            return if token.login_required() {
                Err(Pkcs11Error::PinRequired { token: self.token.clone() })
            } else {
                Ok(session)
            };
        };
        if self.pin_refused.load(Ordering::Acquire) {
            return Err(Pkcs11Error::WrongPin { token: self.token.clone(), warning: "" });
        }
        if token.user_pin_locked() {
            return Err(Pkcs11Error::PinLocked { token: self.token.clone() });
        }
        if token.user_pin_final_try() {
            return Err(Pkcs11Error::PinFinalTry { token: self.token.clone() });
        }
        match session.login(UserType::User, Some(&AuthPin::from(pin.secret()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                self.pin_refused.store(true, Ordering::Release);
                let low = self.context.get_token_info(slot).is_ok_and(|info| info.user_pin_count_low());
                Err(Pkcs11Error::WrongPin {
                    token: self.token.clone(),
                    warning: if low { " (the token warns that few tries are left)" } else { "" },
                })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::PinLocked { token: self.token.clone() }),
            Err(err) => Err(self.failure("logging in", &err)),
        }
    }

    /// The signature, checked to have the form its algorithm's JWS needs.
    fn check_form(&self, signature: Vec<u8>) -> Result<Vec<u8>, Pkcs11Error> {
        let expected = self.signature_len;
        if signature.len() == expected {
            Ok(signature)
        } else {
            Err(Pkcs11Error::Device {
                token: self.token.clone(),
                operation: "signing",
                code: format!("a {}-byte signature where {} needs {expected} bytes", signature.len(), self.algorithm),
            })
        }
    }

    /// A module failure, named for what it means to the user.
    fn failure(&self, operation: &'static str, err: &CkError) -> Pkcs11Error {
        match err {
            CkError::Pkcs11(
                RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceError
                | RvError::SlotIdInvalid,
                _,
            ) => Pkcs11Error::TokenRemoved { token: self.token.clone(), operation },
            CkError::Pkcs11(RvError::UserNotLoggedIn, _) => Pkcs11Error::PinRequired { token: self.token.clone() },
            CkError::Pkcs11(
                code @ (RvError::MechanismInvalid | RvError::MechanismParamInvalid | RvError::KeyFunctionNotPermitted),
                _,
            ) => Pkcs11Error::UnsupportedKey {
                key: self.uri.describe_key(),
                reason: format!("the token will not sign {} with it ({code:?})", self.algorithm),
            },
            CkError::Pkcs11(code, function) => Pkcs11Error::Device {
                token: self.token.clone(),
                operation,
                code: format!("{code:?} from {function:?}"),
            },
            other => Pkcs11Error::Device { token: self.token.clone(), operation, code: other.to_string() },
        }
    }
}

/// Failures after which the key is found again and the signature tried once more.
fn recoverable(err: &CkError) -> bool {
    matches!(
        err,
        CkError::Pkcs11(
            RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

/// Whether a token's space-padded field matches the URI's attribute (absent: matches anything).
fn matches(wanted: &Option<String>, actual: &str) -> bool {
    wanted.as_deref().is_none_or(|wanted| wanted == actual.trim_end())
}

/// The module at `path`, loaded and initialised once per process: PKCS#11 allows one `C_Initialize` per
/// module and process, and every signer on it shares the context.
fn load_module(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static MODULES: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();
    let failed = |reason: String| Pkcs11Error::Module { path: path.to_owned(), reason };
    let canonical = path.canonicalize().map_err(|err| {
        failed(format!("{err}: give the path of the module's shared library (e.g. /usr/lib/softhsm/libsofthsm2.so)"))
    })?;
    let mut modules = MODULES.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, context)) = modules.iter().find(|(loaded, _)| *loaded == canonical) {
        return Ok(context.clone());
    }
    let context =
        Pkcs11::new(&canonical).map_err(|err| failed(format!("it could not be loaded as a PKCS#11 module ({err})")))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Already initialised by another library in this process: the context is usable as it is.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(err) => return Err(failed(format!("C_Initialize failed ({err})"))),
    }
    modules.push((canonical, context.clone()));
    Ok(context)
}
