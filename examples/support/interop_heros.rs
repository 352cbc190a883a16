//! The HEROs that clients in other languages drive: one of each kind of thing a HERO can do
//! (methods, attributes, remote errors, events, handles, references, realms), on one server.
//! `tests/interop_python.rs` and `tests/interop_node.rs` serve them for their scenarios, and
//! `cargo run --example serve_examples` serves them until stopped, for clients of your own.
//!
//! Not an example of its own: included with `#[path = "support/interop_heros.rs"]` next to
//! `mod lab` (support/lab.rs) and `mod proto { heros::include_proto!("examples.v1"); }`.

use heros::{Hero, LocalHero, Server};

use super::lab::{TestFurnace, TestHero, TestInstrument, TreeNode};
use super::proto;

/// The realm of [`INTEROP_REALM_HERO`]: a call that names another realm (or none) is refused.
pub const INTEROP_REALM: &str = "interop-lab";
/// A TestObject (starting its counter at 5) and a Furnace, in the default realm.
pub const INTEROP_TEST_HERO: &str = "interop-test";
/// An Instrument: `Open` returns a handle to a session, `Read`/`Configure` take it back.
pub const INTEROP_INSTRUMENT: &str = "interop-instrument";
/// A Node (value 1) whose child 0 is [`INTEROP_CHILD`] (value 10), referenced by `Child(0)`.
pub const INTEROP_ROOT: &str = "interop-root";
/// The root node's only child.
pub const INTEROP_CHILD: &str = "interop-child";
/// A TestObject (counter at 7) in realm [`INTEROP_REALM`].
pub const INTEROP_REALM_HERO: &str = "interop-realm-test";
/// gRPC's route guide (streaming methods) with [`INTEROP_GUIDE_FEATURES`] features:
/// `feature-<n>` at latitude 400000000, longitude -740000000 + n * 10000, each name followed by
/// [`INTEROP_GUIDE_PADDING`] dots. Its code (`support/route_guide_hero.rs`) is loaded by the
/// includer (see [`IncludedHeros`]).
pub const INTEROP_GUIDE: &str = "interop-guide";
/// Enough features that listing them all takes far more than the HTTP/2 windows between a HERO
/// and a client hold (32 MiB): a client that reads slowly makes the stream slow.
pub const INTEROP_GUIDE_FEATURES: usize = 8192;
/// Dots after each feature's name: 4 KiB messages.
pub const INTEROP_GUIDE_PADDING: usize = 4096;
/// The stage (`schema/examples/stage.proto`): `Move` is long-running (operations, progress, an
/// intermediate position, cancel), `TimeLeft` reads the caller's deadline. Its code
/// (`support/stage_hero.rs`) is loaded by the includer (see [`IncludedHeros`]).
pub const INTEROP_STAGE: &str = "interop-stage";

/// The interop HEROs whose code the includer loads itself, next to this module: the test files
/// that serve them also include `common` (this module among it) beside their own copy of the
/// route guide or the stage, and a file may be loaded only once per crate.
pub struct IncludedHeros {
    /// [`INTEROP_GUIDE`]: a `RouteGuideServer` of the route guide HERO with
    /// `long_features(INTEROP_GUIDE_FEATURES, INTEROP_GUIDE_PADDING)`, see [`IncludedHeros::new`].
    pub guide: Hero,
    /// [`INTEROP_STAGE`]: a `StageServer` of a `StageHero::default()`.
    pub stage: Hero,
}

impl IncludedHeros {
    /// Names the two services as the interop HEROs.
    pub fn new(route_guide: impl heros::HeroService, stage: impl heros::HeroService) -> Self {
        IncludedHeros {
            guide: Hero::new(INTEROP_GUIDE).interface(route_guide),
            stage: Hero::new(INTEROP_STAGE).interface(stage),
        }
    }
}

/// Shares every interop HERO on `server`, `included` among them, and returns them; they leave
/// when dropped or shut down.
pub async fn share_interop_heros(server: &Server, included: IncludedHeros) -> Vec<LocalHero> {
    let test = Hero::new(INTEROP_TEST_HERO)
        .tag("interop")
        .interface(proto::TestObjectServer::new(TestHero::new(5)))
        .interface(proto::FurnaceServer::new(TestFurnace::default()));
    let instrument = Hero::new(INTEROP_INSTRUMENT).interface(proto::InstrumentServer::new(TestInstrument::new(0)));
    let child = server
        .share(Hero::new(INTEROP_CHILD).interface(proto::NodeServer::new(TreeNode::new(10))))
        .await
        .expect("child node shared");
    let child_stub = proto::NodeRemote::connect(&child.url()).await.expect("a stub of the child");
    let root_node = TreeNode::new(1);
    root_node.children.lock().unwrap().push(child_stub);
    let root = Hero::new(INTEROP_ROOT).interface(proto::NodeServer::new(root_node));
    let realm =
        Hero::new(INTEROP_REALM_HERO).realm(INTEROP_REALM).interface(proto::TestObjectServer::new(TestHero::new(7)));

    let mut heros = vec![child];
    for hero in [test, instrument, root, realm, included.guide, included.stage] {
        heros.push(server.share(hero).await.expect("interop HERO shared"));
    }
    heros
}
