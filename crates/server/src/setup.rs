//! What a service binary adds to the shared process: its own migrations, its gRPC services and
//! its background tasks.

use crate::{BoxError, ServiceRuntime};
use sqlx::PgPool;
use std::future::Future;
use tonic::service::Routes;

/// A service's own part of the process, handed to [`crate::cli::run`].
///
/// ```no_run
/// use chain_server::{BoxError, ServiceRuntime, ServiceSetup};
/// use tonic::service::Routes;
///
/// struct Requests;
///
/// impl ServiceSetup for Requests {
///     async fn routes(self, runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
///         // e.g. Routes::new(InternalRequestServiceServer::new(service)
///         //     .max_decoding_message_size(runtime.config().max_message_bytes))
///         let _ = runtime;
///         Ok(Routes::default())
///     }
/// }
/// ```
pub trait ServiceSetup {
    /// Applies the service's own migrations (its projections), after the event store's and the
    /// consumer inbox's. Runs at every start and on the `migrate` command. Use a migrations
    /// table of the service's own (`Migrator::dangerous_set_table_name`), since sqlx's default
    /// table belongs to the event store. The default does nothing.
    fn migrate(&self, pool: &PgPool) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = pool;
        async { Ok(()) }
    }

    /// Builds the service's gRPC services, and spawns its background tasks (consumers,
    /// projectors) with [`ServiceRuntime::spawn_background`]. Runs once the runtime started
    /// and before the server accepts calls.
    fn routes(
        self,
        runtime: &ServiceRuntime,
    ) -> impl Future<Output = Result<Routes, BoxError>> + Send;
}

/// A service that so far serves only health, reflection and its relay: every domain call
/// answers `UNIMPLEMENTED`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDomainService;

impl ServiceSetup for NoDomainService {
    async fn routes(self, _runtime: &ServiceRuntime) -> Result<Routes, BoxError> {
        Ok(Routes::default())
    }
}
