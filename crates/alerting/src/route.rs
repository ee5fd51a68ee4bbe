//! The compiled routing tree: what a dispatcher walks for each alert.
//!
//! Semantics follow Alertmanager's `dispatch/route.go`:
//! - options inherit from the parent (receiver, group_by / group_by_all,
//!   group_wait, group_interval, repeat_interval, labels merged), starting
//!   from the defaults 30s / 5m / 4h for the root;
//! - `mute_time_intervals` and `active_time_intervals` are *not* inherited:
//!   each route uses only its own, exactly as Alertmanager does;
//! - matching is depth-first, left to right; a matching child stops the scan
//!   of its siblings unless it has `continue: true`; a route whose children
//!   all miss is itself the match;
//! - keys are the parent's key, `/`, and the route's sorted matchers
//!   (`{}/{owner="team-A"}`); IDs add the child's position
//!   (`{}/{foo="bar"}/0`) so that they are unique.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{GroupBy, RouteConfig};
use crate::error::{TimeIntervalError, ValidationError};
use crate::matcher::{LabelSet, Matchers};
use crate::timeinterval::Intervener;

/// Effective options of a route after inheritance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOpts {
    pub receiver: String,
    /// Labels to group by, in the order written (ignored when
    /// `group_by_all`).
    pub group_by: Vec<String>,
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// Route labels, merged from the root down.
    pub labels: BTreeMap<String, String>,
}

impl Default for RouteOpts {
    /// Alertmanager's `DefaultRouteOpts`, the root's starting point.
    fn default() -> Self {
        RouteOpts {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(5 * 60),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            labels: BTreeMap::new(),
        }
    }
}

/// One node of the routing tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub opts: RouteOpts,
    pub matchers: Matchers,
    pub continue_matching: bool,
    pub routes: Vec<Route>,
    key: String,
    id: String,
    index: usize,
}

impl Route {
    /// Builds the tree from a root route. Matchers that do not compile are
    /// reported (a validated [`crate::Config`] has none).
    pub fn from_config(root: &RouteConfig) -> Result<Route, Vec<ValidationError>> {
        let mut errs = Vec::new();
        let mut counter = 0;
        let route = build(root, None, 0, &mut counter, &mut errs);
        if errs.is_empty() {
            Ok(route)
        } else {
            Err(errs)
        }
    }

    /// The routes an alert with `labels` goes to, in tree order.
    pub fn match_labels<L: LabelSet + ?Sized>(&self, labels: &L) -> Vec<&Route> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect<'a, L: LabelSet + ?Sized>(&'a self, labels: &L, out: &mut Vec<&'a Route>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for child in &self.routes {
            if child.collect(labels, out) && !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// Receivers for `labels`, in order (what `amtool config routes test`
    /// prints).
    pub fn receivers<L: LabelSet + ?Sized>(&self, labels: &L) -> Vec<&str> {
        self.match_labels(labels)
            .into_iter()
            .map(|r| r.opts.receiver.as_str())
            .collect()
    }

    /// The route's key, used in group keys; not unique in general.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A key that is unique within the tree (adds child positions).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Position in a post-order numbering of the tree (children before
    /// parents), as Alertmanager's `Route.Idx`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Visits every route, parents before children.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Route)) {
        visit(self);
        for r in &self.routes {
            r.walk(visit);
        }
    }

    /// Whether notifications from this route are held back at `now`: inside
    /// one of its `mute_time_intervals`, or outside all of its
    /// `active_time_intervals` when it lists any (Alertmanager's time-mute
    /// and time-active stages).
    pub fn muted_at(
        &self,
        intervals: &Intervener,
        now: DateTime<Utc>,
    ) -> Result<bool, TimeIntervalError> {
        let (in_mute, _) = intervals.contains_any(&self.opts.mute_time_intervals, now)?;
        if in_mute {
            return Ok(true);
        }
        if self.opts.active_time_intervals.is_empty() {
            return Ok(false);
        }
        let (in_active, _) = intervals.contains_any(&self.opts.active_time_intervals, now)?;
        Ok(!in_active)
    }

    /// The labels an alert is grouped by on this route: every label when
    /// `group_by_all`, else the `group_by` labels the alert has.
    pub fn group_labels<L: LabelSet + ?Sized>(&self, labels: &L) -> BTreeMap<String, String> {
        if self.opts.group_by_all {
            return labels
                .label_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        self.opts
            .group_by
            .iter()
            .filter_map(|n| labels.label(n).map(|v| (n.clone(), v.to_string())))
            .collect()
    }
}

