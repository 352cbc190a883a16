//! Implementations of the example interfaces that the tests and `serve_examples` share: the
//! usage guide's TestObject, an instrument whose sessions stay on the server (handles), tree
//! nodes (HERO references), a listener with its notifier, and a furnace (events).
//!
//! Not an example of its own: included with `#[path = "support/lab.rs"] mod lab;` next to a
//! `mod proto { heros::include_proto!("examples.v1"); }` (by `tests/common/mod.rs` too).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use heros::{AsHeroRef, Attribute, Error, Result};
use tokio::sync::Notify;

use super::proto::{self, ListenerRemote, NodeRemote, Settings};

/// The usage guide's TestObject, plus a way to hold a call in flight.
pub struct TestHero {
    pub testme: Attribute<i64>,
    pub firmware: Attribute<String>,
    /// `read_temp(-1, -1)` waits on this, so a test can keep a call in flight.
    pub gate: Arc<Notify>,
    pub entered: Arc<Notify>,
}

impl TestHero {
    pub fn new(start: i64) -> Self {
        TestHero {
            testme: Attribute::new(start),
            firmware: Attribute::new("1.0.0".into()),
            gate: Arc::new(Notify::new()),
            entered: Arc::new(Notify::new()),
        }
    }
}

impl proto::TestObject for TestHero {
    async fn read_temp(&self, min: i32, max: i32) -> heros::Result<f64> {
        if (min, max) == (-1, -1) {
            self.entered.notify_one();
            self.gate.notified().await;
        }
        if min > max {
            return Err(heros::Error::invalid_argument(format!("min {min} is above max {max}")));
        }
        Ok((f64::from(max) + f64::from(min)) / 2.0)
    }

    async fn hello(&self) -> heros::Result<String> {
        self.testme.update(|n| *n += 1);
        Ok("world".into())
    }

    fn testme(&self) -> &Attribute<i64> {
        &self.testme
    }

    fn firmware(&self) -> &Attribute<String> {
        &self.firmware
    }
}

/// An instrument. `live` counts the sessions that exist (dropped ones leave), so tests see
/// values really go; each session carries `ballast` bytes so memory tests see them too.
pub struct TestInstrument {
    pub live: Arc<AtomicUsize>,
    pub ballast: usize,
}

impl TestInstrument {
    pub fn new(ballast: usize) -> Self {
        TestInstrument { live: Arc::new(AtomicUsize::new(0)), ballast }
    }
}

/// An open channel: nothing here could be sent over the wire as it is.
pub struct ChannelSession {
    pub channel: u32,
    pub gain: Mutex<f64>,
    #[allow(dead_code)] // held only for the memory it takes
    ballast: Vec<u8>,
    live: Arc<AtomicUsize>,
}

impl Drop for ChannelSession {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl proto::Instrument for TestInstrument {
    type InstrumentSession = ChannelSession;

    fn instrument_session_repr(&self, session: &ChannelSession) -> Option<String> {
        Some(format!("channel {} session", session.channel))
    }

    async fn open(&self, channel: u32) -> Result<Arc<ChannelSession>> {
        self.live.fetch_add(1, Ordering::SeqCst);
        // Touch every page, so that the ballast is resident and shows in the process's memory.
        let ballast = vec![channel as u8 | 1; self.ballast];
        Ok(Arc::new(ChannelSession { channel, gain: Mutex::new(1.0), ballast, live: self.live.clone() }))
    }

    async fn read(&self, session: Arc<ChannelSession>) -> Result<f64> {
        let gain = *session.gain.lock().unwrap();
        Ok(f64::from(session.channel) * gain)
    }

