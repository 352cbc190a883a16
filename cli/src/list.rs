//! `heros list`: the HEROs known, as a table or a JSON array; with `--watch`, HEROs joining and
//! leaving as they do.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use heros_runtime::proto::HeroInfo;
use heros_runtime::DiscoveryEvent;
use serde_json::json;

use crate::locate::Locator;
use crate::table::Table;
use crate::zenoh::ZenohHero;

/// Prints the HEROs known after `wait`; with `watch`, then the changes until Ctrl-C or `until`.
pub(crate) async fn run(
    locator: &Locator,
    wait: Duration,
    watch: bool,
    until: Option<Duration>,
    as_json: bool,
) -> Result<()> {
    if !watch {
        print_list(&locator.list(wait).await?, as_json, false);
        return Ok(());
    }
    let changes = async {
        if locator.peers.is_empty() {
            let observer = locator.observer(locator.realm_given.then_some(locator.realm.as_str()))?;
            locator.settle(&observer, wait).await;
            let known = observer.known();
            print_list(&known, as_json, true);
            follow_mdns(observer, Printed::new(known, as_json)).await
        } else {
            let known = locator.list(wait).await?;
            print_list(&known, as_json, true);
            poll_peers(locator, Printed::new(known, as_json), wait).await
        }
    };
    crate::until_stopped(changes, until).await
}

/// `list --zenoh`: the HEROs of discovery (or the peers) and those on zenoh, asked at the same
/// time, with the world each is in (`grpc` or `zenoh`).
pub(crate) async fn both_worlds(locator: &Locator, wait: Duration, as_json: bool) -> Result<()> {
    let (grpc, zenoh) = tokio::try_join!(locator.list(wait), crate::zenoh::list(&locator.realm, wait))?;
    if as_json {
        let grpc = grpc.iter().map(|hero| {
            let mut hero = hero_json(hero);
            hero["world"] = json!("grpc");
            hero
        });
        let all: Vec<serde_json::Value> = grpc.chain(zenoh.iter().map(ZenohHero::json)).collect();
        crate::output::line(format_args!("{}", serde_json::Value::Array(all)));
        return Ok(());
    }
    if grpc.is_empty() && zenoh.is_empty() {
        crate::output::line(format_args!("no HEROs found"));
        return Ok(());
    }
    let mut table = Table::new(&["WORLD", "NAME", "REALM", "INTERFACES", "TAGS", "ENDPOINT"]);
    let grpc = grpc.iter().map(|hero| ("grpc", row(hero)));
    for (world, row) in grpc.chain(zenoh.iter().map(|hero| ("zenoh", hero.row()))) {
        table.row(std::iter::once(world.to_owned()).chain(row).collect());
    }
    crate::output::line(table.render().trim_end());
    Ok(())
}

fn print_list(heros: &[HeroInfo], as_json: bool, watch: bool) {
    if as_json {
        if watch {
            // JSON lines throughout: the HEROs known at the start are "joined" too.
            for hero in heros {
                print_change("joined", hero, true);
            }
        } else {
            crate::output::line(format_args!("{}", serde_json::Value::Array(heros.iter().map(hero_json).collect())));
        }
        return;
    }
    if heros.is_empty() {
        crate::output::line(format_args!("no HEROs found"));
        return;
    }
    let mut table = Table::new(&["NAME", "REALM", "INTERFACES", "TAGS", "ENDPOINT"]);
    for hero in heros {
        table.row(row(hero));
    }
    crate::output::line(table.render().trim_end());
}

fn row(hero: &HeroInfo) -> Vec<String> {
    vec![
        hero.name.clone(),
        hero.realm.clone(),
        hero.interfaces.join(","),
        hero.tags.join(","),
        hero.endpoints.first().cloned().unwrap_or_default(),
    ]
}

/// `+ name realm interfaces tags endpoint` for people; `{"change": .., "hero": {..}}` lines for programs.
fn print_change(change: &str, hero: &HeroInfo, as_json: bool) {
    if as_json {
        crate::output::line(format_args!("{}", json!({ "change": change, "hero": hero_json(hero) })));
        return;
    }
    let sign = match change {
        "joined" => "+",
        "left" => "-",
        _ => "~",
    };
    crate::output::line(format_args!("{sign} {}", row(hero).join("  ").trim_end()));
}

/// A HERO as JSON: name, realm, interfaces, tags, metadata, endpoints.
pub(crate) fn hero_json(hero: &HeroInfo) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> =
        hero.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "name": hero.name,
        "realm": hero.realm,
        "interfaces": hero.interfaces,
        "tags": hero.tags,
        "metadata": metadata,
        "endpoints": hero.endpoints,
    })
}

/// What the user has been shown: a change is printed only if it changes this. The mDNS observer
/// also reports what it saw while the list was collected, and peers are polled whole.
struct Printed {
    heros: BTreeMap<(String, String), HeroInfo>,
    as_json: bool,
}

impl Printed {
    fn new(known: Vec<HeroInfo>, as_json: bool) -> Self {
        Printed { heros: known.into_iter().map(|hero| (key(&hero), hero)).collect(), as_json }
    }

    fn seen(&mut self, hero: HeroInfo) {
        match self.heros.insert(key(&hero), hero.clone()) {
            None => print_change("joined", &hero, self.as_json),
            Some(old) if old != hero => print_change("changed", &hero, self.as_json),
            Some(_) => {}
        }
    }

    fn gone(&mut self, hero: &HeroInfo) {
        if let Some(last) = self.heros.remove(&key(hero)) {
            print_change("left", &last, self.as_json);
        }
    }
}

fn key(hero: &HeroInfo) -> (String, String) {
    (hero.realm.clone(), hero.name.clone())
}

async fn follow_mdns(mut observer: heros_runtime::Observer, mut printed: Printed) -> Result<()> {
    while let Some(event) = observer.next().await {
        match event {
            DiscoveryEvent::Removed(hero) => printed.gone(&hero),
            DiscoveryEvent::Added(hero) | DiscoveryEvent::Updated(hero) => printed.seen(hero),
            // Nobody is reported gone while etcd is away; say why nothing changes meanwhile.
            DiscoveryEvent::Outage(why) => crate::output::warn(format_args!("{why}; the list stays as it was")),
            DiscoveryEvent::Restored => crate::output::warn(format_args!("etcd is reachable again")),
            _ => {}
        }
    }
    Ok(())
}

/// Peers tell nothing by themselves: ask them again every `period` and report the difference.
async fn poll_peers(locator: &Locator, mut printed: Printed, period: Duration) -> Result<()> {
    let realm = locator.realm_given.then_some(locator.realm.as_str());
    loop {
        tokio::time::sleep(period.max(Duration::from_millis(500))).await;
        let now = locator.ask_peers(realm, period.max(Duration::from_secs(1))).await?;
        let gone: Vec<HeroInfo> =
            printed.heros.values().filter(|old| !now.iter().any(|new| key(new) == key(old))).cloned().collect();
        for hero in &gone {
            printed.gone(hero);
        }
        for hero in now {
            printed.seen(hero);
        }
    }
}
