//! Assertions signed outside the process's memory, over real sockets against the testkit (whose token
//! endpoint verifies every assertion's signature with the registered public key): test signers that hold
//! ring keys of their own (not td-oauth's in-memory key path), blocking and async, and ones that fail,
//! hang past the signer timeout, or answer with a signature of the wrong form.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use td_oauth_core::key::PublicKey;
use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::signer::{AsyncSigner, SignFailure, Signer, SignerError, ecdsa_der_to_jose};
use td_oauth_core::transport::Config;
use td_oauth_core::{Algorithm, ClientId, Credentials, Error, KeyId, Scopes, TokenClient};
use td_oauth_testkit::{ClientCredentials, TOKEN_PATH, TestServer};

use crate::driver::Driver;
use crate::setup::{Scheme, config, endpoints, server};

/// What a [`TestSigner`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// A good JOSE signature.
    Sign,
    /// ECDSA in ASN.1 DER, as most KMSs return it, handed back as it is (the wrong form).
    Der,
    /// ECDSA in ASN.1 DER converted with `ecdsa_der_to_jose` (the right form).
    DerConverted,
    /// A good signature with its last byte cut off.
    Truncated,
    /// A failure that trying again will not fix.
    Fail,
    /// A failure that may pass.
    FailRetryable,
    /// A good signature after this long.
    Hang(Duration),
}

/// A signer holding a ring key of its own, counting its calls.
pub struct TestSigner {
    algorithm: Algorithm,
    key_id: KeyId,
    ecdsa: Option<EcdsaKeyPair>,
    rsa: Option<RsaKeyPair>,
    public_key: Option<PublicKey>,
    behaviour: Behaviour,
    calls: AtomicUsize,
}

impl std::fmt::Debug for TestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigner").field("key_id", &self.key_id).field("behaviour", &self.behaviour).finish()
    }
}

impl TestSigner {
    /// A signer over `creds`' private key, answering as `behaviour` says.
    pub fn new(creds: &ClientCredentials, behaviour: Behaviour) -> Self {
        let algorithm: Algorithm = creds.algorithm.as_str().parse().unwrap();
        let rng = SystemRandom::new();
        let der = behaviour == Behaviour::Der || behaviour == Behaviour::DerConverted;
        let (ecdsa, rsa) = match algorithm {
            Algorithm::Es256 => {
                let alg =
                    if der { &sig::ECDSA_P256_SHA256_ASN1_SIGNING } else { &sig::ECDSA_P256_SHA256_FIXED_SIGNING };
                (Some(EcdsaKeyPair::from_pkcs8(alg, &creds.private_key_der, &rng).unwrap()), None)
            }
            Algorithm::Es384 => {
                let alg =
                    if der { &sig::ECDSA_P384_SHA384_ASN1_SIGNING } else { &sig::ECDSA_P384_SHA384_FIXED_SIGNING };
                (Some(EcdsaKeyPair::from_pkcs8(alg, &creds.private_key_der, &rng).unwrap()), None)
            }
            _ => (None, Some(RsaKeyPair::from_pkcs8(&creds.private_key_der).unwrap())),
        };
        TestSigner {
            algorithm,
            key_id: KeyId::new(&creds.key_id).unwrap(),
            ecdsa,
            rsa,
            public_key: None,
            behaviour,
            calls: AtomicUsize::new(0),
        }
    }

    /// The same, giving `public_key` as its own.
    pub fn with_public_key(mut self, public_key: PublicKey) -> Self {
        self.public_key = Some(public_key);
        self
    }

    /// How many times it was asked to sign.
    pub fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    fn signature(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
        self.calls.fetch_add(1, SeqCst);
        let rng = SystemRandom::new();
        let mut signature = match (&self.ecdsa, &self.rsa) {
            (Some(pair), _) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            (None, Some(pair)) => {
                let padding: &'static dyn sig::RsaEncoding = match self.algorithm {
                    Algorithm::Ps384 => &sig::RSA_PSS_SHA384,
                    Algorithm::Ps512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PSS_SHA256,
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, message, &mut out).unwrap();
                out
            }
            (None, None) => unreachable!(),
        };
        match self.behaviour {
            Behaviour::Fail => Err(SignFailure::new("the test signer refuses, as asked")),
            Behaviour::FailRetryable => Err(SignFailure::retryable("the test signer is busy, as asked")),
            Behaviour::DerConverted => ecdsa_der_to_jose(self.algorithm, &signature),
            Behaviour::Truncated => {
                signature.pop();
                Ok(signature)
            }
            _ => Ok(signature),
        }
    }
}

impl Signer for TestSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    fn public_key(&self) -> Option<PublicKey> {
        self.public_key.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
        if let Behaviour::Hang(duration) = self.behaviour {
            std::thread::sleep(duration);
        }
        self.signature(message)
    }
}