fn build(
    cfg: &RouteConfig,
    parent: Option<(&RouteOpts, &str, &str)>,
    position: usize,
    counter: &mut usize,
    errs: &mut Vec<ValidationError>,
) -> Route {
    let mut opts = parent.map(|p| p.0.clone()).unwrap_or_default();
    if let Some(l) = &cfg.labels {
        opts.labels
            .extend(l.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if !cfg.receiver.is_empty() {
        opts.receiver = cfg.receiver.clone();
    }
    match cfg.group_by_mode() {
        GroupBy::Inherit => {}
        // Like Alertmanager, `...` keeps any inherited list; it is ignored
        // while `group_by_all` is set.
        GroupBy::All => opts.group_by_all = true,
        GroupBy::Labels(l) => {
            opts.group_by = l;
            opts.group_by_all = false;
        }
    }
    if let Some(d) = cfg.group_wait {
        opts.group_wait = d.as_duration();
    }
    if let Some(d) = cfg.group_interval {
        opts.group_interval = d.as_duration();
    }
    if let Some(d) = cfg.repeat_interval {
        opts.repeat_interval = d.as_duration();
    }
    opts.mute_time_intervals = cfg.mute_time_intervals.clone();
    opts.active_time_intervals = cfg.active_time_intervals.clone();
    let matchers = cfg.compile_matchers(errs);
    let shown = matchers.to_string();
    let (key, id) = match parent {
        None => (shown.clone(), shown),
        Some((_, pkey, pid)) => (
            format!("{pkey}/{shown}"),
            format!("{pid}/{shown}/{position}"),
        ),
    };
    let routes = cfg
        .routes
        .iter()
        .enumerate()
        .map(|(i, c)| build(c, Some((&opts, &key, &id)), i, counter, errs))
        .collect();
    let index = *counter;
    *counter += 1;
    Route {
        opts,
        matchers,
        continue_matching: cfg.continue_matching,
        routes,
        key,
        id,
        index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(y: &str) -> Route {
        let cfg: RouteConfig = serde_yaml::from_str(y).unwrap();
        Route::from_config(&cfg).unwrap()
    }

    fn ls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn continue_and_fallback() {
        let t = tree(
            "receiver: d\nroutes:\n- matchers: [a=1]\n  receiver: r1\n  continue: true\n- matchers: ['b=~x|y']\n  receiver: r2\n  routes:\n  - matchers: [c!=z]\n    receiver: r3\n",
        );
        assert_eq!(
            t.receivers(&ls(&[("a", "1"), ("b", "x"), ("c", "z")])),
            ["r1", "r2"]
        );
        assert_eq!(t.receivers(&ls(&[("b", "y")])), ["r3"]);
        assert_eq!(t.receivers(&ls(&[("q", "1")])), ["d"]);
    }

    #[test]
    fn group_labels_and_intervals_not_inherited() {
        let t = tree(
            "receiver: d\ngroup_by: [alertname]\nroutes:\n- matchers: [a=1]\n  mute_time_intervals: [nights]\n  routes:\n  - matchers: [b=2]\n- matchers: [c=3]\n  group_by: ['...']\n",
        );
        let alert = ls(&[("a", "1"), ("b", "2"), ("alertname", "X"), ("z", "9")]);
        let m = t.match_labels(&alert);
        assert_eq!(m.len(), 1);
        assert!(m[0].opts.mute_time_intervals.is_empty());
        assert_eq!(t.routes[0].opts.mute_time_intervals, ["nights"]);
        assert_eq!(m[0].group_labels(&alert), ls(&[("alertname", "X")]));
        let all = ls(&[("c", "3"), ("z", "9")]);
        assert_eq!(t.match_labels(&all)[0].group_labels(&all), all);
        assert_eq!(t.routes[0].routes[0].id(), "{}/{a=\"1\"}/0/{b=\"2\"}/0");
        assert_eq!(t.routes[1].key(), "{}/{c=\"3\"}");
        assert_eq!(
            (
                t.routes[0].routes[0].index(),
                t.routes[0].index(),
                t.index()
            ),
            (0, 1, 3)
        );
    }

    #[test]
    fn mute_and_active_intervals() {
        let cfg = crate::Config::load(
            "route:\n  receiver: d\n  routes:\n  - matchers: [a=1]\n    mute_time_intervals: [nights]\n  - matchers: [a=2]\n    active_time_intervals: [nights]\ntime_intervals:\n- name: nights\n  time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]\nreceivers: [{name: d}]\n",
        )
        .unwrap();
        let t = cfg.routing_tree().unwrap();
        let iv = cfg.intervener();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let (night, day) = (at("2024-03-04T03:00:00Z"), at("2024-03-04T12:00:00Z"));
        let (muted, active) = (&t.routes[0], &t.routes[1]);
        assert!(muted.muted_at(&iv, night).unwrap() && !muted.muted_at(&iv, day).unwrap());
        assert!(!active.muted_at(&iv, night).unwrap() && active.muted_at(&iv, day).unwrap());
        assert!(!t.muted_at(&iv, night).unwrap());
    }
}
