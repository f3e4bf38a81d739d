//! Writes one host's facts as `nodes/<name>/` files.
