//! Test and demo plumbing for HEROS, kept out of the library: `netns` puts a test, a demo or a
//! benchmark that uses mDNS into a private network namespace (it calls `unshare(2)`), so that no
//! multicast leaves the machine; `routed` simulates two hosts on two subnets behind a router
//! (`ip netns`); `etcd` runs a private etcd server for discovery through etcd; `process` runs a
//! child (an example, a client in another language, a browser script) to its end within a time
//! limit; `python_heros` runs Python HEROS (PyPI `heros`) from a venv, for the tests of interop
//! over zenoh. The `heros` crate's examples and tests, the CLI's tests, heros-zenoh's tests and
//! the benchmark use it; applications do not need it.

pub mod etcd;
pub mod netns;
pub mod process;
pub mod python_heros;
pub mod routed;
