//! Test and demo plumbing for HEROS, kept out of the library: `netns` puts a test, a demo or a
//! benchmark that uses mDNS into a private network namespace (it calls `unshare(2)`), so that no
//! multicast leaves the machine; `routed` simulates two hosts on two subnets behind a router
//! (`ip netns`); `etcd` runs a private etcd server for discovery through etcd; `process` runs a
//! child (an example, a client in another language, a browser script) to its end within a time
//! limit; `python_heros` runs Python HEROS (PyPI `heros`) from a venv, for the tests of interop
//! over zenoh. The `heros` crate's examples and tests, the CLI's tests, heros-zenoh's tests and
//! the benchmark use it; applications do not need it.

use std::fmt::Display;

pub mod etcd;
pub mod netns;
pub mod process;
pub mod python_heros;
pub mod routed;

/// What a test does when something it needs is not installed (e.g. the `etcd` binary): it fails,
/// saying what is missing, so that a CI machine without it cannot pass unnoticed (`.ci/run`
/// installs everything); with `HEROS_TESTS_ALLOW_SKIP=1` it skips instead, saying why (a
/// developer's machine without etcd). Failures of an installed program still fail.
pub fn skip_or_fail(missing: impl Display) {
    if std::env::var("HEROS_TESTS_ALLOW_SKIP").is_ok_and(|allow| allow == "1") {
        println!("skipping (HEROS_TESTS_ALLOW_SKIP=1): {missing}");
    } else {
        panic!("{missing}\n(.ci/run installs it; set HEROS_TESTS_ALLOW_SKIP=1 to skip such tests instead)");
    }
}
