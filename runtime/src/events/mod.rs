//! Events, and everything else that streams from a HERO: `event` (`Event<T>`, what a HERO emits
//! through, best-effort or reliable), `stream` (the subscriber's `EventStream`, which
//! resubscribes after a gap), `observer` (one event across a realm's HEROs as they come and go),
//! `attribute_watch` (streams of an attribute's values) and `callbacks` (a HERO calling another
//! HERO's method with each event). The event frames' encoding is in `wire::codec`.

pub(crate) mod attribute_watch;
pub(crate) mod callbacks;
pub(crate) mod event;
pub(crate) mod observer;
pub(crate) mod stream;
