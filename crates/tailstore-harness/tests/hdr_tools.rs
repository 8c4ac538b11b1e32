//! hdr tools
