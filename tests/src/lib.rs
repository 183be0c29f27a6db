//! End-to-end tests of customer-chain: they start the services against real PostgreSQL and NATS.
