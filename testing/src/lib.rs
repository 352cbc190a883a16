//! Test and demo plumbing for HEROS, kept out of the library: `netns` puts a test, a demo or a
//! benchmark that uses mDNS into a private network namespace (it calls `unshare(2)`), so that no
//! multicast leaves the machine; `process` runs a child (an example, a client in another
//! language, a browser script) to its end within a time limit. The `heros` crate's examples and tests, the CLI's tests and the
//! benchmark use it; applications do not need it.

pub mod netns;
pub mod process;
