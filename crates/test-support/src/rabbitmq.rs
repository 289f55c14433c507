//! The tests' RabbitMQ: its URL, connections of a test's own (to publish raw messages or read
//! counts behind the bridge's back), `rabbitmqctl`, and vhosts (with users) of a test's own.

use crate::Error;
use std::process::Command;

/// The machine's broker, default vhost, user guest.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A connection of the caller's own to `url`.
pub async fn connect(url: &str) -> Result<lapin::Connection, Error> {
    let properties = lapin::ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio);
    Ok(lapin::Connection::connect(url, properties).await?)
}

/// A connection of the caller's own to `url` and a channel on it.
pub async fn channel(url: &str) -> Result<(lapin::Connection, lapin::Channel), Error> {
    let connection = connect(url).await?;
    let channel = connection.create_channel().await?;
    Ok((connection, channel))
}

/// `rabbitmqctl -q <args>`; its standard output.
pub fn rabbitmqctl(args: &[&str]) -> Result<String, Error> {
    let output = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .map_err(crate::error::Error::io("running rabbitmqctl"))?;
    if !output.status.success() {
        return Err(Error::Rabbitmqctl {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A vhost of the test's own, deleted when dropped (with the user made for it, if any).
pub struct Vhost {
    name: String,
    user: Option<String>,
}

impl Vhost {
    /// `name`, with every permission for guest.
    pub fn create(name: &str) -> Result<Self, Error> {
        let vhost = Self {
            name: name.to_owned(),
            user: None,
        };
        vhost.add()?;
        Ok(vhost)
    }

    /// `name` and a user of the same name with `password`, allowed everything in it (and
    /// nothing elsewhere).
    pub fn create_with_user(name: &str, password: &str) -> Result<Self, Error> {
        let vhost = Self {
            name: name.to_owned(),
            user: Some(name.to_owned()),
        };
        rabbitmqctl(&["add_vhost", name])?;
        rabbitmqctl(&["add_user", name, password])?;
        rabbitmqctl(&["set_permissions", "-p", name, name, ".*", ".*", ".*"])?;
        Ok(vhost)
    }

    /// Adds the vhost (again, after a test deleted it), with every permission for guest.
    pub fn add(&self) -> Result<(), Error> {
        rabbitmqctl(&["add_vhost", &self.name])?;
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &self.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Best effort: a test may have deleted it already.
        let _ = rabbitmqctl(&["delete_vhost", &self.name]);
        if let Some(user) = &self.user {
            let _ = rabbitmqctl(&["delete_user", user]);
        }
    }
}
