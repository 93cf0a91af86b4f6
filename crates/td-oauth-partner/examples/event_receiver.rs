//! An AppConnect callback on a plain hyper server: td-oauth-core's [`EventReceiver`] verifies, parses and
//! deduplicates each delivery and says what to answer; hyper only moves the bytes. Any other framework
//! (axum, actix, a Lambda) does the same: build an `http::Request` with the raw body, call `receive`.
//!
//! ```sh
//! cargo run -p td-oauth-core --example event_receiver
//! ```
//!
//! It listens on a loopback port, then has td-oauth-testkit deliver one `app.uninstalled` event to it the
//! way Talkdesk does (retrying after 5 and 10 minutes, shortened here), twice: the second delivery is
//! recognised as a duplicate.

#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use td_oauth_core::http::{Request, Response};
use td_oauth_partner::{Delivery, EventPayload, EventReceiver, NoVerification};
use td_oauth_testkit::{EventDelivery, lifecycle_event};

/// Event bodies are a few kilobytes; refuse to buffer more than the receiver accepts.
const MAX_BODY: usize = 256 * 1024;

/// What the application does with a new event. Return `false` if handling failed, so Talkdesk redelivers.
fn handle(payload: &EventPayload) -> bool {
    match payload {
        EventPayload::Installed(credentials) => println!("installed for {}", credentials.account()),
        EventPayload::Uninstalled { reason_message, .. } => println!("uninstalled: {reason_message:?}"),
        EventPayload::UserLogout { user_id, .. } => println!("end the app session of user {user_id}"),
        other => println!("nothing to do for {other:?}"),
    }
    true
}

async fn callback(
    receiver: Arc<Mutex<EventReceiver<NoVerification>>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let request = Request::from_parts(parts, body);
    // The lock is held only while the delivery is read, never while the application works.
    let (delivery, mut response) = receiver.lock().unwrap_or_else(|e| e.into_inner()).receive(&request, Instant::now());
    match delivery {
        Delivery::Event(event) if !handle(event.payload()) => {
            // Handling failed: answer 5xx and forget the id, so that Talkdesk's redelivery is handled.
            receiver.lock().unwrap_or_else(|e| e.into_inner()).forget(event.id());
            *response.status_mut() = td_oauth_core::http::StatusCode::SERVICE_UNAVAILABLE;
        }
        Delivery::Duplicate { id } => println!("duplicate delivery of {id}"),
        Delivery::Refused(reason) => println!("refused: {reason}"),
        _ => {}
    }
    Ok(response.map(|body| Full::new(Bytes::from(body))))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // No signature scheme is built in: Talkdesk documents none reliably. `NoVerification` says so out loud;
    // plug in your own check (a closure over the headers and body) where you have one.
    let receiver = Arc::new(Mutex::new(EventReceiver::new(NoVerification)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/talkdesk/events", listener.local_addr()?);
    println!("callback URL: {url}");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let receiver = Arc::clone(&receiver);
            let service = hyper::service::service_fn(move |request| callback(Arc::clone(&receiver), request));
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });

    let body = lifecycle_event("app.uninstalled", "acme", "https://api.talkdeskapp.com", serde_json::json!({}));
    let delivery = EventDelivery::new(&url)?.with_delays([Duration::from_millis(100), Duration::from_millis(200)]);
    for _ in 0..2 {
        let body = body.clone();
        let delivery = delivery.clone();
        let attempts = tokio::task::spawn_blocking(move || delivery.deliver(&body)).await??;
        println!("delivered after {} attempt(s): {:?}", attempts.len(), attempts.last().and_then(|a| a.status));
    }
    Ok(())
}
