//! A secured realm (issue 14), over real sockets and real TLS: a server with credentials refuses
//! plaintext clients, certificates of another CA, revoked certificates, an observer that sets
//! or calls, a session id presented by another identity, and a HERO reference that would make
//! it dial somewhere it does not know; a secured stub calls it without extra code. Clients other
//! than the process's own stubs are raw tonic channels, the way another language would connect.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::lab::{CountdownNotifier, RecordingListener};
use common::{proto, raw_call_on, TestHero};
use heros::security::realm;
use heros::{Error, HandleProblem, Hero, Role, Server};
use prost::Message;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Code;

/// A fresh realm CA in a folder of its own, with `server` issued (operate).
fn new_realm(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heros-security-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    realm::init(&dir).expect("realm CA");
    realm::issue(&dir, "server", Role::Operate, None).expect("server certificate");
    dir
}

/// A server of a secured realm on loopback; this process's stubs call it over TLS too.
async fn secured_server(credentials: &Path) -> Server {
    secured_server_result(credentials).await.expect("secured server starts")
}

async fn secured_server_result(credentials: &Path) -> heros::Result<Server> {
    Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(false)
        .credentials(credentials)
        .start()
        .await
}

async fn share_test_hero(server: &Server) -> (heros::LocalHero, Arc<TestHero>) {
    let object = Arc::new(TestHero::new(7));
    let hero =
        server.share(Hero::new("hero").interface(proto::TestObjectServer::from_arc(object.clone()))).await.unwrap();
    (hero, object)
}

/// A tonic channel over TLS that trusts `ca` (a credentials folder's `ca.pem`) and presents the
/// certificate of the credentials folder `client`.
async fn tls_channel(server: &Server, ca: &Path, client: &Path) -> Result<Channel, tonic::transport::Error> {
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca.join("ca.pem"))))
        .identity(Identity::from_pem(read(client.join("cert.pem")), read(client.join("key.pem"))))
        .domain_name(realm::SERVER_NAME);
    Endpoint::from_shared(format!("https://{}", server.local_addr())).unwrap().tls_config(tls)?.connect().await
}

fn set_testme(value: i64) -> Vec<u8> {
    proto::TestmeValue { value: Some(value) }.encode_to_vec()
}

const TESTME: &str = "/examples.v1.TestObject/Testme";
const HELLO: &str = "/examples.v1.TestObject/Hello";

#[tokio::test]
async fn a_secured_stub_calls_a_secured_hero_and_discovery_says_secured() {
    let realm = new_realm("stub");
    let server = secured_server(&realm.join("server")).await;
    let (hero, _object) = share_test_hero(&server).await;
    assert!(hero.info().secured, "the record says the HERO is secured (TXT secured=1)");

    // The server's credentials are the process's: the stub dials over TLS by itself.
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.hello().await.unwrap(), "world");
    stub.set_testme(11).await.unwrap();
    assert_eq!(stub.testme().await.unwrap(), 11);
    assert_eq!(stub.read_temp(0, 10).await.unwrap(), 5.0);
}

#[tokio::test]
async fn a_plaintext_client_is_refused_with_a_clear_error() {
    let realm = new_realm("plain");
    let server = secured_server(&realm.join("server")).await;
    let (_hero, object) = share_test_hero(&server).await;

    let plaintext = common::raw_channel(&server).await;
    let status = raw_call_on(plaintext, TESTME, &[], set_testme(99)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("HEROS_CREDENTIALS"), "the error says what to do: {}", status.message());
    assert!(matches!(Error::from_status(&status), Error::Unauthenticated { .. }));
    assert_eq!(object.testme.get(), 7, "nothing was set");
}

#[tokio::test]
async fn certificates_of_another_ca_are_refused_on_both_sides() {
    let realm = new_realm("ca");
    let server = secured_server(&realm.join("server")).await;
    let (hero, object) = share_test_hero(&server).await;
    let other = new_realm("ca-other");
    let intruder = realm::issue(&other, "intruder", Role::Operate, None).unwrap().dir;

    // A client that trusts the realm but presents a self-made CA's certificate: the server
    // refuses the handshake, the call fails.
    match tls_channel(&server, &realm.join("server"), &intruder).await {
        Ok(channel) => {
            let status = raw_call_on(channel, TESTME, &[], set_testme(99)).await.unwrap_err();
            assert_ne!(status.code(), Code::Ok);
        }
        Err(_refused_at_connect) => {}
    }
    // A client of the other realm altogether does not accept the server's certificate.
    assert!(tls_channel(&server, &other, &intruder).await.is_err(), "the server's certificate is not of that CA");

    // A stub of this process with the other realm's credentials: a clear error, naming TLS.
    heros::use_security(&heros::Config { credentials: Some(intruder), ..Default::default() }).unwrap();
    let Err(error) = proto::TestObjectRemote::connect(&hero.url()).await else { panic!("connected with another CA") };
    assert!(matches!(error, Error::Unauthenticated { .. }), "{error:?}");
    assert!(error.to_string().contains("TLS"), "{error}");
    assert_eq!(object.testme.get(), 7, "nothing was set");
}

