//! gRPC server reflection, v1 and v1alpha: what grpcurl and the `heros` CLI see. The descriptors
//! come from the server alone, so a tool can call a HERO whose `.proto` it never saw.

mod common;

#[path = "../examples/support/route_guide_hero.rs"]
mod route_guide_hero;

use prost::Message;
use prost_reflect::{DescriptorPool, Value};
use tokio_stream::StreamExt;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha;

use common::proto;

async fn v1_client(server: &heros::Server) -> ServerReflectionClient<tonic::transport::Channel> {
    let endpoint = format!("http://{}", server.local_addr());
    ServerReflectionClient::new(tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap())
}

/// One request on the bidirectional stream, one response.
async fn ask(
    client: &mut ServerReflectionClient<tonic::transport::Channel>,
    request: MessageRequest,
) -> MessageResponse {
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut replies = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    replies.next().await.expect("one reply").expect("not an error status").message_response.expect("a response")
}

async fn services(client: &mut ServerReflectionClient<tonic::transport::Channel>) -> Vec<String> {
    match ask(client, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(list) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("not a service list: {other:?}"),
    }
}

/// The files for `symbol` and, by name, everything they import, as a tool would fetch them.
async fn pool_for(client: &mut ServerReflectionClient<tonic::transport::Channel>, symbol: &str) -> DescriptorPool {
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let mut wanted = vec![MessageRequest::FileContainingSymbol(symbol.into())];
    while let Some(request) = wanted.pop() {
        let MessageResponse::FileDescriptorResponse(response) = ask(client, request).await else {
            panic!("no file for {symbol}");
        };
        for bytes in response.file_descriptor_proto {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            if files.iter().any(|known| known.name == file.name) {
                continue;
            }
            for import in &file.dependency {
                if !files.iter().any(|known| known.name.as_deref() == Some(import)) {
                    wanted.push(MessageRequest::FileByFilename(import.clone()));
                }
            }
            files.push(file);
            raw.push(bytes);
        }
    }
    // Decoded from the raw bytes, so that extension options survive into the pool.
    let mut set = Vec::new();
    for bytes in &raw {
        prost::encoding::bytes::encode(1, bytes, &mut set);
    }
    DescriptorPool::decode(set.as_slice()).expect("the served files form a complete pool")
}

#[tokio::test]
async fn reflection_lists_the_framework_and_the_interfaces_served_now() {
    let server = common::local_server().await;
    let hero = common::share_test_hero(&server, "reflected", 0).await;
    let mut client = v1_client(&server).await;

    let listed = services(&mut client).await;
    for service in [
        "examples.v1.TestObject",
        "heros.v1.Registry",
        "heros.v1.Sessions",
        "heros.v1.Handles",
        "heros.v1.Attributes",
        "heros.v1.Callbacks",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(listed.iter().any(|s| s == service), "{service} missing from {listed:?}");
    }
    // Furnace's file declares AlarmLog too, but no HERO here serves either.
    assert!(!listed.iter().any(|s| s.starts_with("examples.v1.Furnace") || s == "examples.v1.AlarmLog"));

    // A HERO with another interface arrives: reflection follows.
    let furnace = server
        .share(heros::Hero::new("furnace").interface(proto::FurnaceServer::new(common::lab::TestFurnace::default())))
        .await
        .unwrap();
    assert!(services(&mut client).await.iter().any(|s| s == "examples.v1.Furnace"));

    // ... and forgets the interfaces no HERO serves any more.
    hero.shutdown().await;
    let listed = services(&mut client).await;
    assert!(!listed.iter().any(|s| s == "examples.v1.TestObject"), "{listed:?}");
    assert!(listed.iter().any(|s| s == "examples.v1.Furnace"));
    drop(furnace);
}

