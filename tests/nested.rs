//! Nested HEROs: methods that return references to HEROs (the stub turns them into typed stubs)
//! and take them as arguments (a callback into the caller, a HERO on a third server), and what
//! happens when a reference points at a HERO that is gone or in another realm.

mod common;

use std::sync::{Arc, Mutex};

use common::lab::{CountdownNotifier, RecordingListener, TreeNode};
use common::proto::{self, NodeRemote, NotifierRemote};
use heros::{AsHeroRef, Error, Hero, LocalHero, Server};
use tonic::Code;

async fn server(in_process: bool) -> Server {
    common::loopback_server(in_process).await
}

async fn share_node(server: &Server, name: &str, value: i64) -> LocalHero {
    server.share(Hero::new(name).interface(proto::NodeServer::new(TreeNode::new(value)))).await.expect("shared")
}

#[tokio::test]
async fn deep_access_reads_naturally_through_returned_references() {
    let server = server(false).await;
    let root = share_node(&server, "root", 0).await;
    let a = share_node(&server, "a", 1).await;
    let b = share_node(&server, "b", 2).await;
    let a0 = share_node(&server, "a0", 10).await;
    let a1 = share_node(&server, "a1", 11).await;
    let root_stub = NodeRemote::connect(&root.url()).await.unwrap();
    let a_stub = NodeRemote::connect(&a.url()).await.unwrap();
    assert_eq!(root_stub.add_child(&a).await.unwrap(), 1);
    assert_eq!(root_stub.add_child(&b).await.unwrap(), 2);
    a_stub.add_child(&a0).await.unwrap();
    a_stub.add_child(&a1).await.unwrap();

    assert_eq!(root_stub.child(0).await.unwrap().child(1).await.unwrap().value().await.unwrap(), 11);
    assert_eq!(root_stub.child(1).await.unwrap().value().await.unwrap(), 2);
    let child = root_stub.child(0).await.unwrap();
    assert_eq!(child.target().name(), "a");
    assert!(!child.target().is_in_process(), "this server is wired (in_process off)");
    // The stub from a reference is a full stub: attributes can be set through it.
    child.set_value(100).await.unwrap();
    assert_eq!(a_stub.value().await.unwrap(), 100);

    let error = root_stub.child(7).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_reference_to_a_hero_of_the_same_process_is_called_without_a_socket() {
    let server = server(true).await;
    let root = share_node(&server, "root", 0).await;
    let leaf = share_node(&server, "leaf", 5).await;
    let root_stub = NodeRemote::connect(&root.url()).await.unwrap();
    root_stub.add_child(&leaf).await.unwrap();
    let child = root_stub.child(0).await.unwrap();
    assert!(child.target().is_in_process());
    assert_eq!(child.value().await.unwrap(), 5);
}

#[tokio::test]
async fn a_client_passes_its_own_hero_and_is_called_back() {
    // Two servers, both wired: the notifier's and the client's own, as in two processes.
    let notifier_server = server(false).await;
    let notifier = notifier_server
        .share(Hero::new("notifier").interface(proto::NotifierServer::new(CountdownNotifier)))
        .await
        .unwrap();
    let client_server = server(false).await;
    let notices: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let listener = RecordingListener { notices: notices.clone() };
    let listener =
        client_server.share(Hero::new("listener").interface(proto::ListenerServer::new(listener))).await.unwrap();

    let stub = NotifierRemote::connect(&notifier.url()).await.unwrap();
    assert_eq!(stub.countdown(&listener, 3).await.unwrap(), 3);
    assert_eq!(
        *notices.lock().unwrap(),
        vec![(0, "3 left".to_owned()), (1, "2 left".to_owned()), (2, "1 left".to_owned())]
    );

    // A callback that fails reaches the caller as the callee's error.
    listener.shutdown().await;
    let error = stub
        .countdown(&heros::proto::HeroRef { interface: String::new(), ..listener_ref(&client_server) }, 1)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error:?}");
    assert!(matches!(error, Error::HeroNotFound { ref name, .. } if name == "listener"), "{error:?}");
}

fn listener_ref(server: &Server) -> heros::proto::HeroRef {
    heros::proto::HeroRef {
        name: "listener".into(),
        realm: server.config().realm.clone(),
        interface: "examples.v1.Listener".into(),
        endpoints: server.endpoints().to_vec(),
    }
}

#[tokio::test]
async fn a_reference_to_a_hero_on_a_third_server_needs_no_discovery() {
    let first = server(false).await;
    let third = server(false).await;
    let root = share_node(&first, "root", 0).await;
    let far = share_node(&third, "far", 33).await;
    let root_stub = NodeRemote::connect(&root.url()).await.unwrap();
    // Passed as a stub (not a LocalHero): the reference carries the endpoint the stub uses.
    let far_stub = NodeRemote::connect(&far.url()).await.unwrap();
    root_stub.add_child(&far_stub).await.unwrap();
    let child = root_stub.child(0).await.unwrap();
    assert_eq!(child.target().endpoint(), far_stub.target().endpoint());
    assert_eq!(child.value().await.unwrap(), 33);
}

#[tokio::test]
async fn a_reference_to_a_hero_that_is_gone_fails_precisely() {
    let root_server = server(false).await;
    let leaf_server = server(false).await;
    let root = share_node(&root_server, "root", 0).await;
    let leaf = share_node(&leaf_server, "leaf", 1).await;
    let root_stub = NodeRemote::connect(&root.url()).await.unwrap();
    root_stub.add_child(&leaf).await.unwrap();

    // The HERO left; its server is still there.
    leaf.shutdown().await;
    let child = root_stub.child(0).await.unwrap();
    let error = child.value().await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert!(matches!(error, Error::HeroNotFound { ref name, .. } if name == "leaf"), "{error:?}");

    // The whole server is gone, and discovery is off: the reference cannot be followed.
    leaf_server.shutdown().await;
    let error = root_stub.child(0).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
}

#[tokio::test]
async fn a_reference_into_another_realm_is_refused() {
    let server = server(false).await;
    let root = share_node(&server, "root", 0).await;
    let stranger = server
        .share(Hero::new("stranger").realm("elsewhere").interface(proto::NodeServer::new(TreeNode::new(9))))
        .await
        .unwrap();
    let root_stub = NodeRemote::connect(&root.url()).await.unwrap();
    let error = root_stub.add_child(&stranger).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    assert!(
        matches!(&error, Error::RealmMismatch { hero, hero_realm, .. } if hero == "stranger" && hero_realm == "elsewhere"),
        "{error:?}"
    );
    // A reference without an interface still works: the stub fills it in.
    let reference = heros::proto::HeroRef { interface: String::new(), ..root.hero_ref() };
    assert_eq!(reference.interface, "");
    let error =
        root_stub.add_child(&heros::proto::HeroRef { realm: "elsewhere".into(), ..reference }).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
}
