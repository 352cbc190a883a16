//! A private network namespace for tests and demos that use mDNS (Linux only).
//!
//! Multicast must never leave the machine when HEROS is tested, so every test or demo that uses
//! mDNS first moves itself into a fresh network namespace that holds nothing but a loopback
//! interface: the packets of all HEROs started afterwards stay on that `lo`.
//!
//! Call [`enter_private_network`] at the very start: in `main` before the tokio runtime is built,
//! or first thing in a test run by cargo-nextest (one process per test). The namespace belongs to
//! the calling thread; threads and child processes created afterwards inherit it, threads that
//! exist already (such as tokio workers) stay where they are.
//!
//! This module does not create veth pairs or several namespaces (to simulate several hosts); do
//! that with `ip netns` from a script.

// unshare(2), socket(2) and ioctl(2) have no safe wrapper in std or in the crate's dependencies;
// this module is the only unsafe code of the library.
#![allow(unsafe_code)]
#![cfg(target_os = "linux")]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Moves the calling thread into a new network namespace with only `lo`, and brings `lo` up.
///
/// Each call creates a new, empty namespace. Fails (an `io::Error` saying why) when that is not
/// permitted (not root, no `CAP_SYS_ADMIN`) or when the new namespace has any interface but `lo`
/// up; then the caller must not use mDNS: skip the test or refuse to run the demo.
pub fn enter_private_network() -> io::Result<()> {
    // SAFETY: unshare only takes flags and changes the calling thread's namespaces; it touches no
    // memory of this process.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let why = io::Error::last_os_error();
        return Err(refused(format!(
            "cannot create a private network namespace (unshare(CLONE_NEWNET): {why}); this needs root or CAP_SYS_ADMIN"
        )));
    }
    let socket = control_socket().map_err(|e| refused(format!("private network namespace: socket: {e}")))?;
    let flags = interface_flags(&socket, "lo").map_err(|e| refused(format!("private network namespace: lo: {e}")))?;
    set_interface_flags(&socket, "lo", flags | libc::IFF_UP as libc::c_short)
        .map_err(|e| refused(format!("private network namespace: cannot bring lo up: {e}")))?;
    check_private_network()
}

/// Checks that the calling thread's network namespace has no interface up but `lo`, so that no
/// multicast sent from it can leave the machine. A child process started by a test that called
/// [`enter_private_network`] uses this to make sure it did inherit the namespace.
pub fn check_private_network() -> io::Result<()> {
    // /proc/self is the process's main thread; thread-self is the namespace this thread is in.
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev")
        .map_err(|e| refused(format!("cannot list network interfaces (/proc/thread-self/net/dev): {e}")))?;
    let socket = control_socket().map_err(|e| refused(format!("private network namespace: socket: {e}")))?;
    let mut open = Vec::new();
    // Fallback devices of loaded tunnel modules (tunl0, sit0, ...) exist in every new namespace;
    // they are down, and a down interface sends nothing.
    for name in interface_names(&dev).filter(|name| *name != "lo") {
        match interface_flags(&socket, name) {
            Ok(flags) if flags & libc::IFF_UP as libc::c_short == 0 => {}
            _ => open.push(name.to_owned()),
        }
    }
    if !open.is_empty() {
        return Err(refused(format!(
            "this network namespace has interfaces other than lo up ({}); refusing to use mDNS here, multicast could leave the machine",
            open.join(", ")
        )));
    }
    let lo = interface_flags(&socket, "lo").map_err(|e| refused(format!("private network namespace: lo: {e}")))?;
    if lo & libc::IFF_UP as libc::c_short == 0 {
        return Err(refused("private network namespace: lo is down"));
    }
    Ok(())
}

/// The interface names of a `/proc/net/dev` listing (two header lines, then `name: counters`).
fn interface_names(dev: &str) -> impl Iterator<Item = &str> {
    dev.lines().skip(2).filter_map(|line| line.split_once(':')).map(|(name, _)| name.trim())
}

/// A datagram socket in the calling thread's namespace, the handle interface ioctls go through.
/// An error that says what was refused and why, in words.
fn refused(message: impl Into<String>) -> io::Error {
    io::Error::other(message.into())
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; its result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn request(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data (a name array and a union of integers and addresses), for
    // which all zero bytes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= ifr.ifr_name.len() || name.as_bytes().contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name '{name}'")));
    }
    for (slot, byte) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    Ok(ifr)
}

fn interface_flags(socket: &OwnedFd, name: &str) -> io::Result<libc::c_short> {
    let mut ifr = request(name)?;
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name from and writes the flags into `ifr`,
    // which lives for the whole call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the kernel has written the flags member of the union.
    Ok(unsafe { ifr.ifr_ifru.ifru_flags })
}

fn set_interface_flags(socket: &OwnedFd, name: &str, flags: libc::c_short) -> io::Result<()> {
    let mut ifr = request(name)?;
    ifr.ifr_ifru.ifru_flags = flags;
    // SAFETY: SIOCSIFFLAGS reads the name and the flags from `ifr`, which lives for the whole call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_dev_is_parsed() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
                   face |bytes    packets errs drop fifo frame compressed multicast|bytes\n    \
                   lo:       0       0    0    0    0     0          0         0        0\n  \
                   eth0: 1 2 3\n";
        assert_eq!(interface_names(dev).collect::<Vec<_>>(), vec!["lo", "eth0"]);
    }

    #[test]
    fn long_interface_names_are_refused() {
        assert!(request("lo").is_ok());
        assert!(request(&"x".repeat(16)).is_err());
    }
}
