//! netdoctor's rule unit-test runner. (Moved here from the binary; see `docs/rule-tests.md`.)
