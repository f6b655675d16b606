#![doc = include_str!("../README.md")]

pub mod api;
pub mod bench;
pub mod bench_http;
pub mod bench_mail;
pub mod config;
pub mod replay;
pub mod report;
pub mod scheduler;
pub mod store;

pub use config::Settings;
pub use store::{Db, Store, StoreError};
pub mod mail;
pub mod people;
pub mod serve;
pub mod web;
