//! Real servers for Galette's tests, each started by the test that needs it
//! on a loopback address and stopped when it is dropped.
