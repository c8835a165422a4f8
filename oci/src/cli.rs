//! The registry options every command line that talks to registries takes
//! (`galette pull/run/reload`, `galette-ctl push`), defined once.

use std::path::PathBuf;

use crate::ClientOptions;

/// How to reach a registry.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Trust this CA (PEM) for the registry's certificate, besides the
    /// system's.
    #[arg(long, value_name = "FILE", env = "GALETTE_REGISTRY_CA")]
    pub ca: Option<PathBuf>,
    /// Talk to the registry in plain HTTP, without TLS (only for a registry
    /// on a trusted network; never the default).
    #[arg(long)]
    pub plain_http: bool,
    /// The docker config.json with the registry's credentials (default:
    /// $DOCKER_CONFIG/config.json, else ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// The registry's user and password, `USER:PASSWORD`, instead of the
    /// docker config's.
    #[arg(long, value_name = "USER:PASSWORD", env = "GALETTE_REGISTRY_USER", hide_env_values = true)]
    pub user: Option<String>,
}

impl RegistryArgs {
    pub fn client_options(&self) -> Result<ClientOptions, String> {
        let credentials = match &self.user {
            None => None,
            Some(text) => {
                let (user, password) = text.split_once(':').ok_or_else(|| "--user takes USER:PASSWORD".to_owned())?;
                Some((user.to_owned(), password.to_owned()))
            }
        };
        Ok(ClientOptions {
            ca_file: self.ca.clone(),
            plain_http: self.plain_http,
            docker_config: self.docker_config.clone(),
            credentials,
        })
    }
}
