//! `heros call`, `heros get`, `heros set`: a method's requests from JSON and its replies printed
//! as JSON (one reply: pretty for people, one line with `--json`; a stream of replies: one line
//! each, as they arrive), and attributes read and set.
//!
//! A method that takes a stream of requests reads them as JSON lines, from stdin as they are
//! written or from the argument, and sends each as soon as it is read; the end of the input ends
//! the stream. A line that is not a request stops the call: it is cancelled, not ended, so the
//! HERO never takes what came before for the whole stream.

use std::io::BufRead;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{anyhow, Result};
use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;

use crate::codec::Received;
use crate::hero::Hero;
use crate::interface::{find, Member, Streaming, Wanted};
use crate::json::{parse_message, to_json, to_message};
use crate::remote::RemoteError;

/// Calls `method` and prints its reply or replies. `request` is the JSON request (`{}` when
/// absent, `-`: stdin), or for a method that streams its requests, their JSON lines (absent or
/// `-`: stdin, line by line). A streaming call runs until its streams end or Ctrl-C.
pub(crate) async fn call(hero: &Hero, method: &str, request: Option<&str>, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, method, Wanted::Method)?;
    let streaming = member.streaming();
    if streaming.requests() {
        return crate::until_stopped(stream_requests(hero, member, streaming, request, as_json), None).await;
    }
    let request = request.map(crate::from_stdin).transpose()?;
    let request = parse_message(&member.method.input(), request.as_deref().unwrap_or("{}"))?;
    if streaming == Streaming::Unary {
        let reply = hero.unary(&member.method, request).await?;
        print(&to_json(&reply), as_json);
        return Ok(());
    }
    let replies = async { print_replies(member, hero.server_streaming(&member.method, request).await?).await };
    crate::until_stopped(replies, None).await
}

/// A client-streaming or bidirectional call: requests from `lines` (see [`call`]).
async fn stream_requests(
    hero: &Hero,
    member: &Member,
    streaming: Streaming,
    lines: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let (requests, bad_line) = Requests::read(member.method.input(), lines);
    let call = async {
        if streaming.replies() {
            print_replies(member, hero.bidi_streaming(&member.method, requests).await?).await
        } else {
            let reply = hero.client_streaming(&member.method, requests).await?;
            print(&to_json(&reply), as_json);
            Ok(())
        }
    };
    tokio::select! {
        result = call => result,
        // Returning drops the call, which cancels it on the server.
        Ok(error) = bad_line => Err(error),
    }
}

/// Prints each reply as one line of JSON, as it arrives (for people too: a stream is read as a
/// log), until the stream ends; its error status is the command's error.
async fn print_replies(member: &Member, mut replies: tonic::Streaming<Received>) -> Result<()> {
    while let Some(reply) = replies.message().await.map_err(|status| RemoteError::from_status(&status))? {
        crate::output::line(to_json(&reply.into_reply(&member.method)?));
        // A stream that always has the next reply ready would never let this task wait, and
        // Ctrl-C (polled beside it) would not be seen until the stream ends.
        tokio::task::coop::consume_budget().await;
    }
    Ok(())
}

/// The requests of a streaming call, parsed from JSON lines as they are read (blank lines are
/// skipped). After a line that is not a request the stream neither yields nor ends (an end would
/// half-close the call, which tells the HERO the input is complete); the error goes to the
/// receiver [`Requests::read`] returned, and the caller drops the call.
struct Requests {
    lines: mpsc::Receiver<(usize, std::io::Result<String>)>,
    message: MessageDescriptor,
    bad_line: Option<oneshot::Sender<anyhow::Error>>,
}

impl Requests {
    /// Reads the lines of `argument`, or of stdin when it is absent or `-`, on a thread of its
    /// own: a blocking read of stdin cannot be cancelled, and a thread that is not the runtime's
    /// does not keep the tool from exiting. The channel holds one line, so the input is read
    /// only as fast as HTTP/2 takes the requests.
    fn read(message: MessageDescriptor, argument: Option<&str>) -> (Requests, oneshot::Receiver<anyhow::Error>) {
        let input: Box<dyn BufRead + Send> = match argument {
            None | Some("-") => Box::new(std::io::BufReader::new(std::io::stdin())),
            Some(text) => Box::new(std::io::Cursor::new(text.to_owned())),
        };
        let (sender, lines) = mpsc::channel(1);
        std::thread::spawn(move || {
            for (index, line) in input.lines().enumerate() {
                let failed = line.is_err();
                if sender.blocking_send((index + 1, line)).is_err() || failed {
                    break;
                }
            }
        });
        let (bad_line, told) = oneshot::channel();
        (Requests { lines, message, bad_line: Some(bad_line) }, told)
    }
}

impl Stream for Requests {
    type Item = DynamicMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DynamicMessage>> {
        loop {
            let Some(bad_line) = self.bad_line.take() else { return Poll::Pending };
            let parsed = match self.lines.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some((_, Ok(line)))) if line.trim().is_empty() => {
                    self.bad_line = Some(bad_line);
                    continue;
                }
                Poll::Ready(Some((number, Ok(line)))) => match parse_message(&self.message, &line) {
                    Ok(request) => Poll::Ready(Some(request)),
                    Err(error) => {
                        let _ = bad_line.send(error.context(format!("request line {number}")));
                        return Poll::Pending;
                    }
                },
                Poll::Ready(Some((_, Err(error)))) => {
                    let _ = bad_line.send(anyhow!("cannot read the requests from stdin: {error}"));
                    return Poll::Pending;
                }
            };
            self.bad_line = Some(bad_line);
            return parsed;
        }
    }
}

/// Reads `attribute`: a request without `value`.
pub(crate) async fn get(hero: &Hero, attribute: &str, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, attribute, Wanted::Attribute)?;
    let reply = hero.unary(&member.method, DynamicMessage::new(member.method.input())).await?;
    print_attribute(&to_json(&reply), as_json);
    Ok(())
}

/// Sets `attribute` to the JSON `value`: a request with `value`. The server refuses read-only
/// attributes itself (READ_ONLY), which is the error people should see.
pub(crate) async fn set(hero: &Hero, attribute: &str, value: &str, as_json: bool) -> Result<()> {
    let member = find(&hero.members, &hero.info.name, attribute, Wanted::Attribute)?;
    let parsed: Value = serde_json::from_str(value).map_err(|e| {
        let hint = if value.starts_with(['"', '{', '[']) { "" } else { " (a string needs quotes: '\"text\"')" };
        anyhow!("bad JSON ({e}) in: {value}{hint}")
    })?;
    let request = to_message(&member.method.input(), serde_json::json!({ "value": parsed }))?;
    let reply = hero.unary(&member.method, request).await?;
    print_attribute(&to_json(&reply), as_json);
    Ok(())
}

pub(crate) fn print_attribute(message: &Value, as_json: bool) {
    print(&attribute_view(message, as_json), as_json);
}

/// People see the value itself; programs the whole value message (`{"value": ...}`).
pub(crate) fn attribute_view(message: &Value, as_json: bool) -> Value {
    match as_json {
        true => message.clone(),
        false => message.get("value").cloned().unwrap_or(Value::Null),
    }
}

pub(crate) fn print(value: &Value, as_json: bool) {
    if as_json {
        crate::output::line(format_args!("{value}"));
    } else {
        crate::output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        ));
    }
}
