//! What a HERO emits through: `Event<T>` (best-effort or reliable) and its subscriptions. The
//! server serves subscriptions (`server::service`, `server::callbacks`), the client side receives
//! them (`client::event_stream`, `client::event_observer`); the frames' encoding is in `wire`.

pub(crate) mod event;
