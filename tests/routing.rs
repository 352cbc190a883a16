//! One server, many HEROs: routing by `heros-name`, and every kind of bad call getting a precise
//! status. No mDNS here: servers on 127.0.0.1, port 0, reached by address.

mod common;

#[path = "../examples/support/stage_hero.rs"]
mod stage_hero;

use common::{climate, encode, local_server, proto, raw_call, raw_call_on, raw_channel, share_test_hero, within};
use heros::{Error, Hero};
use tonic::Code;

fn detail(status: &tonic::Status) -> heros::proto::ErrorDetail {
    heros::detail_of(status).unwrap_or_else(|| panic!("no heros ErrorDetail in {status:?}"))
}

/// A thermostat `thermo` and a TestHero `hero_a` on `server`.
async fn share_thermo_and_hero_a(server: &heros::Server) -> [heros::LocalHero; 2] {
    let thermostat = Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default()));
    [server.share(thermostat).await.unwrap(), share_test_hero(server, "hero_a", 1).await]
}

#[tokio::test]
async fn calls_reach_the_hero_named_in_the_header() {
    let server = local_server().await;
    let a = share_test_hero(&server, "hero_a", 1).await;
    let b = share_test_hero(&server, "hero_b", 100).await;
    let stub_a = proto::TestObjectRemote::connect(&a.url()).await.unwrap();
    let stub_b = proto::TestObjectRemote::connect(&b.url()).await.unwrap();
    stub_a.hello().await.unwrap();
    assert_eq!(stub_a.testme().await.unwrap(), 2);
    assert_eq!(stub_b.testme().await.unwrap(), 100, "hero_b is untouched");
    stub_b.set_testme(7).await.unwrap();
    assert_eq!(stub_b.testme().await.unwrap(), 7);
    assert_eq!(stub_a.testme().await.unwrap(), 2);
    assert_eq!(stub_a.read_temp(0, 10).await.unwrap(), 5.0);
}

#[tokio::test]
async fn the_header_is_optional_when_one_hero_implements_the_service() {
    let server = local_server().await;
    let _heros = share_thermo_and_hero_a(&server).await;
    let reply =
        raw_call(&server, "/lab.climate.v1.Thermostat/Check", &[], encode(&climate::CheckRequest { celsius: 20.0 }))
            .await
            .expect("no header needed");
    assert!(reply.is_empty());
}

#[tokio::test]
async fn an_ambiguous_call_names_the_candidates() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let _b = share_test_hero(&server, "hero_b", 1).await;
    let status =
        raw_call(&server, "/examples.v1.TestObject/Hello", &[], encode(&proto::HelloRequest {})).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("hero_a, hero_b") && status.message().contains("heros-name"), "{status:?}");
    assert_eq!(detail(&status).kind, "AMBIGUOUS_HERO");
}

#[tokio::test]
async fn an_unknown_hero_is_not_found_and_the_known_ones_are_named() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let status = raw_call(
        &server,
        "/examples.v1.TestObject/Hello",
        &[("heros-name", "nobody")],
        encode(&proto::HelloRequest {}),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        Error::from_status(&status),
        Error::HeroNotFound { name: "nobody".into(), realm: "any".into(), known: Some(vec!["hero_a".into()]) }
    );
}

#[tokio::test]
async fn an_unknown_method_lists_the_methods() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let status =
        raw_call(&server, "/examples.v1.TestObject/Explode", &[("heros-name", "hero_a")], vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        Error::from_status(&status),
        Error::MethodNotFound {
            hero: "hero_a".into(),
            interface: "examples.v1.TestObject".into(),
            method: "Explode".into(),
            expected: "method".into(),
            available: vec!["ReadTemp".into(), "Hello".into(), "Testme".into(), "Firmware".into()],
        }
    );
}

