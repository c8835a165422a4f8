//! A fleet of Galette gateways driven over MQTT with mutual TLS: each device
//! runs `galette agent`, the admin runs `galette-ctl`, and a broker (such as
//! Mosquitto) carries the messages between them.
//!
//! - [`pki`]: the fleet's certificate authority, device, admin and broker
//!   certificates, and the revocation list.
//! - [`acl`]: the topics and the broker's access control list per identity.
//! - [`state`]: the signed desired state and the reported state, as JSON.
//! - [`mqtt`]: a TLS connection to the broker with a client certificate,
//!   reconnecting with backoff, for the agent and for `galette-ctl`.

pub mod acl;
pub mod mqtt;
pub mod pki;
pub mod state;
