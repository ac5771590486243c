use keygate::{KeyGate, KeyGateBuilder, KeyStore};
use tower_layer::Layer;

use crate::service::ApiKeyService;

/// A tower layer that requires a valid API key on every request.
///
/// Build it from a [`KeyGate`] (shared with other adapters) or directly:
///
/// ```
/// use keygate::MemoryStore;
/// use keygate::render::NestedRenderer;
/// use keygate_tower::ApiKeyLayer;
///
/// let layer = ApiKeyLayer::builder(MemoryStore::new())
///     .prefix("sk")
///     .envs(["live"])
///     .bearer()
///     .header("X-API-KEY")
///     .renderer(NestedRenderer::new())
///     .hide_credentials(true)
///     .build();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeyLayer {
    gate: KeyGate,
}

impl ApiKeyLayer {
    /// A layer over a configured gate.
    pub fn new(gate: KeyGate) -> Self {
        Self { gate }
    }

    /// Starts a [`KeyGateBuilder`] whose `build()` returns an `ApiKeyLayer`.
    pub fn builder(store: impl KeyStore) -> KeyGateBuilder<Self> {
        KeyGate::builder(store).finish_with(Self::new)
    }

    /// The gate.
    pub fn gate(&self) -> &KeyGate {
        &self.gate
    }
}

impl From<KeyGate> for ApiKeyLayer {
    fn from(gate: KeyGate) -> Self {
        Self::new(gate)
    }
}

impl<S> Layer<S> for ApiKeyLayer {
    type Service = ApiKeyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKeyService::new(inner, self.gate.clone())
    }
}
