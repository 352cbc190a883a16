//! Datasources, as in HEROS: a polled thermometer and hygrometer publish observable data, and an
//! observer prints a live table of every datasource in the realm.
//!
//! ```sh
//! cargo run --example datasource                 # runs until Ctrl-C
//! cargo run --example datasource -- --seconds 5  # or stops by itself
//! ```
//!
//! The datasources live in a second process (this program, started again), found over mDNS in
//! a private network namespace. Each value carries its unit, its raw reading, a timestamp and
//! `inbound`: the name of the configured range it falls in.

#[path = "support/second_process.rs"]
mod second_process;

use std::collections::BTreeMap;
use std::time::Duration;

use heros::datasource::{Boundaries, DataValue, DatasourceObserver, DatasourceServer, PolledDatasource};
use heros::{Hero, HeroFilter, Server};

/// How often the sources poll their (simulated) sensors.
const POLL: Duration = Duration::from_millis(250);

/// The second process: two polled datasources, until the first process is done.
async fn serve_sources(stop: second_process::Stop) -> anyhow::Result<()> {
    let server = Server::global().await?;
    let thermometer = PolledDatasource::new(Boundaries::new().range("temperature", "ok", 18.0, 24.0).range(
        "temperature",
        "warning",
        10.0,
        30.0,
    ));
    let hygrometer = PolledDatasource::new(Boundaries::new().range("humidity", "ok", 30.0, 60.0));
    let mut tick = 0.0_f64;
    let _thermometer_poll = thermometer.start(POLL, move || {
        tick += 1.0;
        // A slow drift with a wobble: it leaves the "ok" range now and then.
        let volts = 0.21 + 0.05 * (tick / 7.0).sin();
        std::future::ready(vec![value("temperature", volts * 100.0, "°C", volts, "V")])
    });
    let mut step = 0.0_f64;
    let _hygrometer_poll = hygrometer.start(POLL, move || {
        step += 1.0;
        let counts = 2000.0 + 900.0 * (step / 5.0).cos();
        std::future::ready(vec![value("humidity", counts / 40.0, "%", counts, "counts")])
    });
    let sources = [("thermometer", thermometer), ("hygrometer", hygrometer)];
    let mut heros = Vec::new();
    for (name, source) in &sources {
        heros.push(server.share(Hero::new(*name).interface(DatasourceServer::from_arc(source.clone()))).await?);
    }
    println!("READY: thermometer and hygrometer, polled every {POLL:?}");
    stop.await;
    for hero in heros {
        hero.shutdown().await;
    }
    Ok(())
}

fn value(id: &str, value: f64, unit: &str, raw_value: f64, raw_unit: &str) -> DataValue {
    DataValue { id: id.into(), value, unit: unit.into(), raw_value, raw_unit: raw_unit.into(), ..Default::default() }
}

/// The first process: observe every datasource and print the latest values as a table.
async fn observe() -> anyhow::Result<()> {
    let seconds: Option<u64> =
        std::env::args().skip_while(|a| a != "--seconds").nth(1).map(|s| s.parse()).transpose()?;
    let until = async move {
        match seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(until);
    let mut observer = DatasourceObserver::new(&heros::Config::from_env()?.realm, HeroFilter::any())?;
    let mut latest: BTreeMap<(String, String), DataValue> = BTreeMap::new();
    loop {
        let (source, set) = tokio::select! {
            item = observer.next() => item.ok_or_else(|| anyhow::anyhow!("discovery stopped"))?,
            () = &mut until => break,
        };
        for value in set.values {
            latest.insert((source.clone(), value.id.clone()), value);
        }
        print_table(&latest, observer.subscribed());
    }
    println!("datasource: stopped");
    Ok(())
}

fn print_table(latest: &BTreeMap<(String, String), DataValue>, sources: usize) {
    println!("--- {sources} datasource(s) ---");
    println!("{:<12} {:<12} {:>9} {:<4} {:>10} {:<7} {:<8}", "source", "id", "value", "unit", "raw", "", "inbound");
    for ((source, id), v) in latest {
        let inbound = if v.inbound.is_empty() { "OUT" } else { v.inbound.as_str() };
        println!(
            "{source:<12} {id:<12} {:>9.2} {:<4} {:>10.3} {:<7} {inbound:<8}",
            v.value, v.unit, v.raw_value, v.raw_unit
        );
    }
}

fn main() -> anyhow::Result<()> {
    second_process::run("datasource", "sources", serve_sources, observe)
}
