//! Nested HEROs: a tree in which every node is a HERO of its own, like remoteable's `Node`.
//!
//! ```sh
//! cargo run --example nested_heros
//! ```
//!
//! Two processes, as in `quickstart` (a private network namespace; `HEROS_NETNS=host` uses the
//! real network): this one starts the *tree process*, which shares `root`, its children `root-0`
//! and `root-1` and their children `root-0-0` ... `root-1-1`. This process finds `root` by name
//! over mDNS and walks down with `child(i)`: each call returns a reference that the stub turns
//! into a stub of the child, so a deep read is one line of ordinary code. Then it shares a node
//! of its own, `guest`, and hands it to the root with `add_child`: the root, in the other
//! process, reads the guest's value through the reference (a call back into this process), and
//! the guest shows up in the tree like any other child.

mod proto {
    heros::include_proto!("examples.v1");
}

#[path = "support/second_process.rs"]
mod second_process;

use std::sync::Mutex;

use heros::proto::HeroRef;
use heros::{AsHeroRef, Attribute, LocalHero};
use proto::{Node, NodeRemote, NodeServer};

/// One node: its value, and references to its children, which may live in any process.
struct TreeNode {
    name: String,
    value: Attribute<i64>,
    children: Mutex<Vec<HeroRef>>,
}

impl TreeNode {
    fn new(name: &str, value: i64, children: Vec<HeroRef>) -> Self {
        TreeNode { name: name.to_owned(), value: Attribute::new(value), children: Mutex::new(children) }
    }
}

impl Node for TreeNode {
    fn value(&self) -> &Attribute<i64> {
        &self.value
    }

    async fn child(&self, index: u32) -> heros::Result<HeroRef> {
        let children = self.children.lock().unwrap();
        children.get(index as usize).cloned().ok_or_else(|| {
            heros::Error::invalid_argument(format!("'{}' has no child {index}, only {}", self.name, children.len()))
        })
    }

    async fn add_child(&self, child: NodeRemote) -> heros::Result<u32> {
        // A call from here to wherever the child lives: for the guest, back into the caller.
        let value = child.value().await?;
        println!(
            "'{}' was given '{}' and read its value through the reference: {value}",
            self.name,
            child.target().name()
        );
        let mut children = self.children.lock().unwrap();
        children.push(child.hero_ref());
        Ok(children.len() as u32)
    }

    async fn count_children(&self) -> heros::Result<u32> {
        Ok(self.children.lock().unwrap().len() as u32)
    }
}

/// Shares a node called `name` and keeps it in `shared`; returns the reference its parent keeps.
async fn share_node(
    shared: &mut Vec<LocalHero>,
    name: &str,
    value: i64,
    children: Vec<HeroRef>,
) -> heros::Result<HeroRef> {
    let hero = heros::share(name, NodeServer::new(TreeNode::new(name, value, children))).await?;
    let reference = hero.hero_ref();
    shared.push(hero);
    Ok(reference)
}

/// The tree process: builds the tree bottom-up (a node is made with its children's references),
/// says READY, and serves until `stop` resolves. A value spells the path to its node: `root-1-0`
/// is 110.
async fn serve_tree(stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let mut shared = Vec::new();
    let mut children = Vec::new();
    for i in 0..2 {
        let mut grandchildren = Vec::new();
        for j in 0..2 {
            grandchildren.push(share_node(&mut shared, &format!("root-{i}-{j}"), 100 + 10 * i + j, vec![]).await?);
        }
        children.push(share_node(&mut shared, &format!("root-{i}"), 10 + i, grandchildren).await?);
    }
    share_node(&mut shared, "root", 1, children).await?;
    println!("READY: {} node HEROs, the root at {}", shared.len(), shared.last().expect("root").url());
    stop.await;
    for hero in shared {
        hero.shutdown().await;
    }
    println!("the tree has left");
    Ok(())
}

/// Prints the tree under `root`, one node a line, indented by depth. Every node is reached by
/// `child(i)` alone: the walk never looks a name up.
async fn print_tree(root: NodeRemote) -> heros::Result<()> {
    let mut pending = vec![(root, 0)];
    while let Some((node, depth)) = pending.pop() {
        let here = if node.target().is_in_process() { "  (served by this process)" } else { "" };
        println!("  {:width$}{} = {}{here}", "", node.target().name(), node.value().await?, width = 4 * depth);
        for index in (0..node.count_children().await?).rev() {
            pending.push((node.child(index).await?, depth + 1));
        }
    }
    Ok(())
}

/// This process's side: reads down the tree, then grafts a node of its own onto it.
async fn explore() -> anyhow::Result<()> {
    let root = NodeRemote::connect("root").await?;
    let deep = root.child(0).await?.child(1).await?;
    println!("root.child(0).child(1) is '{}', value {}", deep.target().name(), deep.value().await?);
    println!("the tree:");
    print_tree(root.clone()).await?;

    let guest = heros::share("guest", NodeServer::new(TreeNode::new("guest", 42, vec![]))).await?;
    let count = root.add_child(&guest).await?;
    println!("root.add_child(&guest) -> root has {count} children");
    // The reference went to the other process and comes back: the stub calls the guest directly.
    let back = root.child(count - 1).await?;
    back.set_value(43).await?;
    println!(
        "root.child({}) is '{}', value {} after set_value(43) through it",
        count - 1,
        back.target().name(),
        back.value().await?
    );
    println!("the tree with the guest:");
    print_tree(root).await?;
    guest.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    second_process::run("nested_heros", "tree", serve_tree, explore)
}
