//! The parts of `requests-bench`: the service process under test, the teams and links it is
//! given, the load of concurrent clients, what is watched beside them (memory, CPU, PostgreSQL
//! transactions, the projector's backlog), what tracing costs (a counting OTLP receiver and the
//! service's span counters), and the report.

pub mod cpu;
pub mod load;
pub mod memory;
pub mod postgres;
pub mod projector;
pub mod report;
pub mod service;
pub mod teams;
pub mod traced;
