//! The SLOs a running server knows: those of the configuration (replaced on reload)
//! and those created through `/api/v1/slos` (stored in the control-plane database as
//! the document that was submitted, re-read at start). Every change is passed on to
//! the rule manager, so the generated rules always match the registry.

use pharos_slo::{Slo, SpecError};
use pharos_state::Database;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// Where an SLO was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Config,
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Api => "api",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub slo: Arc<Slo>,
    pub origin: Origin,
}

/// Receives the full SLO list after each change (the rule manager).
pub trait SloSync: Send + Sync {
    fn sync<'a>(
        &'a self,
        slos: Vec<Slo>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Why an API change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}", join(.0))]
    Invalid(Vec<SpecError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

fn join(errs: &[SpecError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Name of a request body in spec errors.
const BODY: &str = "request body";

pub struct SloRegistry {
    config: RwLock<Vec<Arc<Slo>>>,
    api: RwLock<BTreeMap<String, Arc<Slo>>>,
    db: Database,
    sync: RwLock<Option<Arc<dyn SloSync>>>,
    /// Serialises changes, so the database, the registry and the rules move together.
    change: tokio::sync::Mutex<()>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// The SLO with `id` in a submitted document.
fn pick(slos: Vec<Slo>, id: &str) -> Option<Slo> {
    slos.into_iter().find(|s| s.id() == id)
}

impl SloRegistry {
    /// The registry with `config_slos` and the API-created SLOs stored in `db`. A
    /// stored document that no longer loads (a newer server's format, say) is
    /// skipped with an error in the log rather than stopping the server.
    pub async fn open(db: Database, config_slos: Vec<Slo>) -> anyhow::Result<Arc<SloRegistry>> {
        let stored = db
            .slo_specs()
            .list()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read stored SLOs: {e}"))?;
        let mut api = BTreeMap::new();
        let config_ids: Vec<String> = config_slos.iter().map(Slo::id).collect();
        for rec in stored {
            let loaded = pharos_slo::load_str(&rec.spec, &format!("stored SLO {:?}", rec.id));
            match loaded.map(|s| pick(s, &rec.id)) {
                Ok(Some(slo)) if !config_ids.contains(&rec.id) => {
                    api.insert(rec.id, Arc::new(slo));
                }
                Ok(Some(_)) => tracing::warn!(
                    id = rec.id,
                    "stored SLO has the id of a configured one; the configured one is used"
                ),
                Ok(None) => tracing::error!(id = rec.id, "stored SLO document lacks its id"),
                Err(e) => {
                    tracing::error!(id = rec.id, error = join(&e), "stored SLO no longer loads")
                }
            }
        }
        Ok(Arc::new(SloRegistry {
            config: RwLock::new(config_slos.into_iter().map(Arc::new).collect()),
            api: RwLock::new(api),
            db,
            sync: RwLock::new(None),
            change: tokio::sync::Mutex::new(()),
        }))
    }

    /// Connects the rule manager and hands it the current SLOs.
    pub async fn connect(&self, sync: Arc<dyn SloSync>) -> Result<(), String> {
        let _guard = self.change.lock().await;
        *write(&self.sync) = Some(sync.clone());
        sync.sync(self.slos()).await
    }

    /// Every SLO: the configured ones in order, then the API's by id.
    pub fn all(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = read(&self.config)
            .iter()
            .map(|s| Entry {
                slo: s.clone(),
                origin: Origin::Config,
            })
            .collect();
        out.extend(read(&self.api).values().map(|s| Entry {
            slo: s.clone(),
            origin: Origin::Api,
        }));
        out
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        self.all().into_iter().find(|e| e.slo.id() == id)
    }

    fn slos(&self) -> Vec<Slo> {
        self.all().into_iter().map(|e| (*e.slo).clone()).collect()
    }

    fn is_configured(&self, id: &str) -> bool {
        read(&self.config).iter().any(|s| s.id() == id)
    }

    async fn resync(&self) {
        let sync = read(&self.sync).clone();
        if let Some(s) = sync {
            if let Err(e) = s.sync(self.slos()).await {
                tracing::error!(error = e, "generated SLO rules could not be loaded");
            }
        }
    }

    /// Replaces the configured SLOs (a reload). API SLOs whose id a configured one
    /// now takes are hidden behind it until it goes again.
    pub async fn set_config(&self, slos: Vec<Slo>) {
        let _guard = self.change.lock().await;
        *write(&self.config) = slos.into_iter().map(Arc::new).collect();
        self.resync().await;
    }

    /// `POST /api/v1/slos`: every SLO of `text`, or nothing.
    pub async fn create(&self, text: &str, now_ms: i64) -> Result<Vec<String>, RegistryError> {
        let slos = pharos_slo::load_str(text, BODY).map_err(RegistryError::Invalid)?;
        let _guard = self.change.lock().await;
        let taken: Vec<String> = slos
            .iter()
            .map(Slo::id)
            .filter(|id| self.get(id).is_some())
            .collect();
        if !taken.is_empty() {
            return Err(RegistryError::Conflict(format!(
                "SLO already exists: {}",
                taken.join(", ")
            )));
        }
        let rows: Vec<(String, String)> = slos.iter().map(|s| (s.id(), text.to_owned())).collect();
        let existing = self
            .db
            .slo_specs()
            .insert_many(&rows, now_ms)
            .await
            .map_err(|e| RegistryError::Internal(format!("cannot store the SLO: {e}")))?;
        if !existing.is_empty() {
            return Err(RegistryError::Conflict(format!(
                "SLO already exists: {}",
                existing.join(", ")
            )));
        }
        let ids: Vec<String> = slos.iter().map(Slo::id).collect();
        {
            let mut api = write(&self.api);
            for s in slos {
                api.insert(s.id(), Arc::new(s));
            }
        }
        self.resync().await;
        Ok(ids)
    }

    /// `PUT /api/v1/slos/{id}`: the SLO `id` of `text` replaces (or creates) the stored
    /// one. Returns whether it was created.
    pub async fn replace(&self, id: &str, text: &str, now_ms: i64) -> Result<bool, RegistryError> {
        let slos = pharos_slo::load_str(text, BODY).map_err(RegistryError::Invalid)?;
        let found: Vec<String> = slos.iter().map(Slo::id).collect();
        let slo = pick(slos, id).ok_or_else(|| {
            RegistryError::BadRequest(format!(
                "the document defines no SLO with id {id:?} (it defines {})",
                found.join(", ")
            ))
        })?;
        let _guard = self.change.lock().await;
        if self.is_configured(id) {
            return Err(configured(id));
        }
        let created = self
            .db
            .slo_specs()
            .upsert(id, text, now_ms)
            .await
            .map_err(|e| RegistryError::Internal(format!("cannot store the SLO: {e}")))?;
        write(&self.api).insert(id.to_owned(), Arc::new(slo));
        self.resync().await;
        Ok(created)
    }

    /// `DELETE /api/v1/slos/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), RegistryError> {
        let _guard = self.change.lock().await;
        if self.is_configured(id) {
            return Err(configured(id));
        }
        let removed = self
            .db
            .slo_specs()
            .delete(id)
            .await
            .map_err(|e| RegistryError::Internal(format!("cannot delete the SLO: {e}")))?;
        let known = write(&self.api).remove(id).is_some();
        if !removed && !known {
            return Err(RegistryError::NotFound(format!("SLO {id:?} not found")));
        }
        self.resync().await;
        Ok(())
    }
}

fn configured(id: &str) -> RegistryError {
    RegistryError::Conflict(format!(
        "SLO {id:?} is defined in the configuration; change it there and reload"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the SLO ids of every sync.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Vec<String>>>);

    impl SloSync for Recorder {
        fn sync<'a>(
            &'a self,
            slos: Vec<Slo>,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            self.0
                .lock()
                .unwrap()
                .push(slos.iter().map(Slo::id).collect());
            Box::pin(async { Ok(()) })
        }
    }

    fn spec(service: &str, names: &[&str], objective: f64) -> String {
        let mut s = format!("version: prometheus/v1\nservice: {service}\nslos:\n");
        for n in names {
            s.push_str(&format!(
                "  - name: {n}\n    objective: {objective}\n    sli:\n      events:\n        error_query: sum(rate(e[{{{{.window}}}}]))\n        total_query: sum(rate(t[{{{{.window}}}}]))\n"
            ));
        }
        s
    }

    #[tokio::test]
    async fn api_slos_are_stored_conflicts_refused_and_rules_follow() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_data_dir(dir.path()).await.unwrap();
        let configured = pharos_slo::load_str(&spec("web", &["latency"], 99.0), "p.yml").unwrap();
        let reg = SloRegistry::open(db.clone(), configured.clone())
            .await
            .unwrap();
        let rec = Arc::new(Recorder::default());
        reg.connect(rec.clone()).await.unwrap();

        let ids = reg
            .create(&spec("api", &["a", "b"], 99.9), 1)
            .await
            .unwrap();
        assert_eq!(ids, ["api-a", "api-b"]);
        // Any id taken refuses the whole document.
        let e = reg
            .create(&spec("api", &["b", "c"], 99.9), 2)
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::Conflict(ref m) if m.contains("api-b")),
            "{e}"
        );
        assert!(reg.get("api-c").is_none());
        let e = reg
            .create(&spec("web", &["latency"], 99.9), 2)
            .await
            .unwrap_err();
        assert!(matches!(e, RegistryError::Conflict(_)));
        let e = reg
            .create(&spec("api", &["d"], 120.0), 2)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("objective"), "{e}");

        // PUT takes the SLO of the id from the document; configured ones are refused.
        assert!(!reg
            .replace("api-a", &spec("api", &["a"], 99.5), 3)
            .await
            .unwrap());
        assert_eq!(reg.get("api-a").unwrap().slo.objective, 99.5);
        assert!(matches!(
            reg.replace("api-x", &spec("api", &["a"], 99.5), 3).await,
            Err(RegistryError::BadRequest(_))
        ));
        assert!(matches!(
            reg.replace("web-latency", &spec("web", &["latency"], 99.5), 3)
                .await,
            Err(RegistryError::Conflict(_))
        ));
        assert!(matches!(
            reg.delete("web-latency").await,
            Err(RegistryError::Conflict(_))
        ));
        reg.delete("api-b").await.unwrap();
        assert!(matches!(
            reg.delete("api-b").await,
            Err(RegistryError::NotFound(_))
        ));

        let syncs = rec.0.lock().unwrap().clone();
        assert_eq!(syncs.first().unwrap(), &["web-latency"]);
        assert_eq!(syncs.last().unwrap(), &["web-latency", "api-a"]);

        // A restart reads the stored document back, with the replaced objective.
        let reopened = SloRegistry::open(db.clone(), configured).await.unwrap();
        let all: Vec<(String, Origin, f64)> = reopened
            .all()
            .iter()
            .map(|e| (e.slo.id(), e.origin, e.slo.objective))
            .collect();
        assert_eq!(
            all,
            [
                ("web-latency".to_string(), Origin::Config, 99.0),
                ("api-a".to_string(), Origin::Api, 99.5)
            ]
        );
        db.close().await;
    }
}
