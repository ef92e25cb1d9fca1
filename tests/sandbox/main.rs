//! The sandbox driven through muster's real aws-sdk clients over HTTP: routing, identity,
//! validation, service semantics, faults and the call log.

#[path = "../common/mod.rs"]
mod common;

mod central;
mod detective;
mod organizations;
mod routing;
mod securityhub;
