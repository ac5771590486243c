//! The JSON the admin API reads and writes (camelCase, as in Stripe-like APIs), shared
//! by the axum and actix front-ends and the OpenAPI document.

mod error;
pub(crate) mod input;
mod output;

pub use error::ApiError;
pub use input::{
    CreateKeyRequest, CreateRoleRequest, CreditsInput, DurationInput, NarrowKeyRequest,
    PutRoleRequest, PutSharedLimitsRequest, RateLimitInput, RefillInput, RefillIntervalInput,
    RotateKeyRequest, ScopesInput, UpdateKeyRequest,
};
pub use output::{
    AuditEventView, AuditList, CreatedKeyView, CreditsView, KeyList, KeyView, MeView,
    RateLimitStateView, RateLimitView, RoleList, RoleView, ScopeUsageView, ScopeUseView,
    SharedLimitsView, UserView, VerificationAnalytics, VerificationCountView, VerifyView,
};
