//! Real servers for Galette's tests, each started by the test that needs it
//! on a loopback address and stopped when it is dropped.

mod ca;
mod https;
mod mosquitto;
mod netns;
mod ports;
mod registry;
mod token;

pub use ca::TestCa;
pub use mosquitto::{Mosquitto, MosquittoOptions, mosquitto_pub, mosquitto_sub};
pub use registry::{Registry, RegistryOptions};