#[tokio::test]
async fn an_interface_nobody_here_implements_is_unimplemented() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let status = raw_call(&server, "/lab.climate.v1.Thermostat/Read", &[], vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(detail(&status).kind, "INTERFACE_NOT_SERVED");
    let status =
        raw_call(&server, "/lab.climate.v1.Thermostat/Read", &[("heros-name", "hero_a")], vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(status.message().contains("implements: examples.v1.TestObject"), "{status:?}");
}

#[tokio::test]
async fn setting_a_read_only_attribute_is_refused() {
    let server = local_server().await;
    let hero = share_test_hero(&server, "hero_a", 1).await;
    let request = encode(&proto::FirmwareValue { value: Some("9.9.9".into()) });
    let status =
        raw_call(&server, "/examples.v1.TestObject/Firmware", &[("heros-name", "hero_a")], request).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(Error::from_status(&status), Error::ReadOnly { hero: "hero_a".into(), attribute: "firmware".into() });
    // Nothing changed, and reading still works.
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.firmware().await.unwrap(), "1.0.0");
}

#[tokio::test]
async fn bytes_that_do_not_decode_are_an_invalid_argument() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let garbage = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let status =
        raw_call(&server, "/examples.v1.TestObject/ReadTemp", &[("heros-name", "hero_a")], garbage).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("do not decode as examples.v1.ReadTempRequest"), "{status:?}");
}

#[tokio::test]
async fn bytes_that_do_not_decode_are_an_invalid_argument_to_the_framework_services_too() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let garbage = vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];
    for (path, request_type) in [
        ("/heros.v1.Registry/ListHeros", "heros.v1.ListHerosRequest"),
        ("/heros.v1.Sessions/Open", "heros.v1.OpenSessionRequest"),
        ("/heros.v1.Handles/Store", "google.protobuf.Any"),
        ("/heros.v1.Handles/Browse", "google.protobuf.Empty"),
        ("/heros.v1.Callbacks/ConnectCallback", "heros.v1.ConnectCallbackRequest"),
        // A server stream: the status comes without a message.
        ("/heros.v1.Attributes/Watch", "heros.v1.WatchRequest"),
    ] {
        let status = raw_call(&server, path, &[("heros-name", "hero_a")], garbage.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert_eq!(detail(&status).kind, "INVALID_ARGUMENT", "{path}");
        assert!(status.message().contains(&format!("do not decode as {request_type}")), "{path}: {status:?}");
    }
}

#[tokio::test]
async fn a_panicking_method_fails_its_call_and_the_connection_serves_on() {
    let server = local_server().await;
    let _t = server
        .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
        .await
        .unwrap();
    let connection = raw_channel(&server).await;
    let check = |celsius: f64| {
        raw_call_on(
            connection.clone(),
            "/lab.climate.v1.Thermostat/Check",
            &[],
            encode(&climate::CheckRequest { celsius }),
        )
    };
    let status = check(-300.0).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(
        Error::from_status(&status),
        Error::Panic {
            hero: "thermo".into(),
            method: "lab.climate.v1.Thermostat/Check".into(),
            message: "-300 C is below absolute zero".into(),
        }
    );
    check(20.0).await.expect("the next call on the same connection is served");
}

#[tokio::test]
async fn a_panicking_method_called_in_process_fails_its_call_and_the_hero_serves_on() {
    let server = common::loopback_server(true).await;
    let hero = server
        .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
        .await
        .unwrap();
    let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
    assert!(stub.target().is_in_process());
    let error = stub.check(-300.0).await.unwrap_err();
    assert_eq!(error.code(), Code::Internal);
    assert_eq!(
        error,
        Error::Panic {
            hero: "thermo".into(),
            method: "lab.climate.v1.Thermostat/Check".into(),
            message: "-300 C is below absolute zero".into(),
        }
    );
    stub.check(20.0).await.expect("the next call is served");
}

#[tokio::test]
async fn control_characters_in_names_and_realms_are_an_invalid_argument() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    for header in ["heros-name", "heros-realm"] {
        for value in ["hero%00_a", "hero%0A_a", "hero\t_a"] {
            let status =
                raw_call(&server, "/examples.v1.TestObject/Hello", &[(header, value)], vec![]).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{header}: {value:?}: {status:?}");
            assert_eq!(detail(&status).kind, "INVALID_ARGUMENT");
            assert!(status.message().contains(header), "{status:?}");
        }
    }
}

