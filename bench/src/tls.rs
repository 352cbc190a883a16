//! The benchmark of a secured realm: a HERO call and a 16 MiB echo with TLS and mutual
//! authentication (a realm made for the run, `heros::security::realm`), against raw tonic with
//! the same TLS (rustls with ring, the same certificates, client certificates required) in the
//! same run. The server side is a process of its own (`tls-server`); this process takes the
//! client's credentials with `heros::use_security`, so it runs last.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use heros::security::realm;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::hero::BenchHero;
use crate::measure::{median, megabytes_per_second, Latencies};
use crate::proto::BenchRemote;
use crate::raw::RawClient;
use crate::report::{Better, Report, Row};
use crate::roles::{field, ChildProcess};

const MIB: usize = 1024 * 1024;

fn read(dir: &Path, file: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(dir.join(file)).with_context(|| format!("reading {}", dir.join(file).display()))
}

/// The `tls-server` role: raw tonic and a HERO, both with the credentials folder `dir`.
pub(crate) async fn serve(dir: &str) -> anyhow::Result<()> {
    let dir = PathBuf::from(dir);
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(&dir, "cert.pem")?, read(&dir, "key.pem")?))
        .client_ca_root(Certificate::from_pem(read(&dir, "ca.pem")?));
    let raw = crate::raw::serve_tls(tls).await?;
    let server = heros::Server::builder().bind("127.0.0.1:0".parse()?).mdns(false).credentials(&dir).start().await?;
    let hero = server.share(heros::Hero::new("bench-tls").interface(BenchHero::server())).await?;
    println!("READY tonic={raw} hero={}", hero.url());
    crate::roles::wait_for_stdin_to_close().await;
    hero.shutdown().await;
    Ok(())
}

/// Measures the rows and puts them in `report`: sequential call p50 (`rounds` x `block` calls per
/// side, interleaved) and the 16 MiB echo (`echoes` per side, alternating).
pub(crate) async fn measure(rounds: usize, block: usize, echoes: usize, report: &mut Report) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("heros-bench-realm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    realm::init(&dir)?;
    let server_dir = realm::issue(&dir, "bench-server", heros::Role::Operate, None)?.dir;
    let client_dir = realm::issue(&dir, "bench-client", heros::Role::Operate, None)?.dir;
    let result = measure_with(&server_dir, &client_dir, rounds, block, echoes, report).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_with(
    server_dir: &Path,
    client_dir: &Path,
    rounds: usize,
    block: usize,
    echoes: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut server = ChildProcess::start("tls-server", &[server_dir.to_str().context("a UTF-8 path")?])?;
    let ready = server.line().await?;
    let tonic_address: SocketAddr = field(&ready, "tonic")?.parse()?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(client_dir, "ca.pem")?))
        .identity(Identity::from_pem(read(client_dir, "cert.pem")?, read(client_dir, "key.pem")?))
        .domain_name(realm::SERVER_NAME);
    let tonic = RawClient::connect_tls(tonic_address, tls).await.context("raw tonic over TLS")?;
    heros::use_security(&heros::Config { credentials: Some(client_dir.to_owned()), ..Default::default() })?;
    let hero = BenchRemote::connect(field(&ready, "hero")?).await.context("connecting to the TLS benchmark HERO")?;

    let (mut tonic_calls, mut hero_calls) = (Latencies::default(), Latencies::default());
    for _ in 0..block {
        tonic.add(1.0, 2.0).await;
        hero.add(1.0, 2.0).await?;
    }
    for _ in 0..rounds {
        tonic_calls.take(block, || async { assert_eq!(tonic.add(1.0, 2.0).await, 3.0) }).await;
        hero_calls
            .take(block, || async { assert_eq!(hero.add(1.0, 2.0).await.expect("HERO add over TLS"), 3.0) })
            .await;
    }
    let (call, tonic_call) = (hero_calls.p50_us(), tonic_calls.p50_us());
    report.row(Row {
        figure: "call p50, mTLS".into(),
        unit: "µs",
        hero: call,
        tonic: Some(tonic_call),
        floor: None,
        better: Better::Lower,
    });
    report.set("tls_call_p50_us", call);
    report.set("tls_tonic_p50_us", tonic_call);
    report.set("tls_call_p50_vs_tonic", call / tonic_call);
    report.target("call p50 vs raw tonic, both mTLS", Some(call / tonic_call), 1.10, Better::Lower);

    let payload: Vec<u8> = (0..16 * MIB).map(|i| (i % 251) as u8).collect();
    let (mut tonic_data, mut hero_data) = (payload.clone(), Bytes::from(payload.clone()));
    let (mut tonic_rates, mut hero_rates) = (Vec::new(), Vec::new());
    for _ in 0..echoes {
        let started = Instant::now();
        tonic_data = tonic.echo(tonic_data).await;
        tonic_rates.push(megabytes_per_second(16 * MIB, started.elapsed()));
        let started = Instant::now();
        hero_data = hero.echo(hero_data).await?;
        hero_rates.push(megabytes_per_second(16 * MIB, started.elapsed()));
    }
    anyhow::ensure!(tonic_data == payload && hero_data == payload, "a 16 MiB echo over TLS came back changed");
    let (echo, tonic_echo) = (median(&hero_rates), median(&tonic_rates));
    report.row(Row {
        figure: "echo 16 MiB, mTLS".into(),
        unit: "MB/s",
        hero: echo,
        tonic: Some(tonic_echo),
        floor: None,
        better: Better::Higher,
    });
    report.set("tls_echo16m_mbps", echo);
    report.set("tls_echo16m_tonic_mbps", tonic_echo);
    report.set("tls_echo16m_vs_tonic", echo / tonic_echo);
    report.target("16 MiB echo vs raw tonic, both mTLS", Some(echo / tonic_echo), 1.0 / 1.10, Better::Higher);
    drop(hero);
    server.stop().await
}
