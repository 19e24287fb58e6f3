//! [`ServeService`]: what an application must be for the server to run it, said once.

use http::{Request, Response};
use hyper::body::Incoming;
use tower_service::Service;

/// The error type hyper accepts from services and bodies.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

mod sealed {
    pub trait Sealed {}
    impl<S> Sealed for S {}
}

/// A `tower` service the server can run: answers `Request<Incoming>` with a body hyper can write,
/// is cloned for each connection and runs on any worker thread. Implemented for every service
/// that fits (sealed, a blanket impl), so that bounds read `S: ServeService`.
pub trait ServeService:
    Service<
        Request<Incoming>,
        Response = Response<<Self as ServeService>::ResBody>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    >
    + Clone
    + Send
    + 'static
    + sealed::Sealed
{
    /// The response body.
    type ResBody: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> ServeService for S
where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + 'static,
    B: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
{
    type ResBody = B;
}
