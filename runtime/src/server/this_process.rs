//! The servers of this process, by the endpoints they listen on, so that a stub to a HERO of its
//! own process can call it directly (`client::in_process`) instead of dialling it.

use std::sync::{Arc, Mutex, Weak};

use crate::server::routing::HeroTable;

/// The servers of this process: the endpoints each listens on, and its HERO table.
static SERVERS: Mutex<Vec<(Vec<String>, Weak<HeroTable>)>> = Mutex::new(Vec::new());

/// Makes the server at `endpoints` reachable by in-process stubs.
pub(crate) fn register(endpoints: &[String], table: &Arc<HeroTable>) {
    let mut servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    servers.retain(|(_, table)| table.strong_count() > 0);
    servers.push((endpoints.to_vec(), Arc::downgrade(table)));
}

/// Takes a stopped server out (its stubs' next calls fail as they would over the network).
pub(crate) fn unregister(table: &Arc<HeroTable>) {
    table.close();
    SERVERS.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, t)| !std::ptr::eq(t.as_ptr(), Arc::as_ptr(table)));
}

/// The HERO table of the server of this process that listens at one of `endpoints` and hosts
/// `name` in `realm`, with that endpoint.
pub(crate) fn hosting(endpoints: &[String], name: &str, realm: &str) -> Option<(Arc<HeroTable>, String)> {
    let servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    endpoints.iter().find_map(|endpoint| {
        servers.iter().find_map(|(listening, table)| {
            let table = table.upgrade().filter(|_| listening.contains(endpoint))?;
            let hosted = table.get(name).is_some_and(|hero| hero.realm() == realm);
            hosted.then(|| (table, endpoint.clone()))
        })
    })
}
