use std::sync::Arc;

use axum::response::Response;
use tower_layer::Layer;

use super::AxesService;
use crate::engine::Axes;
use crate::http::response::{LockoutContext, Responses};

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
    responses: Responses,
    check_before_dispatch: bool,
}

impl AxesLayer {
    /// A layer that checks clients before dispatch and records reports.
    ///
    /// ```
    /// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let layer = axes::AxesLayer::new(axes);
    /// # drop(layer);
    /// ```
    pub fn new(axes: Axes) -> Self {
        Self {
            responses: Responses::new(axes),
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

    /// Replaces the lockout response entirely (django-axes'
    /// `AXES_LOCKOUT_CALLABLE`); no `Retry-After` is added to it.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let layer = axes::AxesLayer::new(axes).lockout_callable(|ctx| {
    ///     (ctx.status, format!("locked after {} failures", ctx.lockout.failures)).into_response()
    /// });
    /// # drop(layer);
    /// ```
    pub fn lockout_callable<F>(mut self, callable: F) -> Self
    where
        F: Fn(&LockoutContext<'_>) -> Response + Send + Sync + 'static,
    {
        self.responses.callable = Some(Arc::new(callable));
        self
    }

    /// Renders the HTML body of the lockout response (django-axes'
    /// `AXES_LOCKOUT_TEMPLATE`); status and headers stay axes' own.
    ///
    /// ```
    /// # let axes = axes::Axes::new(axes::AxesConfig::default(), axes::MemoryStore::new());
    /// let layer = axes::AxesLayer::new(axes)
    ///     .lockout_template(|ctx| format!("<h1>Locked</h1><p>{}</p>", ctx.message));
    /// # drop(layer);
    /// ```
    pub fn lockout_template<F>(mut self, template: F) -> Self
    where
        F: Fn(&LockoutContext<'_>) -> String + Send + Sync + 'static,
    {
        self.responses.template = Some(Arc::new(template));
        self
    }
}

impl<S> Layer<S> for AxesLayer {
    type Service = AxesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AxesService::new(
            inner,
            Arc::new(self.responses.clone()),
            self.check_before_dispatch,
        )
    }
}
