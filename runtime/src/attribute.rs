//! `Attribute<T>`: the cell a HERO keeps an attribute in. The HERO reads and changes it locally;
//! remote callers read and (unless the `.proto` says read-only) set it through the stub; anyone
//! may watch it. Python HEROS attributes are plain fields; a cell is what lets the runtime see
//! every change, so that later watchers (and events) need no help from the HERO's code.

use tokio::sync::watch;

/// An attribute's current value, shared between the HERO and the runtime.
#[derive(Debug)]
pub struct Attribute<T> {
    cell: watch::Sender<T>,
}

impl<T: Clone + Send + Sync + 'static> Attribute<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Self {
        Attribute { cell: watch::Sender::new(value) }
    }

    /// The current value.
    pub fn get(&self) -> T {
        self.cell.borrow().clone()
    }

    /// Replaces the value and tells watchers.
    pub fn set(&self, value: T) {
        self.cell.send_replace(value);
    }

    /// Changes the value in place (e.g. `counter.update(|n| *n += 1)`) and tells watchers.
    pub fn update(&self, change: impl FnOnce(&mut T)) {
        self.cell.send_modify(change);
    }

    /// A receiver that sees each new value (the latest one, if several came in between).
    pub fn watch(&self) -> watch::Receiver<T> {
        self.cell.subscribe()
    }
}

impl<T: Clone + Send + Sync + Default + 'static> Default for Attribute<T> {
    fn default() -> Self {
        Attribute::new(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_see_local_changes() {
        let counter = Attribute::new(5_i64);
        let mut watcher = counter.watch();
        counter.update(|n| *n += 1);
        watcher.changed().await.unwrap();
        assert_eq!(*watcher.borrow_and_update(), 6);
        counter.set(10);
        assert_eq!(counter.get(), 10);
    }
}
