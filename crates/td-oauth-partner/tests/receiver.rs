//! The event receiver on a plain hyper server, fed by the testkit's delivery with Talkdesk's redelivery
//! pattern (delays shortened): a failed handling is redelivered and handled once, a redelivery of a handled
//! event is a duplicate, a refused verification or a forged `_links.root` is never handled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use td_oauth_api::GatewayAllowList;
use td_oauth_core::http::{HeaderMap, Request, Response};
use td_oauth_partner::{Delivery, EventPayload, EventReceiver, NoVerification, VerifyEvent};
use td_oauth_testkit::{EventDelivery, lifecycle_event};

const DELAYS: [Duration; 2] = [Duration::from_millis(30), Duration::from_millis(60)];

/// What the application saw.
#[derive(Default)]
struct App {
    /// Event ids handled successfully.
    handled: Vec<String>,
    /// Deliveries answered as duplicates.
    duplicates: usize,
    /// Deliveries refused.
    refused: usize,
    /// Fail this many handlings (answer 503 and forget the id), as an application whose database is down.
    fail_next: usize,
}

struct Callback<V> {
    receiver: Mutex<EventReceiver<V>>,
    app: Mutex<App>,
}

impl<V: VerifyEvent> Callback<V> {
    fn handle(&self, request: &Request<Bytes>) -> Response<Vec<u8>> {
        let (delivery, response) = self.receiver.lock().unwrap().receive(request, Instant::now());
        let mut app = self.app.lock().unwrap();
        match delivery {
            Delivery::Event(event) if app.fail_next > 0 => {
                app.fail_next -= 1;
                self.receiver.lock().unwrap().forget(event.id());
                let mut failed = Response::new(b"{}".to_vec());
                *failed.status_mut() = td_oauth_core::http::StatusCode::SERVICE_UNAVAILABLE;
                return failed;
            }
            Delivery::Event(event) => {
                assert!(matches!(event.payload(), EventPayload::Uninstalled { .. }));
                app.handled.push(event.id().to_owned());
            }
            Delivery::Duplicate { .. } => app.duplicates += 1,
            Delivery::Refused(_) => app.refused += 1,
            _ => {}
        }
        response
    }
}

/// Serves `callback` on a loopback port on a thread of its own; returns the callback URL.
fn serve<V: VerifyEvent + 'static>(callback: Arc<Callback<V>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/talkdesk/events", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let callback = Arc::clone(&callback);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let callback = Arc::clone(&callback);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = Limited::new(body, 256 * 1024)
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let response = callback.handle(&Request::from_parts(parts, body));
                            Ok::<_, Infallible>(response.map(|body| Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    url
}

fn callback<V: VerifyEvent>(verifier: V, fail_next: usize) -> Arc<Callback<V>> {
    let receiver = EventReceiver::new(verifier);
    Arc::new(Callback { receiver: Mutex::new(receiver), app: Mutex::new(App { fail_next, ..App::default() }) })
}

fn uninstalled() -> Vec<u8> {
    lifecycle_event("app.uninstalled", "acme", "https://api.talkdeskapp.com", json!({ "reason": { "type": "other" } }))
}

#[test]
fn a_failed_handling_is_redelivered_and_handled_once() {
    let app = callback(NoVerification, 1);
    let delivery = EventDelivery::new(&serve(Arc::clone(&app))).unwrap().with_delays(DELAYS);
    let body = uninstalled();
    let attempts = delivery.deliver(&body).unwrap();
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(503), Some(200)]);
    assert!(attempts[1].after >= DELAYS[0]);
    assert_eq!(app.app.lock().unwrap().handled.len(), 1);

    // Talkdesk delivering the same event again: answered 200, not handled again.
    let attempts = delivery.deliver(&body).unwrap();
    assert_eq!(attempts.len(), 1);
    assert!(attempts[0].delivered());
    let seen = app.app.lock().unwrap();
    assert_eq!((seen.handled.len(), seen.duplicates), (1, 1));
}

#[test]
fn delivery_gives_up_after_the_two_redeliveries() {
    let app = callback(NoVerification, 10);
    let delivery = EventDelivery::new(&serve(Arc::clone(&app))).unwrap().with_delays(DELAYS);
    let attempts = delivery.deliver(&uninstalled()).unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.status == Some(503)));
    assert!(attempts[2].after >= DELAYS[0] + DELAYS[1]);
    assert!(app.app.lock().unwrap().handled.is_empty());
}

#[test]
fn the_verification_seam_refuses_before_parsing() {
    let verifier = |headers: &HeaderMap, _: &[u8]| match headers.get("x-callback-secret") {
        Some(value) if value == "s3cret" => Ok(()),
        _ => Err("no callback secret".to_owned()),
    };
    let app = callback(verifier, 0);
    let delivery = EventDelivery::new(&serve(Arc::clone(&app))).unwrap().with_delays([]);
    let attempts = delivery.deliver(&uninstalled()).unwrap();
    assert_eq!(attempts[0].status, Some(401));
    let seen = app.app.lock().unwrap();
    assert_eq!((seen.handled.len(), seen.refused), (0, 1));
}

#[test]
fn a_forged_root_is_refused() {
    let app = callback(NoVerification, 0);
    let delivery = EventDelivery::new(&serve(Arc::clone(&app))).unwrap().with_delays([]);
    let forged = lifecycle_event("app.uninstalled", "acme", "https://api.talkdeskapp.com.evil.example", json!({}));
    assert_eq!(delivery.deliver(&forged).unwrap()[0].status, Some(400));
    assert_eq!(app.app.lock().unwrap().refused, 1);

    // Allowed once the origin is on the list.
    let receiver = EventReceiver::new(NoVerification)
        .with_gateways(GatewayAllowList::default().with_origin("https://api.talkdeskapp.com.evil.example").unwrap());
    let mut receiver = receiver;
    let request = Request::post("/").body(forged).unwrap();
    assert!(matches!(receiver.receive(&request, Instant::now()).0, Delivery::Event(_)));
}
