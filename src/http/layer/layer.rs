use tower_layer::Layer;

use super::AxesService;
use crate::engine::Axes;

/// Applies [`AxesService`] to a login route: see the [module docs](crate::layer).
///
/// ```
/// use axum::{routing::post, Router};
/// use axes::{Axes, AxesConfig, AxesLayer, MemoryStore};
/// let axes = Axes::new(AxesConfig::default(), MemoryStore::new());
/// let app: Router = Router::new()
///     .route("/login", post(|| async { "ok" }))
///     .layer(AxesLayer::new(axes));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AxesLayer {
    axes: Axes,
    check_before_dispatch: bool,
}

impl AxesLayer {
    /// A layer that checks clients before dispatch and records reports.
    pub fn new(axes: Axes) -> Self {
        Self {
            axes,
            check_before_dispatch: true,
        }
    }

    /// Whether locked-out clients are refused before the handler runs
    /// (default `true`). `false` suits routes that must stay open to a
    /// locked client, such as logout, while still recording reports.
    ///
    /// ```
    /// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let logout_layer = axes::AxesLayer::new(axes).check_before_dispatch(false);
    /// ```
    pub fn check_before_dispatch(mut self, check: bool) -> Self {
        self.check_before_dispatch = check;
        self
    }
}

impl<S> Layer<S> for AxesLayer {
    type Service = AxesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AxesService::new(inner, self.axes.clone(), self.check_before_dispatch)
    }
}