#[tokio::test]
async fn an_observer_reads_and_lists_but_may_not_set_call_or_open_sessions() {
    let realm = new_realm("observe");
    let server = secured_server(&realm.join("server")).await;
    let (_hero, object) = share_test_hero(&server).await;
    let observer = realm::issue(&realm, "watcher", Role::Observe, None).unwrap().dir;
    let channel = tls_channel(&server, &observer, &observer).await.expect("the observer connects");

    // Reading an attribute and listing HEROs is observing.
    let read = raw_call_on(channel.clone(), TESTME, &[], Vec::new()).await.expect("an observer reads");
    assert_eq!(proto::TestmeValue::decode(read).unwrap().value, Some(7));
    let list = heros::proto::ListHerosRequest::default().encode_to_vec();
    raw_call_on(channel.clone(), "/heros.v1.Registry/ListHeros", &[], list).await.expect("an observer lists");

    // Setting it and calling a method need "operate", and the error says so.
    let status = raw_call_on(channel.clone(), TESTME, &[], set_testme(99)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let detail = heros::detail_of(&status).expect("an ErrorDetail");
    assert_eq!(detail.kind, "PERMISSION_DENIED");
    assert_eq!(detail.context.get("role").map(String::as_str), Some("operate"));
    assert_eq!(object.testme.get(), 7, "nothing was set");

    let status = raw_call_on(channel.clone(), HELLO, &[], Vec::new()).await.unwrap_err();
    assert!(
        matches!(Error::from_status(&status), Error::PermissionDenied { ref role, .. } if role == "operate"),
        "{status:?}"
    );
    let open = heros::proto::OpenSessionRequest::default().encode_to_vec();
    let status = raw_call_on(channel, "/heros.v1.Sessions/Open", &[], open).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "handles are operating: {status:?}");
}

