//! The three services of the customer chain and the names each goes by: its token on the bus and
//! in the relay, its binary, its gRPC service and its default port.

use chain_proto::customerchain::v1::{
    internal_request_service_server, satisfaction_service_server, ticket_service_server,
};
use std::fmt;
use std::str::FromStr;

/// One of the three customer-chain services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainService {
    /// The inside of the customer chain: teams, links, internal requests and their commitments.
    Requests,
    /// External customers, their tickets and the promises made to them.
    Tickets,
    /// Satisfaction scores, link health and the impact ledger.
    Scoring,
}

impl ChainService {
    /// Every service, in the order of their default ports.
    pub const ALL: [ChainService; 3] = [
        ChainService::Requests,
        ChainService::Tickets,
        ChainService::Scoring,
    ];

    /// The service's token: its subject token and stream suffix on the bus, and its relay's name
    /// (`requests`, `tickets`, `scoring`).
    pub fn token(self) -> &'static str {
        match self {
            ChainService::Requests => "requests",
            ChainService::Tickets => "tickets",
            ChainService::Scoring => "scoring",
        }
    }

    /// The binary's name (`requests-svc`, …), also its `service.name` in traces.
    pub fn binary_name(self) -> &'static str {
        match self {
            ChainService::Requests => "requests-svc",
            ChainService::Tickets => "tickets-svc",
            ChainService::Scoring => "scoring-svc",
        }
    }

    /// The fully qualified name of the gRPC service it serves, which is also the name its
    /// readiness is reported under in `grpc.health.v1`
    /// (e.g. `customerchain.v1.InternalRequestService`).
    pub fn grpc_service_name(self) -> &'static str {
        match self {
            ChainService::Requests => internal_request_service_server::SERVICE_NAME,
            ChainService::Tickets => ticket_service_server::SERVICE_NAME,
            ChainService::Scoring => satisfaction_service_server::SERVICE_NAME,
        }
    }

    /// The port it listens on unless `LISTEN_ADDR` says otherwise: 50051, 50052, 50053.
    pub fn default_port(self) -> u16 {
        match self {
            ChainService::Requests => 50051,
            ChainService::Tickets => 50052,
            ChainService::Scoring => 50053,
        }
    }
}

impl fmt::Display for ChainService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

impl FromStr for ChainService {
    type Err = String;

    /// Parses a token (`requests`, `tickets`, `scoring`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChainService::ALL
            .into_iter()
            .find(|service| service.token() == s)
            .ok_or_else(|| format!("unknown service {s:?}: expected requests, tickets or scoring"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_contracts_and_the_documented_ports() {
        assert_eq!(
            ChainService::Requests.grpc_service_name(),
            "customerchain.v1.InternalRequestService"
        );
        assert_eq!(
            ChainService::Tickets.grpc_service_name(),
            "customerchain.v1.TicketService"
        );
        assert_eq!(
            ChainService::Scoring.grpc_service_name(),
            "customerchain.v1.SatisfactionService"
        );
        let ports: Vec<u16> = ChainService::ALL.iter().map(|s| s.default_port()).collect();
        assert_eq!(ports, [50051, 50052, 50053]);
    }

    #[test]
    fn tokens_round_trip() {
        for service in ChainService::ALL {
            assert_eq!(service.token().parse::<ChainService>(), Ok(service));
        }
        assert!("billing".parse::<ChainService>().is_err());
    }
}
