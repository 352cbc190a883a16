//! A stub whose HERO is served by its own process calls it directly (no encoding, no socket),
//! and must behave exactly as over the network: same values, same errors, same lifecycle.

mod common;

use common::{climate, proto, within};
use heros::{Error, Hero, Server};

async fn in_process_server() -> Server {
    Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).start().await.expect("server starts")
}

#[tokio::test]
async fn a_stub_to_a_hero_of_its_own_process_skips_the_network() {
    let direct = in_process_server().await;
    let hero = common::share_test_hero(&direct, "hero_a", 41).await;
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert!(stub.target().is_in_process());
    assert_eq!(stub.read_temp(10, 20).await.unwrap(), 15.0);
    assert_eq!(stub.hello().await.unwrap(), "world");
    assert_eq!(stub.testme().await.unwrap(), 42, "hello() counted on the very object the server holds");
    stub.set_testme(7).await.unwrap();
    assert_eq!(stub.testme().await.unwrap(), 7);

    // Switched off, the same stub code goes over loopback.
    let wired = common::local_server().await;
    let hero_b = common::share_test_hero(&wired, "hero_b", 0).await;
    let stub_b = proto::TestObjectRemote::connect(&hero_b.url()).await.unwrap();
    assert!(!stub_b.target().is_in_process());
    assert_eq!(stub_b.read_temp(10, 20).await.unwrap(), 15.0);
}

/// Every message kind of the thermostat gives the same answer both ways.
#[tokio::test]
async fn in_process_and_network_answers_are_the_same() {
    let mut answers = Vec::new();
    for server in [in_process_server().await, common::local_server().await] {
        let hero = server
            .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
            .await
            .unwrap();
        let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
        let reading = stub.read().await.unwrap();
        let previous = stub.set_mode(climate::Mode::Cool as i32).await.unwrap();
        let offsets = [("a".to_owned(), 1.0), ("b".to_owned(), 2.0)].into_iter().collect();
        let reference = Some(climate::calibrate_request::Reference::FixedCelsius(21.0));
        let calibrated = stub.calibrate(vec![1u8; 300].into(), offsets, reference).await.unwrap();
        let setpoint = climate::Temperature { celsius: 19.5, tolerance: 0.25 };
        stub.set_setpoint(setpoint).await.unwrap();
        let errors = [
            stub.check(99.0).await.unwrap_err(),
            stub.set_mode(77).await.unwrap_err(),
            stub.calibrate(Default::default(), Default::default(), None).await.unwrap_err(),
        ];
        answers.push(format!(
            "{reading:?} {previous} {calibrated:?} {:?} {:?} {errors:?}",
            stub.setpoint().await.unwrap(),
            stub.serial().await.unwrap()
        ));
        assert_eq!(stub.target().is_in_process(), answers.len() == 1);
        hero.shutdown().await;
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("Failed { kind: \"Overheated\""), "{}", answers[0]);
}

#[tokio::test]
async fn a_hero_leaving_finishes_in_process_calls_and_refuses_new_ones() {
    common::a_leaving_hero_finishes_calls_in_flight(&in_process_server().await, true).await;
}

#[tokio::test]
async fn a_stopped_server_fails_in_process_calls_as_unavailable() {
    let server = in_process_server().await;
    let hero = common::share_test_hero(&server, "hero_a", 1).await;
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.hello().await.unwrap(), "world");
    server.shutdown().await;
    let error = within(5, stub.hello()).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("shut down"), "{error}");
    drop(hero);
}

#[tokio::test]
async fn a_read_only_attribute_is_refused_in_process_too() {
    let server = in_process_server().await;
    let hero = server
        .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
        .await
        .unwrap();
    let target = climate::ThermostatRemote::connect(&hero.url()).await.unwrap().target().clone();
    assert!(target.is_in_process());
    // The generated stub has no setter for Serial; a hand-made request is what another client
    // could send, and it must meet the same refusal.
    let error = target
        .unary::<_, climate::SerialValue>(
            "/lab.climate.v1.Thermostat/Serial",
            climate::SerialValue { value: Some("forged".into()) },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error, Error::ReadOnly { hero: "thermo".into(), attribute: "serial".into() });
    let error = target.unary::<_, climate::SerialValue>("/lab.climate.v1.Thermostat/Nope", (), None).await.unwrap_err();
    assert!(matches!(error, Error::MethodNotFound { ref method, .. } if method == "Nope"), "{error:?}");
    // A request of the wrong message type cannot come from a generated stub; it is still refused.
    let error =
        target.unary::<_, climate::SerialValue>("/lab.climate.v1.Thermostat/Serial", 5_u32, None).await.unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
}

/// `Calibrate` has `timeout_ms: 2000` in its `.proto`: a slower call ends as `Timeout`, in-process
/// and over the network alike, and the HERO stays usable.
#[tokio::test]
async fn a_method_timeout_from_the_proto_ends_a_slow_call() {
    for server in [in_process_server().await, common::local_server().await] {
        let hero = server
            .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
            .await
            .unwrap();
        let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
        let reference = Some(climate::calibrate_request::Reference::FixedCelsius(21.0));
        let slow = [("sleep_ms".to_owned(), 30_000.0)].into_iter().collect();
        let started = std::time::Instant::now();
        let error = within(10, stub.calibrate(Default::default(), slow, reference.clone())).await.unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "in process: {}: {error:?}", stub.target().is_in_process());
        assert!(started.elapsed() >= std::time::Duration::from_millis(1900), "{:?}", started.elapsed());
        let quick = [("sleep_ms".to_owned(), 10.0)].into_iter().collect();
        assert_eq!(stub.calibrate(vec![1, 2].into(), quick, reference).await.unwrap().kept, 2);
        hero.shutdown().await;
    }
}

/// A record that names one of this process's endpoints but a HERO that server does not host
/// (another namespace or container can reuse an address) is dialled, not taken for ours.
#[tokio::test]
async fn an_address_of_ours_naming_a_hero_we_do_not_host_is_dialled() {
    let server = in_process_server().await;
    let _hero = common::share_test_hero(&server, "hero_a", 1).await;
    let mut info = heros::proto::HeroInfo {
        name: "elsewhere".into(),
        realm: heros::DEFAULT_REALM.into(),
        interfaces: vec!["examples.v1.TestObject".into()],
        endpoints: server.endpoints().to_vec(),
        ..Default::default()
    };
    let target = heros::Target::from_info(info.clone(), false).await.unwrap();
    assert!(!target.is_in_process());
    let error = target
        .unary::<_, proto::HelloReply>("/examples.v1.TestObject/Hello", proto::HelloRequest {}, None)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HeroNotFound { ref name, .. } if name == "elsewhere"), "{error:?}");
    // The same address naming the HERO it does host is in-process.
    info.name = "hero_a".into();
    assert!(heros::Target::from_info(info, false).await.unwrap().is_in_process());
}
