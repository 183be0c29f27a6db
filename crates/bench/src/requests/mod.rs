//! The parts of `requests-bench`: the service process under test, the teams and links it is
//! given, the load of concurrent clients, what is watched beside them (memory, CPU, PostgreSQL
//! transactions, the projector's backlog), and the report.

pub mod cpu;
pub mod load;
pub mod memory;
pub mod postgres;
pub mod projector;
pub mod report;
pub mod service;
pub mod teams;
