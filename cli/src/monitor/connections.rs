//! One connection per HERO (channel, reflection, members), made on first use and kept while
//! the HERO's record stays the same: the page's calls, the health watch and every feed of a
//! HERO share it, and describing a HERO over reflection happens once, not per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heros_runtime::proto::HeroInfo;
use tokio::sync::OnceCell;

use crate::hero::Hero;

pub(crate) struct Connections {
    timeout: Duration,
    /// By HERO name: the record connected to, and the connection once made. A failed connect
    /// leaves the cell empty, so the next use tries again.
    heros: Mutex<HashMap<String, (HeroInfo, Connecting)>>,
}

/// A connection being made, or made: everyone who asks meanwhile waits for the same one.
type Connecting = Arc<OnceCell<Arc<Hero>>>;

impl Connections {
    pub(crate) fn new(timeout: Duration) -> Self {
        Connections { timeout, heros: Mutex::default() }
    }

    /// The connection to the HERO `info` describes; a HERO whose record changed (it moved, or
    /// changed interfaces) is connected to again.
    pub(crate) async fn get(&self, info: HeroInfo) -> anyhow::Result<Arc<Hero>> {
        let cell = {
            let mut heros = self.heros.lock().unwrap_or_else(|e| e.into_inner());
            match heros.get(&info.name) {
                Some((known, cell)) if *known == info => cell.clone(),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    heros.insert(info.name.clone(), (info.clone(), cell.clone()));
                    cell
                }
            }
        };
        let hero = cell.get_or_try_init(|| async { Hero::connect(info, self.timeout).await.map(Arc::new) }).await?;
        Ok(hero.clone())
    }

    /// Drops the connection to a HERO that left (its channel closes with the last user).
    pub(crate) fn forget(&self, name: &str) {
        self.heros.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
    }
}
