//! heros-codegen
