#![doc = include_str!("../README.md")]

pub mod bench;
pub mod config;
pub mod replay;
pub mod scheduler;
pub mod store;

pub use config::Settings;
pub use store::{Db, Store, StoreError};
pub mod mail;
