//! Reading a login request: its client address, and its body, buffered (at
//! most `max_body_bytes`, within `body_read_timeout`) to read the fields
//! the way handlers read them (see [`body`](super::body)), then handed on
//! unchanged.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::BoxError;
use http::header::{self, HeaderMap};
use http::{Extensions, Request};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::body;
use super::rejection::{
    BodyTimeout, BodyTooLarge, BodyUnreadable, LayerRejection, MissingClientAddress,
};
use crate::config::AxesConfig;
use crate::identity::RequestInfo;

/// What the callables see of `request`, and the request with its body
/// restored; or the answer to give instead (no client address, body too
/// large, too slow or unreadable).
pub(crate) async fn read<B>(
    config: &AxesConfig,
    request: Request<B>,
) -> Result<(RequestInfo, Request<B>), LayerRejection>
where
    B: Body<Data = Bytes> + From<Bytes>,
    B::Error: Into<BoxError>,
{
    let Some(peer) = peer_address(request.extensions()) else {
        tracing::error!(target: "axes", "no client address: serve the router with `into_make_service_with_connect_info::<SocketAddr>()`");
        return Err(MissingClientAddress.into());
    };
    let (parts, body) = request.into_parts();
    let (fields, body) = if body.is_end_stream() || body.size_hint().upper() == Some(0) {
        (Vec::new(), body)
    } else {
        let read = read_body(&parts.headers, body, config.max_body_bytes);
        let Some(bytes) = crate::deadline::within(config.body_read_timeout, read).await else {
            tracing::debug!(target: "axes", "login request body not received in time");
            return Err(BodyTimeout.into());
        };
        let bytes = bytes?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        (body::fields(content_type, &bytes).await, B::from(bytes))
    };
    let info = RequestInfo::new(
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
        peer,
    )
    .with_fields(fields);
    Ok((info, Request::from_parts(parts, body)))
}

/// Buffers a body of at most `limit` bytes.
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, LayerRejection>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyTooLarge { limit }.into());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyTooLarge { limit }.into())
        }
        Err(error) => {
            tracing::debug!(target: "axes", %error, "login request body could not be read");
            Err(BodyUnreadable.into())
        }
    }
}

/// The TCP peer: axum's `ConnectInfo` (or `MockConnectInfo`), or a plain
/// `SocketAddr` another server put in the extensions.
fn peer_address(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| *addr)
        })
        .or_else(|| extensions.get::<SocketAddr>().copied())
}
