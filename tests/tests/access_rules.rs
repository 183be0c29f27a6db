//! Authorisation is deny-by-default: an RPC without a rule is refused to everyone. So every RPC
//! of each service's contract must have exactly one rule, and no rule may name an RPC the
//! contract does not have.

use chain_rpc::access::{Rules, missing_rules};

#[test]
fn every_rpc_of_every_contract_has_exactly_one_rule() {
    let services: [(&str, Rules); 3] = [
        (
            "customerchain.v1.InternalRequestService",
            chain_requests::service::ACCESS,
        ),
        (
            "customerchain.v1.TicketService",
            chain_tickets::service::ACCESS,
        ),
        (
            "customerchain.v1.SatisfactionService",
            chain_scoring::service::ACCESS,
        ),
    ];
    for (service, rules) in services {
        let (unruled, stray) = missing_rules(service, rules);
        assert!(
            unruled.is_empty(),
            "{service}: RPCs without a rule: {unruled:?}"
        );
        assert!(
            stray.is_empty(),
            "{service}: rules naming no RPC: {stray:?}"
        );
    }
}
