//! Code the example programs share: the webapp demo's services, used by the
//! `webapp`, `frontservice`, `serviceA` and `serviceB` binaries and by
//! `dapple-collector demo`.

pub mod webapp;
