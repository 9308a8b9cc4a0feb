//! The integration tests, in one binary: the layer and the engine over
//! HTTP, every store (PostgreSQL and Redis when `AXES_TEST_POSTGRES_URL` /
//! `AXES_TEST_REDIS_URL` are set), the demo server and the command line
//! tool as processes.

mod common;
#[macro_use]
mod shared_store;

mod admin;
mod attacks;
mod attempts;
mod beyond;
mod breaker;
mod bypass;
#[cfg(feature = "cli")]
mod cli;
mod concurrency;
mod demo_server;
mod examples;
mod faults;
mod fuzz_requests;
mod ipv6;
mod layer_defenses;
mod layer_input;
mod layer_parity;
mod layer_policy;
mod layer_proxies;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "postgres")]
mod postgres_store;
mod private_usernames;
mod properties;
mod racing;
#[cfg(feature = "redis")]
mod redis_store;
mod second_factor;
mod shared_stores;
mod stores;