#[tokio::test]
async fn a_session_id_presented_by_another_identity_is_refused() {
    let realm = new_realm("session");
    let server = secured_server(&realm.join("server")).await;
    let (_hero, _object) = share_test_hero(&server).await;
    let alice = realm::issue(&realm, "alice", Role::Operate, None).unwrap().dir;
    let bob = realm::issue(&realm, "bob", Role::Operate, None).unwrap().dir;
    let alice = tls_channel(&server, &alice, &alice).await.unwrap();
    let bob = tls_channel(&server, &bob, &bob).await.unwrap();

    let open = heros::proto::OpenSessionRequest::default().encode_to_vec();
    let session = raw_call_on(alice.clone(), "/heros.v1.Sessions/Open", &[], open).await.unwrap();
    let session = heros::proto::Session::decode(session).unwrap().id;
    let value = prost_types::Any::from_msg(&proto::TestmeValue { value: Some(1) }).unwrap().encode_to_vec();
    let store = "/heros.v1.Handles/Store";
    raw_call_on(alice.clone(), store, &[("heros-session", &session)], value.clone()).await.expect("the owner stores");

    let status = raw_call_on(bob.clone(), store, &[("heros-session", &session)], value.clone()).await.unwrap_err();
    assert!(
        matches!(Error::from_status(&status), Error::Handle { problem: HandleProblem::UnknownSession, .. }),
        "{status:?}"
    );
    let close = heros::proto::SessionRequest { id: session.clone() }.encode_to_vec();
    raw_call_on(bob, "/heros.v1.Sessions/Close", &[], close).await.expect_err("bob may not end alice's session");
    raw_call_on(alice, store, &[("heros-session", &session)], value).await.expect("still alice's");
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_once_the_denylist_names_it() {
    let realm = new_realm("denylist");
    let server_dir = realm.join("server");
    let server = secured_server(&server_dir).await;
    let (_hero, _object) = share_test_hero(&server).await;
    let mallory = realm::issue(&realm, "mallory", Role::Operate, None).unwrap();
    let channel = tls_channel(&server, &mallory.dir, &mallory.dir).await.unwrap();
    raw_call_on(channel, HELLO, &[], Vec::new()).await.expect("not revoked yet");

    std::fs::write(server_dir.join("denylist"), format!("{}  # mallory\n", mallory.serial)).unwrap();
    let channel = tls_channel(&server, &mallory.dir, &mallory.dir).await.unwrap();
    let status = raw_call_on(channel, HELLO, &[], Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
}

#[tokio::test]
async fn a_hero_reference_to_an_unknown_endpoint_is_refused_without_a_connection() {
    let realm = new_realm("pivot");
    let server = secured_server(&realm.join("server")).await;
    let notifier =
        server.share(Hero::new("notifier").interface(proto::NotifierServer::new(CountdownNotifier))).await.unwrap();
    // What the caller would like the server to reach: a port on another address than the
    // caller's own (the caller is 127.0.0.1).
    let target = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let reference = heros::proto::HeroRef {
        name: "listener".into(),
        realm: server.config().realm.clone(),
        interface: "examples.v1.Listener".into(),
        endpoints: vec![format!("http://{}", target.local_addr().unwrap())],
    };

    let stub = proto::NotifierRemote::connect(&notifier.url()).await.unwrap();
    let error = stub.countdown(&reference, 1).await.unwrap_err();
    assert_eq!(error, Error::DialRefused, "{error:?}");
    assert!(!error.to_string().contains("127.0.0.2"), "the error says nothing about the target: {error}");
    // The server replied only after deciding; a connection it had made would be queued now.
    match target.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the server connected to the target: {other:?}"),
    }
}

#[tokio::test]
async fn a_callback_into_the_realm_is_dialled_over_tls() {
    let realm = new_realm("callback");
    let server = secured_server(&realm.join("server")).await;
    let notifier =
        server.share(Hero::new("notifier").interface(proto::NotifierServer::new(CountdownNotifier))).await.unwrap();
    let notices: Arc<Mutex<Vec<(u32, String)>>> = Arc::default();
    let listener = RecordingListener { notices: notices.clone() };
    let listener = server.share(Hero::new("listener").interface(proto::ListenerServer::new(listener))).await.unwrap();

    let stub = proto::NotifierRemote::connect(&notifier.url()).await.unwrap();
    assert_eq!(stub.countdown(&listener, 2).await.unwrap(), 2);
    assert_eq!(notices.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_token_server_refuses_calls_without_the_token() {
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .mdns(false)
        .in_process(false)
        .token("correct horse")
        .start()
        .await
        .unwrap();
    let (hero, _object) = share_test_hero(&server).await;

    let channel = common::raw_channel(&server).await;
    let status = raw_call_on(channel.clone(), HELLO, &[], Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = raw_call_on(channel.clone(), HELLO, &[("authorization", "Bearer correct horsf")], Vec::new())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    raw_call_on(channel, HELLO, &[("authorization", "Bearer correct horse")], Vec::new()).await.expect("the token");

    // The process's stubs send the server's token by themselves.
    let stub = proto::TestObjectRemote::connect(&hero.url()).await.unwrap();
    assert_eq!(stub.hello().await.unwrap(), "world");
}

/// Log lines written while a test runs (the one subscriber of this thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn only_an_unsecured_server_on_the_network_warns_and_says_how_to_secure_it() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let start = |bind: &str, credentials: Option<PathBuf>| {
        let mut builder = Server::builder().bind(bind.parse().unwrap()).mdns(false);
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        builder.start()
    };
    let warnings = |logs: &Captured| logs.text().matches("serving without credentials").count();

    let loopback = start("127.0.0.1:0", None).await.unwrap();
    assert_eq!(warnings(&logs), 0, "loopback is private: {}", logs.text());
    let network = start("0.0.0.0:0", None).await.unwrap();
    assert_eq!(warnings(&logs), 1, "{}", logs.text());
    assert!(logs.text().contains("heros realm init"), "the warning says how: {}", logs.text());
    let realm = new_realm("warning");
    let secured = start("0.0.0.0:0", Some(realm.join("server"))).await.unwrap();
    assert_eq!(warnings(&logs), 1, "a secured server does not warn: {}", logs.text());
    for server in [loopback, network, secured] {
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_credentials_folder_that_lacks_a_file_is_refused_naming_it() {
    let realm = new_realm("broken");
    std::fs::remove_file(realm.join("server/key.pem")).unwrap();
    let Err(error) = secured_server_result(&realm.join("server")).await else { panic!("started without a key") };
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert!(error.to_string().contains("key.pem"), "{error}");
}