    async fn configure(&self, session: Arc<ChannelSession>, settings: Settings) -> Result<String> {
        *session.gain.lock().unwrap() = settings.gain;
        Ok(format!("{} on channel {}: gain {}", settings.label, session.channel, settings.gain))
    }
}

/// A tree node: children are stubs, wherever the child HERO lives.
pub struct TreeNode {
    pub value: Attribute<i64>,
    pub children: Mutex<Vec<NodeRemote>>,
}

impl TreeNode {
    pub fn new(value: i64) -> Self {
        TreeNode { value: Attribute::new(value), children: Mutex::new(Vec::new()) }
    }
}

impl proto::Node for TreeNode {
    fn value(&self) -> &Attribute<i64> {
        &self.value
    }

    async fn child(&self, index: u32) -> Result<heros::proto::HeroRef> {
        let children = self.children.lock().unwrap();
        let child = children
            .get(index as usize)
            .ok_or_else(|| Error::invalid_argument(format!("no child {index}; the node has {}", children.len())))?;
        Ok(child.hero_ref())
    }

    async fn add_child(&self, child: NodeRemote) -> Result<u32> {
        let mut children = self.children.lock().unwrap();
        children.push(child);
        Ok(children.len() as u32)
    }

    async fn count_children(&self) -> Result<u32> {
        Ok(self.children.lock().unwrap().len() as u32)
    }
}

/// Records the notices it gets.
#[derive(Default)]
pub struct RecordingListener {
    pub notices: Arc<Mutex<Vec<(u32, String)>>>,
}

impl proto::Listener for RecordingListener {
    async fn notify(&self, sequence: u32, text: String) -> Result<()> {
        self.notices.lock().unwrap().push((sequence, text));
        Ok(())
    }
}

/// Calls back the listener it is given.
pub struct CountdownNotifier;

impl proto::Notifier for CountdownNotifier {
    async fn countdown(&self, listener: ListenerRemote, count: u32) -> Result<u32> {
        for sequence in 0..count {
            listener.notify(sequence, format!("{} left", count - sequence)).await?;
        }
        Ok(count)
    }
}

/// A furnace with its two events. `sequence` numbers every emitted message of each kind.
#[derive(Default)]
pub struct TestFurnace {
    pub overheated: heros::Event<proto::Alarm>,
    pub readings: heros::Event<proto::FurnaceReading>,
    sequence: std::sync::atomic::AtomicU64,
}

pub const FURNACE_LIMIT: f64 = 80.0;

impl TestFurnace {
    async fn report(&self, celsius: f64, payload: bytes::Bytes, alarm: bool) -> u32 {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
        if alarm {
            let alarm = proto::Alarm { celsius, limit: FURNACE_LIMIT, sequence, payload: payload.clone() };
            self.overheated.emit(alarm).await;
        }
        self.readings.emit(proto::FurnaceReading { celsius, sequence, payload }).await as u32
    }
}

impl proto::Furnace for TestFurnace {
    async fn heat(&self, celsius: f64) -> Result<()> {
        self.report(celsius, bytes::Bytes::new(), celsius > FURNACE_LIMIT).await;
        Ok(())
    }

    async fn burst(&self, count: u32, payload_bytes: u32, alarms: bool) -> Result<u32> {
        let payload = bytes::Bytes::from(vec![7u8; payload_bytes as usize]);
        let mut reached = 0;
        for _ in 0..count {
            reached = self.report(20.0, payload.clone(), alarms).await;
        }
        Ok(reached)
    }

    fn overheated(&self) -> &heros::Event<proto::Alarm> {
        &self.overheated
    }

    fn readings(&self) -> &heros::Event<proto::FurnaceReading> {
        &self.readings
    }
}

/// Keeps count of the alarms it is given.
#[derive(Default)]
pub struct CountingAlarmLog {
    pub alarms: Arc<Mutex<Vec<proto::Alarm>>>,
}

impl proto::AlarmLog for CountingAlarmLog {
    async fn record(&self, celsius: f64, limit: f64, sequence: u64, payload: bytes::Bytes) -> Result<()> {
        self.alarms.lock().unwrap().push(proto::Alarm { celsius, limit, sequence, payload });
        Ok(())
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.alarms.lock().unwrap().len() as u64)
    }
}