/// [`TestSigner`] as an async signer, waiting with the driver's sleep.
pub struct AsyncTestSigner<D>(pub Arc<TestSigner>, std::marker::PhantomData<fn() -> D>);

impl<D> std::fmt::Debug for AsyncTestSigner<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AsyncTestSigner").field(&self.0).finish()
    }
}

impl<D: Driver> AsyncTestSigner<D> {
    /// `signer`, awaited.
    pub fn new(signer: Arc<TestSigner>) -> Self {
        AsyncTestSigner(signer, std::marker::PhantomData)
    }
}

#[async_trait::async_trait]
impl<D: Driver> AsyncSigner for AsyncTestSigner<D> {
    fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }

    fn key_id(&self) -> &KeyId {
        &self.0.key_id
    }

    fn public_key(&self) -> Option<PublicKey> {
        self.0.public_key.clone()
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
        if let Behaviour::Hang(duration) = self.0.behaviour {
            D::sleep(duration).await;
        }
        self.0.signature(message)
    }
}

/// Settings with a short signer timeout and few retries, so that a hanging signer fails fast.
fn signer_config<D: Driver>(server: &TestServer, retries: u32) -> Config<D::Client> {
    let config = config::<D::Client>(server).with_signer_timeout(Duration::from_millis(300));
    let retry = RetryPolicy::default()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
        .unwrap()
        .with_max_retries(retries)
        .with_deadline(Duration::from_secs(10));
    config.with_retry_policy(retry)
}

fn client_id(creds: &ClientCredentials) -> ClientId {
    ClientId::new(&creds.client_id).unwrap()
}

/// A client of `creds`' client whose assertions `signer` signs (blocking).
fn blocking_client<D: Driver>(
    server: &TestServer,
    creds: &ClientCredentials,
    signer: &Arc<TestSigner>,
    retries: u32,
) -> D::Client {
    let credentials = Credentials::signer(client_id(creds), Arc::clone(signer) as Arc<dyn Signer>).unwrap();
    D::client(TokenClient::new(&endpoints(server), credentials), signer_config::<D>(server, retries)).unwrap()
}

/// The same with `signer` as an async signer; `None` where the transport refuses one (checked).
fn async_client<D: Driver>(
    server: &TestServer,
    creds: &ClientCredentials,
    signer: &Arc<TestSigner>,
    retries: u32,
) -> Option<D::Client> {
    let signer: Arc<dyn AsyncSigner> = Arc::new(AsyncTestSigner::<D>::new(Arc::clone(signer)));
    let credentials = Credentials::async_signer(client_id(creds), signer).unwrap();
    let built = D::client(TokenClient::new(&endpoints(server), credentials), signer_config::<D>(server, retries));
    if D::BLOCKING {
        let Err(err) = built else { panic!("a blocking transport took an async signer") };
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("async"), "{err}");
        return None;
    }
    Some(built.unwrap())
}

/// Both kinds of client over `signer`: blocking, then async where the transport drives one.
fn clients<D: Driver>(
    server: &TestServer,
    creds: &ClientCredentials,
    signer: &Arc<TestSigner>,
    retries: u32,
) -> Vec<D::Client> {
    let mut clients = vec![blocking_client::<D>(server, creds, signer, retries)];
    clients.extend(async_client::<D>(server, creds, signer, retries));
    clients
}

fn signer_error(err: Error) -> SignerError {
    match err {
        Error::Signer(err) => err,
        other => panic!("expected a signer error, got {other:?}"),
    }
}

/// ES256 and PS256 keys that live only in the test's signer (verified by the server with the registered
/// public key), blocking and async, with and without a public key given: tokens come, one signature each.
pub fn a_signer_outside_memory_gets_tokens<D: Driver>() {
    for scheme in [Scheme::Http, Scheme::Https] {
        let server = server(scheme);
        for algorithm in [td_oauth_testkit::Algorithm::Es256, td_oauth_testkit::Algorithm::Ps256] {
            let creds = server.register_client(algorithm).unwrap();
            let public = PublicKey::from_der(&creds.public_key_der).unwrap();
            for signer in [
                TestSigner::new(&creds, Behaviour::Sign),
                TestSigner::new(&creds, Behaviour::Sign).with_public_key(public),
            ] {
                let signer = Arc::new(signer);
                for client in clients::<D>(&server, &creds, &signer, 0) {
                    let before = (signer.calls(), server.count_path(TOKEN_PATH));
                    let token = D::block_on(D::client_credentials(&client, Scopes::none()))
                        .unwrap_or_else(|err| panic!("{algorithm:?}: {err}"));
                    assert!(!token.access_token().secret().is_empty());
                    assert_eq!((signer.calls(), server.count_path(TOKEN_PATH)), (before.0 + 1, before.1 + 1));
                    let header = server.last_request().unwrap().assertion_header.unwrap();
                    assert_eq!(header["kid"], creds.key_id.as_str());
                    assert_eq!(header["alg"], algorithm.as_str());
                }
            }
        }
    }
}