#[tokio::test]
async fn the_descriptors_carry_comments_and_heros_options() {
    let server = common::local_server().await;
    let _test = common::share_test_hero(&server, "reflected", 0).await;
    let _furnace = server
        .share(heros::Hero::new("furnace").interface(proto::FurnaceServer::new(common::lab::TestFurnace::default())))
        .await
        .unwrap();
    let mut client = v1_client(&server).await;

    let pool = pool_for(&mut client, "examples.v1.TestObject").await;
    let service = pool.get_service_by_name("examples.v1.TestObject").expect("the service");
    let attribute = pool.get_extension_by_name("heros.v1.attribute").expect("options.proto came along");
    let firmware = service.methods().find(|m| m.name() == "Firmware").unwrap();
    let options = firmware.options();
    assert!(options.has_extension(&attribute), "the attribute option was dropped on the way");
    let readonly = options.get_extension(&attribute);
    let readonly = readonly.as_message().unwrap().get_field_by_name("readonly").unwrap();
    assert_eq!(readonly.as_ref(), &Value::Bool(true));
    let read_temp = service.methods().find(|m| m.name() == "ReadTemp").unwrap();
    assert!(!read_temp.options().has_extension(&attribute));
    assert_eq!(read_temp.input().full_name(), "examples.v1.ReadTempRequest");
    assert!(
        read_temp.input().get_field_by_name("min").is_some() && read_temp.output().get_field_by_name("value").is_some()
    );

    // Events, by a symbol inside the file (a method) rather than the service.
    let pool = pool_for(&mut client, "examples.v1.Furnace.Readings").await;
    let event = pool.get_extension_by_name("heros.v1.event").unwrap();
    let readings = pool.get_service_by_name("examples.v1.Furnace").unwrap().methods().find(|m| m.name() == "Readings");
    let readings = readings.unwrap();
    assert!(readings.is_server_streaming() && readings.options().has_extension(&event));

    // The framework's own services come with their messages.
    let pool = pool_for(&mut client, "heros.v1.Registry").await;
    assert!(pool.get_message_by_name("heros.v1.HeroRef").is_some());
}

