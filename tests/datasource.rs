//! Datasources: a polled datasource stamps, classifies and publishes its values; subscribers get
//! each set, `Latest` the last one.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::within;
use heros::datasource::{Boundaries, DataValue, DatasourceRemote, DatasourceServer, PolledDatasource};
use heros::{Hero, Received, Server};
use tokio_stream::StreamExt;

#[tokio::test]
async fn a_polled_datasource_publishes_classified_stamped_sets() {
    for in_process in [false, true] {
        let server = Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .mdns(false)
            .in_process(in_process)
            .start()
            .await
            .unwrap();
        let source = PolledDatasource::new(Boundaries::new().range("temperature", "ok", 15.0, 25.0));
        let hero =
            server.share(Hero::new("thermometer").interface(DatasourceServer::from_arc(source.clone()))).await.unwrap();
        let stub = DatasourceRemote::connect(&hero.url()).await.unwrap();
        assert!(stub.latest().await.unwrap().is_empty(), "nothing before the first poll");
        let mut sets = stub.subscribe_observable_data().await.unwrap();

        // Polls 20, 21, 22, ... °C every 10 ms; 20-25 are "ok", above is out of every range.
        let polls = Arc::new(AtomicU32::new(0));
        let poller = source.start(Duration::from_millis(10), {
            let polls = polls.clone();
            move || {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                async move {
                    vec![DataValue {
                        id: "temperature".into(),
                        value: 20.0 + f64::from(n),
                        unit: "°C".into(),
                        raw_value: 0.1 * f64::from(n),
                        raw_unit: "V".into(),
                        ..Default::default()
                    }]
                }
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 8 {
            match within(10, sets.next()).await.unwrap().unwrap() {
                Received::Event(set) => seen.push(set.values[0].clone()),
                other => panic!("unexpected {other:?}"),
            }
        }
        poller.abort();
        for (n, value) in seen.iter().enumerate() {
            assert_eq!(value.value, 20.0 + n as f64, "every poll, in order");
            assert_eq!(value.inbound, if value.value <= 25.0 { "ok" } else { "" }, "{value:?}");
            assert!(value.timestamp.is_some(), "stamped");
        }
        let latest = stub.latest().await.unwrap();
        assert_eq!(latest.len(), 1);
        assert!(latest[0].value >= seen[7].value);
    }
}
