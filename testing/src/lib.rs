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

#[cfg(test)]
mod tests {
    // cargo-nextest runs each test in a process of its own: setting the environment is safe.

    #[test]
    #[should_panic(expected = "HEROS_TESTS_ALLOW_SKIP=1")]
    fn a_missing_prerequisite_fails_by_default() {
        std::env::remove_var("HEROS_TESTS_ALLOW_SKIP");
        super::skip_or_fail("no etcd");
    }

    #[test]
    fn a_missing_prerequisite_skips_when_allowed() {
        std::env::set_var("HEROS_TESTS_ALLOW_SKIP", "1");
        super::skip_or_fail("no etcd");
    }

    #[test]
    fn a_missing_etcd_is_not_found_not_a_failed_start() {
        let empty = std::env::temp_dir().join(format!("heros-empty-path-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        std::env::set_var("PATH", &empty);
        let error = super::etcd::Etcd::start().err().expect("no etcd on an empty PATH");
        let _ = std::fs::remove_dir(&empty);
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
        assert!(error.to_string().contains("etcd-server"), "says what to install: {error}");
    }
}
