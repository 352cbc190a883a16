//! Datasources, as in HEROS: HEROs that publish observable data (`schema/heros/v1/datasource.proto`).
//!
//! - [`Datasource`]: the standard interface (generated, like any interface); serve an object
//!   with [`DatasourceServer`], call one with [`DatasourceRemote`].
//! - [`PolledDatasource`]: a ready datasource that polls a function on an interval, stamps the
//!   values, classifies them into named [`Boundaries`] (`inbound`) and publishes each set.
//! - [`DatasourceObserver`]: every datasource of a realm, as they come and go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

pub use crate::proto::{DataSet, DataValue};
use crate::{Event, EventObserver, HeroFilter, Received, Result};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/heros.v1.rs"));
}

pub use generated::{Datasource, DatasourceRemote, DatasourceServer, DATASOURCE_INTERFACE};

/// Named ranges per value id: a value's `inbound` is the name of the first range that holds it.
#[derive(Debug, Clone, Default)]
pub struct Boundaries {
    ranges: HashMap<String, Vec<(String, f64, f64)>>,
}

impl Boundaries {
    /// No ranges: every `inbound` stays empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the range `name` = `min..=max` for values of `id`; earlier ranges are checked first.
    pub fn range(mut self, id: impl Into<String>, name: impl Into<String>, min: f64, max: f64) -> Self {
        self.ranges.entry(id.into()).or_default().push((name.into(), min, max));
        self
    }

    /// The name of the range of `id` that holds `value`, or empty.
    pub fn classify(&self, id: &str, value: f64) -> String {
        let ranges = self.ranges.get(id).map(Vec::as_slice).unwrap_or_default();
        ranges
            .iter()
            .find(|(_, min, max)| (*min..=*max).contains(&value))
            .map(|(name, ..)| name.clone())
            .unwrap_or_default()
    }
}

/// A datasource whose values come from polling a function; see [`PolledDatasource::start`].
pub struct PolledDatasource {
    data: Event<DataSet>,
    latest: Mutex<Vec<DataValue>>,
    boundaries: Boundaries,
}

impl PolledDatasource {
    /// A datasource that classifies its values by `boundaries`. Share it with
    /// `heros::Hero::new(name).interface(DatasourceServer::from_arc(source.clone()))`.
    pub fn new(boundaries: Boundaries) -> Arc<Self> {
        Arc::new(PolledDatasource { data: Event::new(), latest: Mutex::new(Vec::new()), boundaries })
    }

    /// Polls `poll` every `interval` (the first poll at once) and publishes each set, until the
    /// datasource is dropped or the returned task is aborted.
    pub fn start<F, Fut>(self: &Arc<Self>, interval: Duration, mut poll: F) -> tokio::task::JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<DataValue>> + Send,
    {
        let source: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            // A slow poll delays the next one instead of bunching them up.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let values = poll().await;
                let Some(source) = source.upgrade() else { return };
                source.publish(values).await;
            }
        })
    }

    /// Stamps (if unstamped) and classifies `values`, keeps them as the latest set and sends
    /// them to every observer.
    pub async fn publish(&self, mut values: Vec<DataValue>) {
        let now = prost_types::Timestamp::from(SystemTime::now());
        for value in &mut values {
            value.timestamp.get_or_insert(now);
            value.inbound = self.boundaries.classify(&value.id, value.value);
        }
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = values.clone();
        self.data.emit(DataSet { values }).await;
    }
}

impl Datasource for PolledDatasource {
    fn observable_data(&self) -> &Event<DataSet> {
        &self.data
    }

    async fn latest(&self) -> Result<Vec<DataValue>> {
        Ok(self.latest.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Every datasource of a realm (or those `filter` lets through), as they come and go.
pub struct DatasourceObserver {
    observer: EventObserver<DataSet>,
}

impl DatasourceObserver {
    /// Observes the datasources of `realm` that pass `filter`.
    pub fn new(realm: &str, filter: HeroFilter) -> Result<Self> {
        Ok(DatasourceObserver {
            observer: EventObserver::new(realm, filter, DATASOURCE_INTERFACE.name, "ObservableData")?,
        })
    }

    /// The next set of values, with the name of the datasource that sent it. Word of missed
    /// sets and of interruptions is logged, not returned.
    pub async fn next(&mut self) -> Option<(String, DataSet)> {
        loop {
            let observed = self.observer.next().await?;
            match observed.received {
                Received::Event(set) => return Some((observed.hero, set)),
                other => tracing::info!(datasource = %observed.hero, "{other:?}"),
            }
        }
    }

    /// How many datasources are followed right now.
    pub fn subscribed(&self) -> usize {
        self.observer.subscribed()
    }
}

/// Waits this long between polls when a program does not say (HEROS's default is 5 s).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_into_the_first_range_that_holds_them() {
        let boundaries = Boundaries::new()
            .range("temperature", "ok", 15.0, 25.0)
            .range("temperature", "warning", 10.0, 30.0)
            .range("humidity", "dry", 0.0, 30.0);
        assert_eq!(boundaries.classify("temperature", 20.0), "ok");
        assert_eq!(boundaries.classify("temperature", 28.0), "warning");
        assert_eq!(boundaries.classify("temperature", 40.0), "");
        assert_eq!(boundaries.classify("pressure", 1.0), "");
    }
}
