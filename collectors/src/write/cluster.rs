//! Writes cluster facts as `cluster/` files.
