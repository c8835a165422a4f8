//! The runtime's end-to-end tests, in one binary so the example chain is
//! compiled once. They need root: they create network namespaces and veth
//! pairs and load XDP programs.

mod cli_errors;
mod conntrack;
mod control;
mod examples;
mod fleet;
mod gateway;
mod macswap;
mod neighbour_discovery;
mod registry;
mod reload;
mod security;
mod support;
mod userland;
