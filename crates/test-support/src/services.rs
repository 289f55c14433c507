//! RabbitMQ and PostgreSQL must run for the tests on the scaled-out backend. When one is down,
//! the test binary stops at the first test that needs it with one message naming the service and
//! how to start it, instead of every test failing with its own connection error.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

/// A service the tests need, where they expect it, and how to start it.
struct Service {
    name: &'static str,
    addr: &'static str,
    /// Overrides `addr` for the check only (the test of this message points it at a closed port).
    addr_override: &'static str,
    how_to_start: &'static str,
}

const RABBITMQ: Service = Service {
    name: "RabbitMQ",
    addr: "127.0.0.1:5672",
    addr_override: "LEADBACK_TEST_RABBITMQ_ADDR",
    how_to_start: "user guest/guest. Start it with `rabbitmq-server -detached` (Debian: \
                   `apt-get install rabbitmq-server`), or `docker run -d -p 5672:5672 \
                   rabbitmq:3.13`; `bash .ci/run` installs and starts it when missing.",
};

const POSTGRESQL: Service = Service {
    name: "PostgreSQL",
    addr: "127.0.0.1:5432",
    addr_override: "LEADBACK_TEST_POSTGRES_ADDR",
    how_to_start: "user postgres with trust authentication on 127.0.0.1. Start it with \
                   `pg_ctlcluster <version> main start` (Debian: `apt-get install postgresql`), \
                   or `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust \
                   postgres:16`; `bash .ci/run` installs and starts it when missing.",
};

pub fn require_rabbitmq() {
    require(&RABBITMQ);
}

pub fn require_postgres() {
    require(&POSTGRESQL);
}

/// Serializes the exits: one message even when parallel tests find the service down together.
static REPORTED: Mutex<()> = Mutex::new(());

fn require(service: &Service) {
    let shown = std::env::var(service.addr_override).unwrap_or_else(|_| service.addr.to_owned());
    let reached = match shown.parse::<SocketAddr>() {
        Ok(addr) => TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop),
        Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
    };
    let Err(e) = reached else {
        return;
    };
    let _one = REPORTED.lock();
    // Straight to the stderr handle: the test harness captures `eprintln!` and would drop it
    // with the process.
    let _ = writeln!(
        std::io::stderr(),
        "\n{name} is not reachable at {shown} ({e}). The end-to-end tests on RabbitMQ + \
         PostgreSQL need {name} at {addr}, {how}\n",
        name = service.name,
        addr = service.addr,
        how = service.how_to_start,
    );
    std::process::exit(1);
}
