//! The codegen is general: an interface unrelated to the examples (well-known types, enums,
//! bytes, maps, a oneof, a message-valued attribute, method options) compiles and works.

mod common;

use common::{climate, local_server};
use heros::{Error, Hero};

async fn thermostat() -> (heros::Server, heros::LocalHero, climate::ThermostatRemote) {
    let server = local_server().await;
    let hero = server
        .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
        .await
        .unwrap();
    let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
    (server, hero, stub)
}

#[tokio::test]
async fn every_kind_of_field_travels() {
    let (_server, _hero, stub) = thermostat().await;
    let reading = stub.read().await.unwrap();
    assert_eq!(reading.celsius, 20.5);
    assert_eq!(reading.at.unwrap().seconds, 1_700_000_000);
    assert_eq!(reading.history, [19.0, 20.0, 20.5]);
    assert_eq!(stub.set_mode(climate::Mode::Cool as i32).await.unwrap(), climate::Mode::Heat as i32);
    assert_eq!(stub.read().await.unwrap().mode, climate::Mode::Cool as i32);
    let offsets = [("a".to_owned(), 0.1), ("b".to_owned(), -0.2)].into_iter().collect();
    let reply = stub
        .calibrate(vec![1u8; 1000].into(), offsets, Some(climate::calibrate_request::Reference::Sensor("s1".into())))
        .await
        .unwrap();
    assert_eq!((reply.kept, reply.offsets), (1000, 2));
}

#[tokio::test]
async fn application_errors_arrive_typed() {
    let (_server, _hero, stub) = thermostat().await;
    stub.check(20.0).await.unwrap();
    let error = stub.check(95.0).await.unwrap_err();
    assert_eq!(error, Error::failed("Overheated", "95 C is above 80 C"));
    let error = stub.set_mode(42).await.unwrap_err();
    assert_eq!(error, Error::invalid_argument("no mode 42"));
    let error = stub.calibrate(Default::default(), Default::default(), None).await.unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
}

#[tokio::test]
async fn message_valued_and_read_only_attributes() {
    let (_server, _hero, stub) = thermostat().await;
    assert_eq!(stub.setpoint().await.unwrap(), climate::Temperature { celsius: 21.0, tolerance: 0.5 });
    stub.set_setpoint(climate::Temperature { celsius: 19.0, tolerance: 1.0 }).await.unwrap();
    assert_eq!(stub.setpoint().await.unwrap().celsius, 19.0);
    assert_eq!(stub.serial().await.unwrap(), "TH-0001");
    // `serial` is read-only: the stub has no `set_serial` (a compile-time refusal); the wire
    // refusal is tested in routing.rs.
}

#[tokio::test]
async fn local_changes_are_seen_remotely_and_watchable() {
    let server = local_server().await;
    let object = std::sync::Arc::new(common::TestThermostat::default());
    let hero =
        server.share(Hero::new("thermo").interface(climate::ThermostatServer::from_arc(object.clone()))).await.unwrap();
    let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
    let mut watcher = object.setpoint.watch();
    stub.set_setpoint(climate::Temperature { celsius: 30.0, tolerance: 0.1 }).await.unwrap();
    common::within(5, watcher.changed()).await.unwrap();
    assert_eq!(watcher.borrow().celsius, 30.0, "a remote set reaches the object");
    object.serial.set("TH-0002".into());
    assert_eq!(stub.serial().await.unwrap(), "TH-0002", "a local change reaches the remote");
}

/// Two packages included into one module: every generated name is the package's own (the
/// descriptor sets too: `EXAMPLES_V1_DESCRIPTOR_SET`, `LAB_CLIMATE_V1_DESCRIPTOR_SET`).
mod two_packages_in_one_module {
    heros::include_proto!("examples.v1");
    heros::include_proto!("lab.climate.v1");

    #[test]
    fn both_descriptor_sets_are_there() {
        assert!(std::ptr::eq(TEST_OBJECT_INTERFACE.descriptor_set, EXAMPLES_V1_DESCRIPTOR_SET));
        assert!(std::ptr::eq(THERMOSTAT_INTERFACE.descriptor_set, LAB_CLIMATE_V1_DESCRIPTOR_SET));
    }
}
