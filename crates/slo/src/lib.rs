//! Service level objectives: reading SLO specs (Sloth `prometheus/v1`, OpenSLO v1
//! and Pharos's own `slos:` shape) into one internal model, generating the SLI
//! recording rules and multi-window multi-burn-rate alerts for them as a Prometheus
//! rule file, and the error-budget arithmetic (budget consumed and remaining, burn
//! rates, exhaustion projection, policy state and the release `freeze` flag) as
//! pure functions. This crate must not touch storage, the rule manager, HTTP or
//! notification delivery: the server loads the generated rules into its rule
//! manager and feeds the budget functions with values it queried.
//!
//! | module | job |
//! |---|---|
//! | [`model`] | the internal SLO model, spec errors, validation |
//! | [`spec`] | recognising a spec file's format; [`spec::sloth`], [`spec::openslo`], [`spec::pharos`] translate each |
//! | [`query`] | `{{.window}}` placeholders, durations, counter/histogram query rewriting |
//! | [`windows`] | alert window pairs and burn-rate factors per SLO period |
//! | [`generate`] | recording and alerting rules per SLO |
//! | [`rulefile`] | the rules as Prometheus rule-file YAML |
//! | [`budget`] | error-budget math and the budget policy |

pub mod budget;
pub mod generate;
pub mod model;
pub mod query;
pub mod rulefile;
pub mod spec;
pub mod windows;

pub use budget::{report, BudgetInput, BudgetReport, PolicyState};
pub use generate::{generate, Rule, RuleGroup};
pub use model::{Slo, SpecError};
pub use rulefile::rule_file;
pub use spec::{load_config_section, load_file, load_str};
