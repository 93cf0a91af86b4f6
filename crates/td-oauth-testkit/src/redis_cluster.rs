//! A real Redis Cluster for tests: `redis-server --cluster-enabled yes` on free loopback ports, joined with
//! `redis-cli --cluster create` (masters only), each node a [`RedisServer`] of its own so that a test can
//! kill one mid-run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, RedisServer};

/// How long the cluster may take to agree on its slots after `redis-cli --cluster create`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A Redis Cluster of masters on `127.0.0.1`, stopped on drop.
///
/// ```no_run
/// let cluster = td_oauth_testkit::RedisCluster::start(3)?;
/// let seeds = cluster.urls(); // redis://127.0.0.1:<port>/ for each node
/// cluster.node(0).stop(); // one master gone: its slots are down
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, as `redis-cli --cluster create` requires), creates the cluster
    /// and waits until every node says `cluster_state:ok`. A node is judged failed after 1 s unreachable.
    pub fn start(masters: usize) -> Result<RedisCluster, Error> {
        let options =
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"];
        let nodes = (0..masters).map(|_| RedisServer::start_with(&options)).collect::<Result<Vec<_>, _>>()?;
        let addresses: Vec<String> = nodes.iter().map(|node| format!("127.0.0.1:{}", node.port())).collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|err| {
                Error::Redis(if err.kind() == std::io::ErrorKind::NotFound {
                    "redis-cli is not installed: install the redis-tools package; .ci/run does".to_owned()
                } else {
                    format!("could not run redis-cli: {err}")
                })
            })?;
        if !output.status.success() {
            return Err(Error::Redis(format!(
                "redis-cli --cluster create failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default()
            )));
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok()?;
        Ok(cluster)
    }

    /// The nodes' URLs, `redis://127.0.0.1:<port>/`: the seed nodes a cluster client is given.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Node `index` (to [`stop`](RedisServer::stop) it, or to send it a command).
    ///
    /// # Panics
    ///
    /// If there is no such node.
    pub fn node(&self, index: usize) -> &RedisServer {
        &self.nodes[index]
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always `false`: a cluster has nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The index of the node serving `key`'s slot: the one that answers `GET` instead of `-MOVED`.
    pub fn owner_of(&self, key: &str) -> Option<usize> {
        self.nodes.iter().position(|node| {
            node.command(&[b"GET", key.as_bytes()]).is_ok_and(|reply| reply.first().is_some_and(|b| *b == b'$'))
        })
    }

    fn wait_until_ok(&self) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let ok = self.nodes.iter().all(|node| {
                node.command(&[b"CLUSTER", b"INFO"])
                    .is_ok_and(|reply| String::from_utf8_lossy(&reply).contains("cluster_state:ok"))
            });
            if ok {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Redis(format!(
                    "the cluster did not reach cluster_state:ok within {READY_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
