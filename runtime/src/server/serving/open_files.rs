//! The open-files limit. Each connection is a descriptor; a server at its soft limit can accept
//! nothing, not even the connection of a well-behaved client, so the server raises the soft
//! limit to the hard one when it starts and keeps its connection cap below what remains.

/// Descriptors kept for everything that is not an accepted connection: mDNS sockets, the
/// server's own client connections, files behind handles, the runtime.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-files limit to the hard limit, and returns how many connections fit
/// under it (`None`: no limit).
pub(crate) fn raise_and_count() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let before = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::debug!(?before, now = ?limit.current, "raised the open-files limit"),
            Err(error) => {
                tracing::warn!("cannot raise the open-files limit from {before:?}: {error}");
                limit.current = before;
            }
        }
    }
    limit.current.map(|soft| soft.saturating_sub(RESERVED_DESCRIPTORS).max(1))
}
