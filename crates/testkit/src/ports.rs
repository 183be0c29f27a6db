//! Free loopback ports for servers a test starts itself.

use std::net::{Ipv4Addr, TcpListener};

use crate::FixtureError;

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
///
/// The port is released before it is returned, so another process could take it in between; a
/// caller that starts a server on it should be ready to pick another port if binding fails
/// ([`crate::OwnNatsServer`] does).
///
/// # Panics
///
/// When the operating system hands out no port at all, which leaves a test nothing to do.
pub fn free_port() -> u16 {
    match try_free_port() {
        Ok(port) => port,
        Err(error) => panic!("no free loopback port: {error}"),
    }
}

pub(crate) fn try_free_port() -> Result<u16, FixtureError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| FixtureError::io("binding 127.0.0.1:0", e))?;
    let address = listener
        .local_addr()
        .map_err(|e| FixtureError::io("reading the bound address", e))?;
    Ok(address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert_ne!(port, 0);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        assert!(
            listener.is_ok(),
            "port {port} should be bindable: {listener:?}"
        );
    }
}