#[tokio::test]
async fn v1alpha_answers_like_v1_and_unknown_symbols_are_not_found() {
    use v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use v1alpha::server_reflection_response::MessageResponse as AlphaResponse;

    let server = common::local_server().await;
    let _hero = common::share_test_hero(&server, "reflected", 0).await;
    let endpoint = format!("http://{}", server.local_addr());
    let mut client =
        AlphaClient::new(tonic::transport::Endpoint::from_shared(endpoint).unwrap().connect().await.unwrap());
    let requests = [
        AlphaRequest::ListServices(String::new()),
        AlphaRequest::FileContainingSymbol("examples.v1.TestObject".into()),
        AlphaRequest::FileContainingSymbol("examples.v1.NoSuchThing".into()),
    ]
    .map(|request| v1alpha::ServerReflectionRequest { host: String::new(), message_request: Some(request) });
    let replies: Vec<_> =
        client.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner().collect().await;
    let replies: Vec<AlphaResponse> = replies.into_iter().map(|r| r.unwrap().message_response.unwrap()).collect();

    let AlphaResponse::ListServicesResponse(list) = &replies[0] else { panic!("{:?}", replies[0]) };
    assert!(list.service.iter().any(|s| s.name == "examples.v1.TestObject"));
    let AlphaResponse::FileDescriptorResponse(file) = &replies[1] else { panic!("{:?}", replies[1]) };
    let file = prost_types::FileDescriptorProto::decode(file.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(file.name(), "examples/testobject.proto");
    let AlphaResponse::ErrorResponse(error) = &replies[2] else { panic!("{:?}", replies[2]) };
    assert_eq!(error.error_code, tonic::Code::NotFound as i32);
    assert!(error.error_message.contains("examples.v1.NoSuchThing"), "{}", error.error_message);
    assert_eq!(replies.len(), 3, "the stream stays open after a failed lookup");

    // The v1 service knows the same interface.
    let mut v1 = v1_client(&server).await;
    assert!(services(&mut v1).await.iter().any(|s| s == "examples.v1.TestObject"));
}

#[tokio::test]
async fn extensions_are_found_by_number_and_listed_per_message() {
    use tonic_reflection::pb::v1::ExtensionRequest;

    let server = common::local_server().await;
    let _hero = common::share_test_hero(&server, "reflected", 0).await;
    let mut client = v1_client(&server).await;
    let pool = pool_for(&mut client, "heros.v1.attribute").await;
    let attribute = pool.get_extension_by_name("heros.v1.attribute").unwrap();

    let request = MessageRequest::AllExtensionNumbersOfType("google.protobuf.MethodOptions".into());
    let MessageResponse::AllExtensionNumbersResponse(numbers) = ask(&mut client, request).await else { panic!() };
    assert!(numbers.extension_number.contains(&(attribute.number() as i32)), "{numbers:?}");

    let request = MessageRequest::FileContainingExtension(ExtensionRequest {
        containing_type: "google.protobuf.MethodOptions".into(),
        extension_number: attribute.number() as i32,
    });
    let MessageResponse::FileDescriptorResponse(files) = ask(&mut client, request).await else { panic!() };
    let first = prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(first.name(), "heros/v1/options.proto");

    let request = MessageRequest::AllExtensionNumbersOfType("no.such.Message".into());
    let MessageResponse::ErrorResponse(error) = ask(&mut client, request).await else { panic!() };
    assert_eq!(error.error_code, tonic::Code::NotFound as i32);
}

#[tokio::test]
async fn the_datasource_interface_keeps_its_event_option() {
    // The framework compiles datasource.proto too (without interface code), and its copy is the
    // one served: it must keep `(heros.v1.event)` as codegen's does.
    use heros::datasource::{Boundaries, PolledDatasource};

    let server = common::local_server().await;
    let source = PolledDatasource::new(Boundaries::new());
    let hero = heros::Hero::new("source").interface(heros::datasource::DatasourceServer::from_arc(source));
    let _hero = server.share(hero).await.unwrap();
    let mut client = v1_client(&server).await;
    let pool = pool_for(&mut client, "heros.v1.Datasource").await;
    let event = pool.get_extension_by_name("heros.v1.event").unwrap();
    let service = pool.get_service_by_name("heros.v1.Datasource").unwrap();
    let observable = service.methods().find(|m| m.name() == "ObservableData").unwrap();
    assert!(observable.options().has_extension(&event));
}

#[tokio::test]
async fn a_request_without_a_question_is_an_invalid_argument_on_an_open_stream() {
    let server = common::local_server().await;
    let mut client = v1_client(&server).await;
    let requests = [None, Some(MessageRequest::ListServices(String::new()))]
        .map(|message_request| ServerReflectionRequest { host: String::new(), message_request });
    let replies: Vec<_> =
        client.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner().collect().await;
    let replies: Vec<MessageResponse> = replies.into_iter().map(|r| r.unwrap().message_response.unwrap()).collect();
    let MessageResponse::ErrorResponse(error) = &replies[0] else { panic!("{:?}", replies[0]) };
    assert_eq!(error.error_code, tonic::Code::InvalidArgument as i32);
    assert!(matches!(replies[1], MessageResponse::ListServicesResponse(_)), "the stream goes on");
}

/// Streaming methods (gRPC's route guide, issue 15): each rpc's file comes with the streaming
/// flags of its `MethodDescriptorProto` as the `.proto` declares them, so a dynamic client (the
/// CLI, grpcurl) knows how to call it, and without the event option, which would make a stream
/// an event.
#[tokio::test]
async fn reflection_reports_which_side_of_each_route_guide_rpc_streams() {
    use route_guide_hero::routeguide::RouteGuideServer;
    let server = common::local_server().await;
    let guide = route_guide_hero::RouteGuideHero::new(route_guide_hero::features(3));
    let _guide = server.share(heros::Hero::new("guide").interface(RouteGuideServer::new(guide))).await.unwrap();
    let mut client = v1_client(&server).await;
    assert!(services(&mut client).await.iter().any(|s| s == "routeguide.RouteGuide"));

    // The raw MethodDescriptorProtos, as the server sends them (here asked by a method's name).
    let MessageResponse::FileDescriptorResponse(response) =
        ask(&mut client, MessageRequest::FileContainingSymbol("routeguide.RouteGuide.RouteChat".into())).await
    else {
        panic!("no file for the route guide");
    };
    let file = response
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .find(|file| file.package() == "routeguide")
        .expect("the route guide's file comes first");
    assert_eq!(file.name(), "examples/route_guide.proto");
    let service = file.service.iter().find(|s| s.name() == "RouteGuide").expect("the service");
    let flags: Vec<(&str, bool, bool)> =
        service.method.iter().map(|m| (m.name(), m.client_streaming(), m.server_streaming())).collect();
    assert_eq!(
        flags,
        [
            ("GetFeature", false, false),
            ("ListFeatures", false, true),
            ("RecordRoute", true, false),
            ("RouteChat", true, true)
        ]
    );

    // Read through a pool as a tool would: the same flags, and no event option on the streams.
    let pool = pool_for(&mut client, "routeguide.RouteGuide").await;
    let service = pool.get_service_by_name("routeguide.RouteGuide").unwrap();
    let event = pool.get_extension_by_name("heros.v1.event");
    for method in service.methods() {
        let declared = flags.iter().find(|(name, ..)| *name == method.name()).unwrap();
        assert_eq!((method.is_client_streaming(), method.is_server_streaming()), (declared.1, declared.2));
        assert!(event.as_ref().is_none_or(|event| !method.options().has_extension(event)), "{}", method.name());
    }
    assert_eq!(service.methods().find(|m| m.name() == "RecordRoute").unwrap().output().name(), "RouteSummary");
}
