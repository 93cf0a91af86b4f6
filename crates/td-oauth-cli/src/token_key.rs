//! `--private-key-uri`: the client's key on a PKCS#11 token (td-oauth-pkcs11), with the module from
//! `--pkcs11-module` (or the URI's `module-path=`) and the PIN from `--pin-file` or `TALKDESK_PKCS11_PIN`,
//! never from a flag's value. Behind the `pkcs11` feature; without it the flags are refused, saying why.

use td_oauth_core::{Algorithm, ClientId, Credentials};

use crate::args::TokenKey;
use crate::error::CliError;

/// The variable holding the token's PIN itself.
#[cfg(feature = "pkcs11")]
pub(crate) const PIN_VAR: &str = "TALKDESK_PKCS11_PIN";

impl TokenKey {
    /// The URI, when one is given (an empty `TALKDESK_PRIVATE_KEY_URI` counts as none).
    pub(crate) fn uri(&self) -> Option<&str> {
        self.private_key_uri.as_deref().map(str::trim).filter(|uri| !uri.is_empty())
    }

    /// Signed-JWT credentials whose signatures come from the key on the token.
    #[cfg(feature = "pkcs11")]
    pub(crate) fn credentials(
        &self,
        client_id: ClientId,
        key_id: td_oauth_core::KeyId,
        algorithm: Option<Algorithm>,
    ) -> Result<Credentials, CliError> {
        use td_oauth_pkcs11::{Pin, Pkcs11Options, Pkcs11Signer};

        use crate::secrets::{self, Lifetime};

        let uri = self.parsed_uri()?;
        let module = match (&self.pkcs11_module, uri.module_path()) {
            (Some(module), _) => module.clone(),
            (None, Some(module)) => module.to_owned(),
            (None, None) => {
                return Err(CliError::Input(
                    "no PKCS#11 module for --private-key-uri: give --pkcs11-module PATH (or TALKDESK_PKCS11_MODULE), \
                     e.g. /usr/lib/softhsm/libsofthsm2.so or a YubiKey's libykcs11.so"
                        .into(),
                ));
            }
        };
        let pin = match &self.pin_file {
            Some(path) => {
                // Read here rather than with Pin::from_file for the CLI's warning on a file others can read.
                let text = secrets::read_text_file(path, "PIN", Lifetime::LongLived)?;
                let pin = Pin::new(text.lines().next().unwrap_or_default())
                    .map_err(|_| CliError::Input(format!("the PIN file {} is empty", path.display())))?;
                Some(pin)
            }
            None => Pin::from_env(PIN_VAR)?,
        };
        let options = match algorithm {
            Some(algorithm) => Pkcs11Options::default().with_algorithm(algorithm),
            None => Pkcs11Options::default(),
        };
        let signer = Pkcs11Signer::open(&module, &uri, pin, key_id, options)?;
        Ok(Credentials::signer(client_id, std::sync::Arc::new(signer))?)
    }

    #[cfg(not(feature = "pkcs11"))]
    pub(crate) fn credentials(
        &self,
        _client_id: ClientId,
        _key_id: td_oauth_core::KeyId,
        _algorithm: Option<Algorithm>,
    ) -> Result<Credentials, CliError> {
        Err(CliError::Input(
            "--private-key-uri (or TALKDESK_PRIVATE_KEY_URI) needs td-oauth built with the `pkcs11` feature, on by \
             default: reinstall without --no-default-features, or use --private-key-file"
                .into(),
        ))
    }

    /// What the URI names, for `--dry-run`: `the key "app-key" on the token "td"`; no PIN is ever in it.
    #[cfg(feature = "pkcs11")]
    pub(crate) fn describe(&self) -> Option<String> {
        self.parsed_uri().ok().map(|uri| uri.describe_key())
    }

    #[cfg(not(feature = "pkcs11"))]
    pub(crate) fn describe(&self) -> Option<String> {
        None
    }

    #[cfg(feature = "pkcs11")]
    fn parsed_uri(&self) -> Result<td_oauth_pkcs11::Pkcs11Uri, CliError> {
        let text = self.uri().ok_or_else(|| CliError::Input("no --private-key-uri".into()))?;
        Ok(td_oauth_pkcs11::Pkcs11Uri::parse(text)?)
    }
}

#[cfg(feature = "pkcs11")]
impl From<td_oauth_pkcs11::Pkcs11Error> for CliError {
    /// A token that went away or a device hiccup may pass (1); everything else is the input's (2).
    fn from(err: td_oauth_pkcs11::Pkcs11Error) -> Self {
        use td_oauth_pkcs11::Pkcs11Error;
        match err {
            Pkcs11Error::TokenRemoved { .. } | Pkcs11Error::Device { .. } => CliError::Failed(err.to_string()),
            _ => CliError::Input(err.to_string()),
        }
    }
}
