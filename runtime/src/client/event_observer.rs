//! [`EventObserver`]: one event of every HERO of a realm that matches a filter (a name pattern,
//! an interface, a tag), with no stubs written by hand (HEROS's `EventObserver`). HEROs that
//! join later are followed too; those that leave are dropped. Each item names its HERO.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio_stream::StreamExt;

use crate::client::event_stream::Received;
use crate::client::Target;
use crate::discovery::{DiscoveryEvent, Observer};
use crate::error::Result;
use crate::proto::HeroInfo;

/// Which HEROs to follow: all conditions given must hold.
#[derive(Debug, Clone, Default)]
pub struct HeroFilter {
    name: Option<String>,
    interface: Option<String>,
    tag: Option<String>,
}

impl HeroFilter {
    /// Every HERO (that has the event's interface).
    pub fn any() -> Self {
        Self::default()
    }

    /// Names matching `pattern`, where `*` stands for any text and `?` for one character.
    pub fn name(mut self, pattern: impl Into<String>) -> Self {
        self.name = Some(pattern.into());
        self
    }

    /// HEROs implementing `interface` (a full service name).
    pub fn interface(mut self, interface: impl Into<String>) -> Self {
        self.interface = Some(interface.into());
        self
    }

    /// HEROs carrying `tag`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Whether `hero` passes.
    pub fn matches(&self, hero: &HeroInfo) -> bool {
        self.name.as_deref().is_none_or(|pattern| glob(pattern, &hero.name))
            && self.interface.as_ref().is_none_or(|i| hero.interfaces.contains(i))
            && self.tag.as_ref().is_none_or(|t| hero.tags.contains(t))
    }
}

/// `*` any text, `?` one character, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut t, mut star, mut resume) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            resume = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            resume += 1;
            t = resume;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// One item of an [`EventObserver`]: which HERO, and what it sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<M> {
    /// The emitting HERO's name.
    pub hero: String,
    /// The event (or word of missed events, or of a gap, as on any subscription).
    pub received: Received<M>,
}

/// Observes one event across the HEROs of a realm; see the module docs.
pub struct EventObserver<M> {
    items: mpsc::Receiver<Observed<M>>,
    subscribed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl<M> Drop for EventObserver<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Items buffered between the followed HEROs and the observer's reader.
const OBSERVER_BUFFER: usize = 1024;

impl<M> EventObserver<M>
where
    M: prost::Message + Default + Clone + Unpin + Send + Sync + 'static,
{
    /// Follows event `event` (its rpc name, e.g. `Overheated`) of `interface` on every HERO of
    /// `realm` that `filter` lets through. The event's request must be `google.protobuf.Empty`.
    pub fn new(realm: &str, filter: HeroFilter, interface: &str, event: &str) -> Result<Self> {
        let observer = Observer::new(realm)?;
        let filter = filter.interface(interface);
        // One small string per observer, for the rest of the process (gRPC paths are static).
        let path: &'static str = Box::leak(format!("/{interface}/{event}").into_boxed_str());
        let (sender, items) = mpsc::channel(OBSERVER_BUFFER);
        let subscribed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(watch_realm(observer, filter, path, sender, subscribed.clone()));
        Ok(EventObserver { items, subscribed, task })
    }

    /// The next item from any followed HERO; `None` only if discovery stopped.
    pub async fn next(&mut self) -> Option<Observed<M>> {
        self.items.recv().await
    }

    /// How many HEROs are followed right now (subscribed, not merely known).
    pub fn subscribed(&self) -> usize {
        self.subscribed.load(Ordering::Acquire)
    }
}

/// Follows the HEROs that pass `filter` as discovery reports them.
async fn watch_realm<M>(
    mut observer: Observer,
    filter: HeroFilter,
    path: &'static str,
    sender: mpsc::Sender<Observed<M>>,
    subscribed: Arc<AtomicUsize>,
) where
    M: prost::Message + Default + Clone + Unpin + Send + Sync + 'static,
{
    // Dropped with this task, which aborts every follower.
    let mut followers = JoinSet::new();
    let mut following: HashMap<String, AbortHandle> = HashMap::new();
    let follow = |info: HeroInfo, followers: &mut JoinSet<()>, following: &mut HashMap<String, AbortHandle>| {
        if filter.matches(&info) && !following.contains_key(&info.name) {
            let name = info.name.clone();
            let handle = followers.spawn(follow_hero(info, path, sender.clone(), subscribed.clone()));
            following.insert(name, handle);
        }
    };
    for info in observer.known() {
        follow(info, &mut followers, &mut following);
    }
    loop {
        tokio::select! {
            event = observer.next() => match event {
                Some(DiscoveryEvent::Added(info)) | Some(DiscoveryEvent::Updated(info)) => {
                    follow(info, &mut followers, &mut following)
                }
                Some(DiscoveryEvent::Removed(info)) => {
                    if let Some(handle) = following.remove(&info.name) {
                        handle.abort();
                    }
                }
                // An etcd outage removes nobody: the followers keep their streams.
                Some(_) => {}
                None => return,
            },
            // Reap followers that ended, so that the set does not grow.
            Some(_) = followers.join_next(), if !followers.is_empty() => {}
        }
    }
}

/// Subscribes to one HERO's event and forwards what comes, until aborted.
async fn follow_hero<M>(
    info: HeroInfo,
    path: &'static str,
    sender: mpsc::Sender<Observed<M>>,
    subscribed: Arc<AtomicUsize>,
) where
    M: prost::Message + Default + Clone + Unpin + Send + Sync + 'static,
{
    let hero = info.name.clone();
    let mut delay = Duration::from_millis(50);
    // The first subscription may fail while the HERO is still starting: try again.
    let mut stream = loop {
        let subscribed = async { Target::from_info(info.clone(), true).await?.subscribe::<(), M>(path, ()).await };
        match subscribed.await {
            Ok(stream) => break stream,
            Err(error) => {
                tracing::debug!(hero, "observer could not subscribe yet: {error}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    };
    let _counted = Counted::new(subscribed);
    while let Some(item) = stream.next().await {
        // The stream subscribes again by itself after interruptions; errors do not end it, but
        // one that comes back every time (a message type that does not match) must be seen.
        let received = match item {
            Ok(received) => received,
            Err(error) => {
                tracing::warn!(hero, "observed event failed: {error}");
                continue;
            }
        };
        if sender.send(Observed { hero: hero.clone(), received }).await.is_err() {
            return;
        }
    }
}

/// Counts a live subscription for as long as it lives (also when its task is aborted).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Counted(count)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob("furnace-*", "furnace-007"));
        assert!(glob("*", ""));
        assert!(glob("f?rnace", "furnace"));
        assert!(glob("*-0?", "a-b-07"));
        assert!(!glob("furnace-*", "oven-1"));
        assert!(!glob("f?", "f"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn filters_combine() {
        let hero = HeroInfo {
            name: "furnace-1".into(),
            interfaces: vec!["examples.v1.Furnace".into()],
            tags: vec!["hot".into()],
            ..Default::default()
        };
        assert!(HeroFilter::any().name("furnace-*").tag("hot").interface("examples.v1.Furnace").matches(&hero));
        assert!(!HeroFilter::any().tag("cold").matches(&hero));
        assert!(!HeroFilter::any().interface("x.Y").matches(&hero));
    }
}
