//! Prometheus rule files: parsing, checking, evaluation and unit tests.
