//! Where a bench run's figures are read from: criterion's estimates and the custom benches' JSON files,
//! counted only when written during this run.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

/// Where benchmark results come from, and since when they count.
pub(super) struct Results {
    pub(super) criterion: PathBuf,
    pub(super) custom: PathBuf,
    pub(super) since: SystemTime,
}

impl Results {
    /// The median, in ns, of the first criterion benchmark in `ids` (`group/id` directories) written this run.
    pub(super) fn median(&self, ids: &[&str]) -> Option<f64> {
        ids.iter().find_map(|id| {
            let value = self.fresh_json(&self.criterion.join(id).join("new/estimates.json"))?;
            value.get("median")?.get("point_estimate")?.as_f64()
        })
    }

    /// A number from a custom bench's JSON file, at the path of keys `keys`.
    pub(super) fn custom(&self, file: &str, keys: &[&str]) -> Option<f64> {
        let json = self.fresh_json(&self.custom.join(file))?;
        let mut value = &json;
        for key in keys {
            value = value.get(*key)?;
        }
        value.as_f64()
    }

    fn fresh_json(&self, path: &Path) -> Option<Value> {
        let modified = std::fs::metadata(path).ok()?.modified().ok()?;
        if modified < self.since {
            return None;
        }
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}