/// A KMS-style DER ECDSA signature is refused before anything is sent, naming the fix; the same converted
/// with `ecdsa_der_to_jose` gets a token. A truncated signature is refused too.
pub fn a_signature_of_the_wrong_form_is_refused_before_sending<D: Driver>() {
    let server = server(Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    for behaviour in [Behaviour::Der, Behaviour::Truncated] {
        let signer = Arc::new(TestSigner::new(&creds, behaviour));
        for client in clients::<D>(&server, &creds, &signer, 2) {
            let err = signer_error(D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err());
            assert!(matches!(err, SignerError::WrongForm { .. }), "{behaviour:?}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(&creds.key_id) && message.contains("ES256"), "{message}");
            if behaviour == Behaviour::Der {
                assert!(message.contains("ecdsa_der_to_jose"), "{message}");
            }
        }
        assert_eq!(server.count_path(TOKEN_PATH), 0, "{behaviour:?}: nothing sent");
        assert_eq!(signer.calls(), if D::BLOCKING { 1 } else { 2 }, "{behaviour:?}: not retried");
    }
    let signer = Arc::new(TestSigner::new(&creds, Behaviour::DerConverted));
    for client in clients::<D>(&server, &creds, &signer, 0) {
        D::block_on(D::client_credentials(&client, Scopes::none())).unwrap();
    }
}

/// A signer that gives another key's public key: its first signature does not verify, so no assertion is
/// sent; and one whose public key is of another type is refused when the credentials are made.
pub fn a_signature_that_does_not_verify_with_the_public_key_is_never_sent<D: Driver>() {
    let server = server(Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let other = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let signer = Arc::new(
        TestSigner::new(&creds, Behaviour::Sign).with_public_key(PublicKey::from_der(&other.public_key_der).unwrap()),
    );
    for client in clients::<D>(&server, &creds, &signer, 2) {
        let err = signer_error(D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err());
        assert!(matches!(err, SignerError::NotVerified { .. }), "{err:?}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 0);

    let rsa = server.register_client(td_oauth_testkit::Algorithm::Ps256).unwrap();
    let mismatched =
        TestSigner::new(&creds, Behaviour::Sign).with_public_key(PublicKey::from_der(&rsa.public_key_der).unwrap());
    let err = Credentials::signer(client_id(&creds), Arc::new(mismatched)).unwrap_err();
    assert!(matches!(err, Error::Signer(SignerError::PublicKeyMismatch { .. })), "{err:?}");
    assert!(err.to_string().contains("RSA"), "{err}");
}

/// A signer that fails: a lasting failure is returned at once with its reason and never sent; a passing one
/// is retried within the retry policy.
pub fn a_failing_signer_is_a_signer_error_retried_only_when_it_says_so<D: Driver>() {
    let server = server(Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let signer = Arc::new(TestSigner::new(&creds, Behaviour::Fail));
    for client in clients::<D>(&server, &creds, &signer, 2) {
        let err = D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err();
        assert!(!err.is_retryable());
        let err = signer_error(err);
        assert!(matches!(err, SignerError::Failed { retryable: false, .. }), "{err:?}");
        assert!(err.to_string().contains("refuses, as asked"), "{err}");
    }
    assert_eq!(signer.calls(), if D::BLOCKING { 1 } else { 2 }, "a lasting failure is not retried");

    let busy = Arc::new(TestSigner::new(&creds, Behaviour::FailRetryable));
    for client in clients::<D>(&server, &creds, &busy, 2) {
        let err = signer_error(D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err());
        assert!(matches!(err, SignerError::Failed { retryable: true, .. }), "{err:?}");
    }
    assert_eq!(busy.calls(), if D::BLOCKING { 3 } else { 6 }, "tried once and retried twice, per client");
    assert_eq!(server.count_path(TOKEN_PATH), 0);
}

/// A signer that takes 3 s where the signer timeout is 300 ms: the attempt fails with `TimedOut` after about
/// the timeout, not after the signer, and is retried as a transient failure.
pub fn a_signer_that_hangs_past_the_timeout_times_out<D: Driver>() {
    let server = server(Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let signer = Arc::new(TestSigner::new(&creds, Behaviour::Hang(Duration::from_secs(3))));
    for client in clients::<D>(&server, &creds, &signer, 1) {
        let started = Instant::now();
        let err = D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err();
        let took = started.elapsed();
        assert!(err.is_retryable());
        let err = signer_error(err);
        assert!(
            matches!(err, SignerError::TimedOut { timeout, .. } if timeout == Duration::from_millis(300)),
            "{err:?}"
        );
        assert!(err.to_string().contains("300 ms"), "{err}");
        // Two attempts of 300 ms each and a short backoff; far less than one 3 s signature.
        assert!(took < Duration::from_millis(2500), "gave up after {took:?}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 0);
}
