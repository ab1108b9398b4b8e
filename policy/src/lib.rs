//! Pure decisions for enclave: who may do what, and (later) which outputs may leave.
//!
//! This crate owns every authorization rule. It does no I/O, reads no clock, no
//! environment and no global randomness: callers pass in the facts they loaded
//! and the current date, and get a [`Decision`] back. A refusal is a value
//! ([`Decision::Deny`] with a [`DenyReason`]), never an error.
//!
//! The gateway can only run a job or show job data while holding an
//! [`Authorized`] value, which only [`authorize`] constructs.
#![warn(missing_docs)]

mod access;
pub mod release;
mod roles;
pub mod sdc;

pub use access::{
    Actor, Authorized, Decision, DenyReason, JobFacts, ProjectFacts, Request, RulesChange, Scope,
    authorize,
};
pub use roles::{Role, RoleSet, UnknownRole};
