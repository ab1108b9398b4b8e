//! enclave gateway: the service core and its front doors, store, audit chain,
//! runner and command line. See ARCHITECTURE.md at the repository root.

pub mod app;
pub mod audit;
pub mod check_cli;
pub mod cli;
pub mod cli_audit;
pub mod command;
pub mod config;
pub mod datagen;
pub mod demo;
pub mod dummy;
pub mod fsutil;
pub mod http;
pub mod local;
pub mod render;
pub mod runner;
pub mod service;
pub mod sftp;
pub mod ssh;
pub mod store;
pub mod telemetry;