#[tokio::test]
async fn a_server_that_does_not_list_its_heros_names_none_in_errors() {
    let limits = heros::Limits { list_heros_in_errors: false, ..Default::default() };
    let server =
        heros::Server::builder().bind("127.0.0.1:0".parse().unwrap()).mdns(false).limits(limits).start().await.unwrap();
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let headers = [("heros-name", "nobody")];
    let status = raw_call(&server, "/examples.v1.TestObject/Hello", &headers, vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(!detail(&status).context.contains_key("known"), "{status:?}");
    assert!(!status.message().contains("hero_a") && status.message().contains("does not list"), "{status:?}");
    assert_eq!(
        Error::from_status(&status),
        Error::HeroNotFound { name: "nobody".into(), realm: "any".into(), known: None }
    );
    // Nor when nobody here implements the interface, nor in the registry.
    let status = raw_call(&server, "/lab.climate.v1.Thermostat/Read", &[], vec![]).await.unwrap_err();
    assert_eq!(
        Error::from_status(&status),
        Error::InterfaceNotServed { interface: "lab.climate.v1.Thermostat".into(), known: None }
    );
    let request = encode(&heros::proto::DescribeHeroRequest { name: "nobody".into() });
    let status = raw_call(&server, "/heros.v1.Registry/DescribeHero", &[], request).await.unwrap_err();
    assert!(!status.message().contains("hero_a"), "{status:?}");
    assert!(matches!(Error::from_status(&status), Error::HeroNotFound { known: None, .. }), "{status:?}");
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_server_lives_on() {
    let server = heros::Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .max_message_size(1024)
        .start()
        .await
        .unwrap();
    let hero = server
        .share(Hero::new("thermo").interface(climate::ThermostatServer::new(common::TestThermostat::default())))
        .await
        .unwrap();
    let big = encode(&climate::CalibrateRequest { blob: vec![7u8; 4096].into(), ..Default::default() });
    let status = raw_call(&server, "/lab.climate.v1.Thermostat/Calibrate", &[], big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let stub = climate::ThermostatRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.serial().await.unwrap(), "TH-0001");
}

#[tokio::test]
async fn a_call_from_another_realm_is_refused() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let headers = [("heros-name", "hero_a"), ("heros-realm", "elsewhere")];
    let status = raw_call(&server, "/examples.v1.TestObject/Hello", &headers, encode(&proto::HelloRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        Error::from_status(&status),
        Error::RealmMismatch { hero: "hero_a".into(), hero_realm: "heros".into(), caller_realm: "elsewhere".into() }
    );
    // A stub told the wrong realm fails at connect, before any call.
    let url = format!("heros://{}/hero_a?realm=elsewhere", server.local_addr());
    let error = proto::TestObjectRemote::connect(&url).await.unwrap_err();
    assert!(matches!(error, Error::RealmMismatch { .. }), "{error:?}");
}

#[tokio::test]
async fn a_name_is_taken_once_per_server() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let twice =
        server.share(Hero::new("hero_a").interface(proto::TestObjectServer::new(common::TestHero::new(0)))).await;
    assert!(matches!(twice, Err(Error::NameConflict { .. })), "{:?}", twice.err());
}

#[tokio::test]
async fn connecting_through_the_wrong_interface_is_refused() {
    let server = local_server().await;
    let a = share_test_hero(&server, "hero_a", 1).await;
    let error = climate::ThermostatRemote::connect(&a.url()).await.unwrap_err();
    assert!(
        matches!(error, Error::InterfaceNotImplemented { ref interface, .. } if interface == "lab.climate.v1.Thermostat")
    );
}

#[tokio::test]
async fn the_registry_lists_and_describes() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let _t = server
        .share(
            Hero::new("thermo")
                .realm("lab")
                .tag("kitchen")
                .metadata("room", "3.14")
                .interface(climate::ThermostatServer::new(common::TestThermostat::default())),
        )
        .await
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut registry = heros::proto::registry_client::RegistryClient::new(channel);
    let all = registry.list_heros(heros::proto::ListHerosRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.heros.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["hero_a", "thermo"]);
    let lab = registry.list_heros(heros::proto::ListHerosRequest { realm: "lab".into() }).await.unwrap().into_inner();
    assert_eq!(lab.heros.len(), 1);
    let info = &lab.heros[0];
    assert_eq!(info.tags, ["climate", "kitchen"], "interface tags and HERO tags");
    assert_eq!(info.metadata.get("room").map(String::as_str), Some("3.14"));
    assert_eq!(info.protocol_version, heros::PROTOCOL_VERSION);
    let described =
        registry.describe_hero(heros::proto::DescribeHeroRequest { name: "thermo".into() }).await.unwrap().into_inner();
    let interface = &described.interfaces[0];
    assert_eq!(interface.name, "lab.climate.v1.Thermostat");
    assert_eq!(interface.doc, "Keeps a room at a set point.");
    let methods: Vec<_> = interface.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(methods, ["Read", "SetMode", "Calibrate", "Check"]);
    assert_eq!(interface.methods[0].request_type, "google.protobuf.Empty");
    let attributes: Vec<_> = interface.attributes.iter().map(|a| (a.name.as_str(), a.readonly)).collect();
    assert_eq!(attributes, [("Setpoint", false), ("Serial", true)]);
    let missing = registry.describe_hero(heros::proto::DescribeHeroRequest { name: "ghost".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn a_hero_leaving_finishes_calls_in_flight_and_refuses_new_ones() {
    common::a_leaving_hero_finishes_calls_in_flight(&local_server().await, false).await;
}

#[tokio::test]
async fn a_server_gone_mid_session_fails_the_next_call_promptly() {
    let server = local_server().await;
    let hero = share_test_hero(&server, "hero_a", 1).await;
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.hello().await.unwrap(), "world");
    hero.shutdown().await;
    server.shutdown().await;
    let started = std::time::Instant::now();
    let error = within(10, stub.hello()).await.unwrap_err();
    assert!(error.is_transient() || matches!(error, Error::HeroNotFound { .. }), "{error:?}");
    println!("next call failed after {:?}: {error}", started.elapsed());
}

#[tokio::test]
async fn a_call_from_another_realm_without_a_name_is_refused_too() {
    let server = local_server().await;
    let _a = share_test_hero(&server, "hero_a", 1).await;
    let status = raw_call(
        &server,
        "/examples.v1.TestObject/Hello",
        &[("heros-realm", "elsewhere")],
        encode(&proto::HelloRequest {}),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(detail(&status).kind, "REALM_MISMATCH");
}

#[tokio::test]
async fn a_bad_environment_variable_stops_the_server_from_starting() {
    // SAFETY of set_var: nextest runs each test in its own process, and this test starts no
    // thread that reads the environment concurrently.
    std::env::set_var("HEROS_BIND", "not-an-address");
    let error = heros::Server::builder().start().await.err().expect("refused");
    assert!(error.to_string().contains("HEROS_BIND"), "{error}");
}

/// One rule for every status message (`<kind>: <text>`, the detail's `message` being the text
/// or the bare free text), and `ErrorDetail.hero` / `.method` filled: for a HERO's own failure,
/// a refused argument, a panic, a read-only attribute and an unknown method, each called by name.
#[tokio::test]
async fn every_error_of_a_hero_call_names_the_hero_and_the_method_and_starts_with_its_kind() {
    let server = local_server().await;
    let _heros = share_thermo_and_hero_a(&server).await;
    let check = |celsius| encode(&climate::CheckRequest { celsius });
    let cases = [
        // An application error (Error::Failed from the method).
        ("/lab.climate.v1.Thermostat/Check", "thermo", check(95.0), "Overheated", "95 C is above 80 C"),
        // A panic in the method.
        ("/lab.climate.v1.Thermostat/Check", "thermo", check(-300.0), "PANIC", "-300 C is below absolute zero"),
        // A refused argument (Error::invalid_argument from the method).
        (
            "/lab.climate.v1.Thermostat/SetMode",
            "thermo",
            encode(&climate::SetModeRequest { mode: 99 }),
            "INVALID_ARGUMENT",
            "no mode 99",
        ),
        // Bytes that do not decode, refused before the method runs.
        ("/lab.climate.v1.Thermostat/Check", "thermo", vec![0xff, 0xff], "INVALID_ARGUMENT", "do not decode"),
        // Not a method of the interface: refused by the router.
        ("/lab.climate.v1.Thermostat/Explode", "thermo", vec![], "METHOD_NOT_FOUND", "has no method 'Explode'"),
        // A read-only attribute set.
        (
            "/examples.v1.TestObject/Firmware",
            "hero_a",
            encode(&proto::FirmwareValue { value: Some("9".into()) }),
            "READ_ONLY",
            "is read-only",
        ),
    ];
    for (path, hero, body, kind, text) in cases {
        let status = raw_call(&server, path, &[("heros-name", hero)], body).await.unwrap_err();
        let detail = detail(&status);
        assert_eq!(detail.kind, kind, "{path}: {status:?}");
        assert_eq!(detail.hero, hero, "{path}: ErrorDetail.hero");
        assert_eq!(detail.method, path.trim_start_matches('/'), "{path}: ErrorDetail.method");
        assert!(status.message().starts_with(&format!("{kind}: ")), "{path}: {:?}", status.message());
        assert!(status.message().contains(text), "{path}: {:?}", status.message());
        assert!(detail.message.contains(text) && !detail.message.starts_with(kind), "{path}: {detail:?}");
    }
    // A name nobody serves: `hero` is the name asked for (docs/PROTOCOL.md, Errors), and no
    // method was reached.
    let status = raw_call(&server, "/lab.climate.v1.Thermostat/Check", &[("heros-name", "nobody")], check(1.0))
        .await
        .unwrap_err();
    let detail = detail(&status);
    assert_eq!((detail.kind.as_str(), detail.hero.as_str()), ("HERO_NOT_FOUND", "nobody"), "{status:?}");
    assert!(status.message().starts_with("HERO_NOT_FOUND: "), "{:?}", status.message());
    // The Rust side reads them back as before: the kind and the bare message.
    let status = raw_call(&server, "/lab.climate.v1.Thermostat/Check", &[("heros-name", "thermo")], check(95.0))
        .await
        .unwrap_err();
    assert_eq!(Error::from_status(&status), Error::failed("Overheated", "95 C is above 80 C"));
}

/// An operation that failed keeps the status its call would have ended with, under the same rule:
/// `<kind>: <text>`, and the HERO and method in its `ErrorDetail`.
#[tokio::test]
async fn a_failed_operation_names_the_hero_and_the_method_in_its_error_detail() {
    use prost::Message;
    let server = local_server().await;
    let stage = Hero::new("stage").interface(proto::StageServer::new(stage_hero::StageHero::default()));
    let _stage = server.share(stage).await.unwrap();
    let request = proto::MoveRequest { target: 1.0, speed: -1.0 };
    let start = heros::proto::StartOperationRequest {
        interface: "examples.v1.Stage".into(),
        method: "Move".into(),
        request: encode(&request).into(),
    };
    let name = [("heros-name", "stage")];
    let started = raw_call(&server, "/heros.v1.Operations/Start", &name, encode(&start)).await.unwrap();
    let id = heros::proto::OperationId { id: heros::proto::Operation::decode(started).unwrap().id };
    let ended = raw_call(&server, "/heros.v1.Operations/Wait", &name, encode(&id)).await.unwrap();
    let ended = heros::proto::Operation::decode(ended).unwrap();
    assert!(ended.error_message.starts_with("INVALID_ARGUMENT: cannot move to 1"), "{ended:?}");
    let detail = ended.error_detail.expect("the error's detail");
    assert_eq!((detail.hero.as_str(), detail.method.as_str()), ("stage", "examples.v1.Stage/Move"));
}
