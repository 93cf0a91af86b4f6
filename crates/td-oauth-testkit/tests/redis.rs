//! `RedisServer`: a real `redis-server` on a free loopback port, in its own directory, gone after drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_testkit::{RedisServer, bulk_payload};

#[test]
fn starts_answers_stops_and_cleans_up() {
    let redis = RedisServer::start().unwrap();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    assert_eq!(redis.command(&[b"SET", b"k", b"v\r\n\0binary"]).unwrap(), b"+OK\r\n");
    let reply = redis.command(&[b"GET", b"k"]).unwrap();
    assert_eq!(bulk_payload(&reply), Some(&b"v\r\n\0binary"[..]));
    assert_eq!(bulk_payload(&redis.command(&[b"GET", b"missing"]).unwrap()), None);
    // Persistence is off: nothing is written to its directory.
    assert_eq!(redis.command(&[b"CONFIG", b"GET", b"save"]).unwrap(), b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    let dir = redis.dir().to_path_buf();
    assert!(dir.is_dir());

    redis.stop();
    assert!(redis.command(&[b"PING"]).is_err(), "stopped");
    drop(redis);
    assert!(!dir.exists(), "the directory is removed on drop");
}

#[test]
fn two_servers_get_two_ports() {
    let (a, b) = (RedisServer::start().unwrap(), RedisServer::start().unwrap());
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
}
