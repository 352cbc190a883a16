//! Shared subscriptions. A feed is one subscription to one member of one HERO (an event, or an
//! attribute's watch), opened when the first page wants it and closed when the last page that
//! wanted it goes: every page watching that member gets the same items through a broadcast
//! channel, so ten open tabs cost the HERO one subscriber, not ten. Items are JSON text, made
//! once per item, not once per page.
//!
//! A feed outlives failures: when the HERO dies or leaves mid-subscription, the feed says so to
//! its pages and subscribes again (with back-off) for as long as pages want it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use prost_reflect::DynamicMessage;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::hub::Hub;
use crate::codec::Received;
use crate::interface::{Kind, Member};
use crate::json::to_json;
use crate::remote::RemoteError;

/// Items a page may fall behind by before it is told how many it missed.
const BACKLOG: usize = 256;
/// Back-off between attempts to subscribe again.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// One item, as the page receives it.
pub(crate) type Item = Arc<str>;

pub(crate) struct Feeds {
    hub: Weak<Hub>,
    /// By HERO name and rpc path; a feed goes away with its last subscription.
    feeds: Mutex<HashMap<(String, String), Weak<Feed>>>,
}

pub(crate) struct Feed {
    sender: broadcast::Sender<Item>,
    /// An attribute's latest value, for pages that come later (a watch sends the current value
    /// only when it opens).
    last: Arc<Mutex<Option<Item>>>,
    task: AbortHandle,
    hub: Weak<Hub>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(hub) = self.hub.upgrade() {
            hub.stats.feeds_live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A page's share of a feed: the feed is kept while this lives.
pub(crate) struct Subscription {
    pub(crate) _feed: Arc<Feed>,
    /// The attribute's value when the page subscribed, if one is known.
    pub(crate) last: Option<Item>,
    pub(crate) items: broadcast::Receiver<Item>,
}

impl Feeds {
    pub(crate) fn new(hub: Weak<Hub>) -> Self {
        Feeds { hub, feeds: Mutex::default() }
    }

    /// A share of the feed of `member` of the HERO `hero`, opening it if no page has it.
    pub(crate) fn subscribe(&self, hero: &str, member: &Member) -> Subscription {
        let key = (hero.to_owned(), rpc_path(member));
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        feeds.retain(|_, feed| feed.strong_count() > 0);
        let feed = match feeds.get(&key).and_then(Weak::upgrade) {
            Some(feed) => feed,
            None => {
                let feed = Arc::new(self.open(hero, member));
                feeds.insert(key, Arc::downgrade(&feed));
                feed
            }
        };
        drop(feeds);
        // Under the lock the pump publishes with: the page gets the value before its receiver
        // opened, or the item in it, never neither.
        let last = feed.last.lock().unwrap_or_else(|e| e.into_inner());
        let items = feed.sender.subscribe();
        let value = last.clone();
        drop(last);
        Subscription { last: value, items, _feed: feed }
    }

    fn open(&self, hero: &str, member: &Member) -> Feed {
        let (sender, _) = broadcast::channel(BACKLOG);
        let last = Arc::new(Mutex::new(None));
        let publisher =
            Publisher { sender: sender.clone(), last: last.clone(), hero: hero.to_owned(), member: member.clone() };
        let task = tokio::spawn(pump(self.hub.clone(), publisher)).abort_handle();
        if let Some(hub) = self.hub.upgrade() {
            hub.stats.feeds_live.fetch_add(1, Ordering::Relaxed);
        }
        Feed { sender, last, task, hub: self.hub.clone() }
    }
}

/// Whether pages get a feed of `member`: attributes, and events, which carry the
/// `heros.v1.event` option. A server stream without it is a streaming method (its stream is
/// the answer to one call with a request of the caller's), not something to subscribe to.
pub(crate) fn has_feed(member: &Member) -> bool {
    match member.kind {
        Kind::Attribute { .. } => true,
        Kind::Event { delivery } => delivery != crate::interface::NO_EVENT_OPTION,
        Kind::Method => false,
    }
}

/// `/<package>.<Service>/<Method>`: the member's identity across reconnections.
fn rpc_path(member: &Member) -> String {
    format!("/{}/{}", member.interface(), member.method.name())
}

/// What a feed's task sends through.
struct Publisher {
    sender: broadcast::Sender<Item>,
    last: Arc<Mutex<Option<Item>>>,
    hero: String,
    member: Member,
}

impl Publisher {
    /// Sends `item` (with the HERO, the member and the time added) to every page of the feed.
    fn send(&self, kind: &str, mut item: Value, keep: bool) {
        item["type"] = json!(kind);
        item["hero"] = json!(self.hero);
        item["member"] = json!(self.member.display_name());
        item["interface"] = json!(self.member.interface());
        item["at"] = json!(unix_millis());
        let item: Item = item.to_string().into();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if keep {
            *last = Some(item.clone());
        }
        // No page listening right now is fine: the feed ends with its last page.
        let _ = self.sender.send(item);
    }
}

/// Subscribes, forwards, and subscribes again after a failure, until the feed is dropped. A
/// failure is told to the pages once, not at every attempt; a HERO that left the roster is
/// waited for (it may come back, restarted) instead of being asked again and again.
async fn pump(hub: Weak<Hub>, publisher: Publisher) {
    let mut retry = FIRST_RETRY;
    let mut told: Option<String> = None;
    loop {
        let Some(strong) = hub.upgrade() else { return };
        let (delivered, problem) = match forward(&strong, &publisher).await {
            Ok(delivered) => (delivered, "the HERO ended the subscription".to_owned()),
            Err((delivered, error)) => (delivered, format!("{error:#}")),
        };
        if delivered || told.as_ref() != Some(&problem) {
            publisher.send("feed_error", json!({ "message": problem }), false);
            told = Some(problem);
        }
        retry = if delivered { FIRST_RETRY } else { (retry * 2).min(LAST_RETRY) };
        let mut roster = strong.roster.subscribe();
        drop(strong);
        tokio::time::sleep(retry).await;
        // Gone from the roster: wait until it is back (the feed's task is aborted if no page
        // wants it any more, and a closed roster means the monitor is stopping).
        if roster.wait_for(|heros| heros.contains_key(&publisher.hero)).await.is_err() {
            return;
        }
    }
}

/// One subscription, to its end; says whether anything came through it.
async fn forward(hub: &Hub, publisher: &Publisher) -> Result<bool, (bool, anyhow::Error)> {
    let failed = |error: anyhow::Error| (false, error);
    let hero = hub.hero(&publisher.hero).await.map_err(|failure| failed(anyhow::anyhow!(failure.message)))?;
    // The member as this connection describes it (the HERO may have been connected again).
    let path = rpc_path(&publisher.member);
    let member = hero
        .members
        .iter()
        .find(|member| rpc_path(member) == path)
        .ok_or_else(|| failed(anyhow::anyhow!("HERO '{}' no longer has {path}", publisher.hero)))?;
    let mut delivered = false;
    let status = |delivered: bool| move |status: tonic::Status| (delivered, RemoteError::from_status(&status).into());
    if let Kind::Attribute { .. } = member.kind {
        let mut values = crate::watch::watch_attribute(&hero, member).await.map_err(failed)?;
        hub.stats.upstream_opened.fetch_add(1, Ordering::Relaxed);
        while let Some(value) = values.message().await.map_err(status(delivered))? {
            let message = crate::watch::attribute_value(member, &value).map_err(|e| (delivered, e))?;
            let value = to_json(&message).get("value").cloned().unwrap_or(Value::Null);
            publisher.send("attribute", json!({ "value": value }), true);
            delivered = true;
        }
    } else {
        let request = DynamicMessage::new(member.method.input());
        let mut events = hero.subscribe(&member.method, request).await.map_err(failed)?;
        hub.stats.upstream_opened.fetch_add(1, Ordering::Relaxed);
        while let Some(received) = events.message().await.map_err(status(delivered))? {
            match received {
                Received::Message { missed, message } => {
                    publisher.send("event", json!({ "event": to_json(&message), "missed": missed }), false)
                }
                Received::Missed(missed) => publisher.send("missed", json!({ "missed": missed }), false),
            }
            delivered = true;
        }
    }
    Ok(delivered)
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}
