//! Code the example programs share: where one-shot examples send their spans
//! ([`sink`]), and the webapp demo's services ([`webapp`]), used by the
//! `webapp`, `frontservice`, `serviceA` and `serviceB` binaries and by
//! `dapple-collector demo`.

pub mod sink;
pub mod webapp;
