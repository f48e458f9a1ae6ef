//! Typed readers of `plan --json` and `diff --json`: the engine's own report types, read back,
//! so a test names what it checks (`plan.action("msk")`) instead of digging through JSON.

pub use pinctl::engine::drift::{DriftReport, DriftStatus, ResourceDrift};
pub use pinctl::engine::plan::{Action, FieldChange, Plan, ResourcePlan};

/// Questions a test asks of a plan.
pub trait PlanExt {
    /// The plan of one resource; panics when the plan has none of that name.
    fn resource(&self, name: &str) -> &ResourcePlan;
    /// What the plan does to one resource.
    fn action(&self, name: &str) -> Action;
    /// The paths of the fields that change, in the plan's order.
    fn changed_paths(&self, name: &str) -> Vec<String>;
    /// (resource, action) for every resource, in the plan's order.
    fn actions(&self) -> Vec<(String, Action)>;
}

impl PlanExt for Plan {
    #[track_caller]
    fn resource(&self, name: &str) -> &ResourcePlan {
        self.get(name)
            .unwrap_or_else(|| panic!("no resource `{name}` in the plan: {self:#?}"))
    }

    #[track_caller]
    fn action(&self, name: &str) -> Action {
        self.resource(name).action
    }

    #[track_caller]
    fn changed_paths(&self, name: &str) -> Vec<String> {
        self.resource(name).change_paths()
    }

    fn actions(&self) -> Vec<(String, Action)> {
        self.resources
            .iter()
            .map(|r| (r.name.clone(), r.action))
            .collect()
    }
}

/// Questions a test asks of one resource's plan.
pub trait ResourcePlanExt {
    /// The change of the field at `path`; panics when that field does not change.
    fn change(&self, path: &str) -> &FieldChange;
    /// The paths of the fields that change, in the plan's order.
    fn change_paths(&self) -> Vec<String>;
}

impl ResourcePlanExt for ResourcePlan {
    #[track_caller]
    fn change(&self, path: &str) -> &FieldChange {
        self.changes
            .iter()
            .find(|c| c.path == path)
            .unwrap_or_else(|| panic!("`{}` has no change at `{path}`: {self:#?}", self.name))
    }

    fn change_paths(&self) -> Vec<String> {
        self.changes.iter().map(|c| c.path.clone()).collect()
    }
}

/// Questions a test asks of a drift report.
pub trait DriftExt {
    /// The drift of one resource; panics when the report has none of that name.
    fn resource(&self, name: &str) -> &ResourceDrift;
    /// The paths of the fields of a drifted resource that differ; panics unless it drifted.
    fn drifted_paths(&self, name: &str) -> Vec<String>;
}

impl DriftExt for DriftReport {
    #[track_caller]
    fn resource(&self, name: &str) -> &ResourceDrift {
        self.resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no resource `{name}` in the drift report: {self:#?}"))
    }

    #[track_caller]
    fn drifted_paths(&self, name: &str) -> Vec<String> {
        let r = self.resource(name);
        assert_eq!(r.status, DriftStatus::Drifted, "{r:#?}");
        r.changes.iter().map(|c| c.path.clone()).collect()
    }
}
