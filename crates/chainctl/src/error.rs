//! What can go wrong in a chainctl command, worded for the operator, and the exit code each
//! failure ends the process with.

use crate::client::Service;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The service could not be reached at all (not running, wrong address).
    #[error("{service} is not reachable at {addr}: {reason}")]
    Unreachable {
        /// Which service.
        service: Service,
        /// The address tried.
        addr: String,
        /// Why the connection failed, innermost cause last.
        reason: String,
    },
    /// The service answered the call with an error status.
    #[error("{service} refused {method}: {code}: {message}", code = code_name(.status.code()), message = .status.message())]
    Refused {
        /// Which service.
        service: Service,
        /// The RPC.
        method: &'static str,
        /// The status it answered.
        status: tonic::Status,
    },
    /// The command line or an input value is wrong.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } | Self::Output(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable { .. } => 3,
        }
    }

    /// A suggestion printed under the error, when there is a useful one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Unreachable { service, .. } => Some(format!(
                "start the services with scripts/up.sh, or point {flag} / {env} at {service}",
                flag = service.address_flag(),
                env = service.address_env(),
            )),
            Self::Refused { status, .. } if status.code() == tonic::Code::Unauthenticated => {
                Some("act as a team with --as <team-id> (or CHAIN_ACTOR)".to_owned())
            }
            _ => None,
        }
    }

    /// The gRPC status, when the service answered with one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Self::Refused { status, .. } => Some(status),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error.to_string())
    }
}

/// The canonical upper-case name of a gRPC code (`NOT_FOUND`), as the API docs spell them.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
