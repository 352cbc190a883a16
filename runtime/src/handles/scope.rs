//! The server side of handles within one call: generated skeleton adapters turn handles in a
//! request into the values they stand for, and values a method returns into handles.

use std::sync::Arc;

use http::HeaderValue;

use super::table::{stored_repr, HandleTable, Resolved, SessionId};
use crate::error::{Error, HandleProblem, Result};
use crate::proto;
use crate::wire::metadata::SESSION_HEADER;

/// The handle table and the caller's session, as one call sees them.
#[derive(Clone)]
pub struct HandleScope {
    table: Arc<HandleTable>,
    session: Option<HeaderValue>,
}

impl HandleScope {
    pub(crate) fn new(table: Arc<HandleTable>, session: Option<HeaderValue>) -> Self {
        HandleScope { table, session }
    }

    fn session(&self) -> Result<SessionId> {
        let header = self.session.as_ref().ok_or_else(|| {
            Error::handle(
                HandleProblem::NoSession,
                format!(
                    "this method passes or returns handles, which belong to a client session: open one with \
                     heros.v1.Sessions/Open and send its id as the '{SESSION_HEADER}' header"
                ),
            )
        })?;
        let text =
            header.to_str().map_err(|_| Error::handle(HandleProblem::UnknownSession, "unreadable session id"))?;
        SessionId::parse(text)
    }

    /// Refuses the call unless it names a session this server knows (checked before the
    /// HERO's method runs, so that a call that could not return its handle has no effect).
    pub fn check_session(&self) -> Result<()> {
        self.table.renew(self.session()?).map(drop)
    }

    /// Keeps `value` for the caller and returns its handle, typed `type_name` and described by
    /// `repr` (default: the type name and the entry's number).
    pub fn export<T: Send + Sync + 'static>(
        &self,
        value: Arc<T>,
        type_name: &str,
        repr: Option<String>,
    ) -> Result<proto::Handle> {
        self.table.export(self.session()?, value, type_name, repr)
    }

    /// The value behind the handle passed as `argument`, which must be a `type_name` held by the
    /// caller's session.
    pub fn resolve<T: Send + Sync + 'static>(
        &self,
        handle: Option<proto::Handle>,
        argument: &str,
        type_name: &str,
    ) -> Result<Arc<T>> {
        let value = self.resolve_checked(handle, argument, type_name)?;
        value.downcast::<T>().map_err(|_| {
            Error::handle(
                HandleProblem::WrongType,
                format!(
                    "argument '{argument}': the value behind the handle is not the type this HERO keeps as {type_name}"
                ),
            )
        })
    }

    /// Keeps a protobuf message for the caller (as `Handles/Store` does) and returns its handle.
    pub fn export_message<M: prost::Name>(&self, message: &M) -> Result<proto::Handle> {
        let any = prost_types::Any { type_url: M::type_url(), value: message.encode_to_vec() };
        let repr = stored_repr(&M::full_name(), any.value.len());
        self.table.export(self.session()?, Arc::new(any), &M::full_name(), Some(repr))
    }

    /// The message behind a handle made by `Handles/Store` (or [`Self::export_message`]).
    pub fn resolve_message<M: prost::Message + Default>(
        &self,
        handle: Option<proto::Handle>,
        argument: &str,
        type_name: &str,
    ) -> Result<M> {
        let value = self.resolve_checked(handle, argument, type_name)?;
        let any = value.downcast_ref::<prost_types::Any>().ok_or_else(|| {
            Error::handle(
                HandleProblem::WrongType,
                format!("argument '{argument}': the handle is to a {type_name} kept by a HERO, not a stored message"),
            )
        })?;
        M::decode(any.value.as_slice()).map_err(|e| {
            Error::invalid_argument(format!("argument '{argument}': the stored {type_name} does not decode: {e}"))
        })
    }

    fn resolve_checked(
        &self,
        handle: Option<proto::Handle>,
        argument: &str,
        type_name: &str,
    ) -> Result<Arc<dyn std::any::Any + Send + Sync>> {
        let session = self.session()?;
        let handle = handle.ok_or_else(|| Error::invalid_argument(format!("argument '{argument}' needs a handle")))?;
        let Resolved { value, type_name: actual } = self.table.resolve(session, &handle)?;
        if &*actual != type_name {
            return Err(Error::handle(
                HandleProblem::WrongType,
                format!("argument '{argument}' takes a handle to {type_name}, not to {actual}"),
            ));
        }
        Ok(value)
    }
}

/// The message name in an `Any`'s type URL (`type.googleapis.com/pkg.Msg` -> `pkg.Msg`).
pub(crate) fn message_name(type_url: &str) -> Result<&str> {
    let name = type_url.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(Error::invalid_argument(format!(
            "'{type_url}' is not a type URL like type.googleapis.com/pkg.Message"
        )));
    }
    Ok(name)
}
