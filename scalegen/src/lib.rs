//! Generates realistic capture directories at scale, with injected faults and the findings they must produce.
