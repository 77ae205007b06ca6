//! TODO
/// placeholder
pub struct Director;
