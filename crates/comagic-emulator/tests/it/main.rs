//! Behavioural tests of the emulator over real HTTP (one binary, one module per concern).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;
mod contract;

mod auth_limits;
mod binary;
mod envelope;
mod faults;
mod inspection;
mod lists;
mod modes;
mod sessions_tags;
mod uploads;
