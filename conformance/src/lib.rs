//! The conformance suite for AWS Cloud Map implementations (scenario harness: see the conformance issue).
