//! A remote signing service in the style of HashiCorp Vault's transit engine, on a loopback port: it holds
//! keys that never leave it and signs what it is sent, for the tests and the worked example of a signer
//! outside the client's process.
//!
//! `POST /v1/transit/sign/<key>` with the header `X-Vault-Token` and the body
//! `{"input":"<Base64 of the bytes>","marshaling_algorithm":"asn1"|"jws"}` answers
//! `{"data":{"signature":"vault:v1:<signature>","key_version":1}}`: with `asn1` (Vault's default) the DER
//! `ECDSA-Sig-Value` in standard Base64, with `jws` the fixed `r‖s` in base64url. A wrong token is a 403,
//! an unknown key a 404, both with Vault's `{"errors":[…]}` body. ES256 and ES384 keys (ring's curves).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair};
use serde_json::{Value, json};

use crate::{Algorithm, Error, keys};

/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// A transit-style signing service on `127.0.0.1`, stopped on drop.
///
/// ```
/// use td_oauth_testkit::{Algorithm, SigningService};
///
/// let service = SigningService::start("s.test-token")?;
/// let public_key_pem = service.create_key("app-key", Algorithm::Es256)?;
/// assert!(public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
/// println!("POST {}/v1/transit/sign/app-key", service.url());
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct SigningService {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    token: String,
    keys: Mutex<HashMap<String, Key>>,
    requests: AtomicUsize,
    /// Answers with 503 left to give before signing again.
    unavailable: AtomicUsize,
    /// How long each answer waits, in milliseconds.
    delay_ms: AtomicUsize,
    stopped: AtomicBool,
}

#[derive(Debug)]
struct Key {
    /// Signs in JOSE's fixed form.
    fixed: EcdsaKeyPair,
    /// Signs in ASN.1 DER.
    asn1: EcdsaKeyPair,
}

impl SigningService {
    /// Starts the service on a free loopback port; requests must carry `token` as `X-Vault-Token`.
    pub fn start(token: &str) -> Result<SigningService, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::Bind)?;
        let port = listener.local_addr().map_err(Error::Bind)?.port();
        let shared = Arc::new(Shared { token: token.to_owned(), ..Shared::default() });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("td-oauth-testkit-signing".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accepting.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&accepting);
                    let _ = thread::Builder::new().name("td-oauth-testkit-signing-conn".into()).spawn(move || {
                        let _ = serve(stream, &shared);
                    });
                }
            })
            .map_err(Error::Runtime)?;
        Ok(SigningService { port, shared })
    }

    /// `http://127.0.0.1:<port>`: Vault's address (`VAULT_ADDR`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Generates a key named `name` that never leaves the service, and returns its public key as PEM
    /// (`BEGIN PUBLIC KEY`), to register with the identity server. ES256 or ES384.
    pub fn create_key(&self, name: &str, algorithm: Algorithm) -> Result<String, Error> {
        let (fixed, asn1) = match algorithm {
            Algorithm::Es256 => (&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &sig::ECDSA_P256_SHA256_ASN1_SIGNING),
            Algorithm::Es384 => (&sig::ECDSA_P384_SHA384_FIXED_SIGNING, &sig::ECDSA_P384_SHA384_ASN1_SIGNING),
            other => return Err(Error::KeyGeneration(other)),
        };
        let generated = keys::generate(algorithm)?;
        let rng = SystemRandom::new();
        let pair = |alg| EcdsaKeyPair::from_pkcs8(alg, &generated.pkcs8_der, &rng);
        let key = Key {
            fixed: pair(fixed).map_err(|_| Error::KeyGeneration(algorithm))?,
            asn1: pair(asn1).map_err(|_| Error::KeyGeneration(algorithm))?,
        };
        self.shared.keys.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_owned(), key);
        Ok(keys::pem("PUBLIC KEY", &generated.spki_der))
    }

    /// Answers the next `count` requests with 503, as a sealed or overloaded Vault does.
    pub fn fail_next(&self, count: usize) {
        self.shared.unavailable.store(count, Ordering::SeqCst);
    }

    /// Makes every answer wait `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        let millis = usize::try_from(delay.as_millis()).unwrap_or(usize::MAX);
        self.shared.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SigningService {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// One connection: one request, one answer, then close.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let (mut length, mut token) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-vault-token" => value.trim().clone_into(&mut token),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length.min(MAX_BODY)];
    reader.read_exact(&mut body)?;
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        thread::sleep(Duration::from_millis(delay as u64));
    }
    let (status, answer) = answer(shared, &request_line, &token, &body);
    let text = answer.to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        if status == 200 { "OK" } else { "Error" },
        text.len()
    )?;
    stream.flush()
}

fn errors(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "errors": [message] }))
}

fn answer(shared: &Shared, request_line: &str, token: &str, body: &[u8]) -> (u16, Value) {
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let Some(name) = path.strip_prefix("/v1/transit/sign/") else { return errors(404, "no handler for route") };
    if method != "POST" {
        return errors(405, "unsupported operation");
    }
    if token != shared.token {
        return errors(403, "permission denied");
    }
    if shared.unavailable.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return errors(503, "Vault is sealed");
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else { return errors(400, "failed to parse JSON input") };
    let Some(input) = request["input"].as_str().and_then(|input| STANDARD.decode(input).ok()) else {
        return errors(400, "missing or invalid input: it must be Base64");
    };
    let jws = match request.get("marshaling_algorithm").and_then(Value::as_str) {
        None | Some("asn1") => false,
        Some("jws") => true,
        Some(_) => return errors(400, "unsupported marshaling algorithm"),
    };
    let keys = shared.keys.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(key) = keys.get(name) else { return errors(404, "signing key not found") };
    let pair = if jws { &key.fixed } else { &key.asn1 };
    let Ok(signature) = pair.sign(&SystemRandom::new(), &input) else { return errors(500, "signing failed") };
    let encoded = if jws { URL_SAFE_NO_PAD.encode(signature) } else { STANDARD.encode(signature) };
    (200, json!({ "data": { "signature": format!("vault:v1:{encoded}"), "key_version": 1 } }))
}
