//! The ports: everything facebank talks to outside its own process sits behind
//! one of these traits, with an embedded implementation that needs nothing
//! installed.

pub mod cache;
pub mod index;
pub mod inference;
pub mod records;
