//! Projects (issue 22): a project's state, an account's role in it, an invitation's
//! state — each the column type of its table (migration 0031: the CHECK constraints admit
//! exactly these spellings) — and the moves between states.

use stratus_api::ApiError;

/// The account type of a project's own account (CloudStack's `Account.Type.PROJECT`).
pub const PROJECT_ACCOUNT_TYPE: i32 = 5;

/// A project's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectState {
    Active,
    Suspended,
    Disabled,
}

super::text_column!(ProjectState, "project state");

impl ProjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectState::Active => "Active",
            ProjectState::Suspended => "Suspended",
            ProjectState::Disabled => "Disabled",
        }
    }
    /// Case-insensitive, as CloudStack's list filters are.
    pub fn parse(s: &str) -> Option<ProjectState> {
        [
            ProjectState::Active,
            ProjectState::Suspended,
            ProjectState::Disabled,
        ]
        .into_iter()
        .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    /// The state suspendProject moves to; CloudStack refuses a project already suspended.
    pub fn suspend(self, name: &str) -> Result<ProjectState, ApiError> {
        match self {
            ProjectState::Suspended => Err(ApiError::param(format!(
                "Project {name} is already suspended"
            ))),
            _ => Ok(ProjectState::Suspended),
        }
    }

    /// The state activateProject moves to; an Active project is refused.
    pub fn activate(self, name: &str) -> Result<ProjectState, ApiError> {
        match self {
            ProjectState::Active => {
                Err(ApiError::param(format!("Project {name} is already active")))
            }
            _ => Ok(ProjectState::Active),
        }
    }

    /// Whether members may create resources in the project.
    pub fn admits_new_resources(self) -> bool {
        self == ProjectState::Active
    }
}

/// An account's role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRole {
    Admin,
    Regular,
}

super::text_column!(ProjectRole, "project role");

impl ProjectRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Admin => "Admin",
            ProjectRole::Regular => "Regular",
        }
    }
    pub fn parse(s: &str) -> Option<ProjectRole> {
        [ProjectRole::Admin, ProjectRole::Regular]
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }
    /// A `roletype` parameter: CloudStack's text for anything else.
    pub fn from_param(s: &str) -> Result<ProjectRole, ApiError> {
        ProjectRole::parse(s)
            .ok_or_else(|| ApiError::param("Only Admin or Regular project role types are valid"))
    }
}

/// A project invitation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Completed,
    Declined,
    Expired,
}

super::text_column!(InvitationState, "project invitation state");

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "Pending",
            InvitationState::Completed => "Completed",
            InvitationState::Declined => "Declined",
            InvitationState::Expired => "Expired",
        }
    }
    pub fn parse(s: &str) -> Option<InvitationState> {
        [
            InvitationState::Pending,
            InvitationState::Completed,
            InvitationState::Declined,
            InvitationState::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }
    /// What accepting (`true`) or declining a pending invitation makes it.
    pub fn answer(accept: bool) -> InvitationState {
        if accept {
            InvitationState::Completed
        } else {
            InvitationState::Declined
        }
    }
}

/// The name of a project's own account: CloudStack's `PrjAcct-<name>-<id>`, unique in the
/// domain because the id is.
pub fn account_name(project: &str, id: uuid::Uuid) -> String {
    format!("PrjAcct-{project}-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_move_as_cloudstack_allows() {
        assert_eq!(
            ProjectState::Active.suspend("p").unwrap(),
            ProjectState::Suspended
        );
        assert!(ProjectState::Suspended
            .suspend("p")
            .unwrap_err()
            .text
            .contains("already suspended"));
        assert_eq!(
            ProjectState::Suspended.activate("p").unwrap(),
            ProjectState::Active
        );
        assert!(ProjectState::Active.activate("p").is_err());
        assert!(!ProjectState::Suspended.admits_new_resources());
        assert_eq!(
            ProjectState::parse("suspended"),
            Some(ProjectState::Suspended)
        );
    }

    #[test]
    fn roles_and_invitations() {
        assert_eq!(
            ProjectRole::from_param("regular").unwrap(),
            ProjectRole::Regular
        );
        assert_eq!(
            ProjectRole::from_param("ADMIN").unwrap(),
            ProjectRole::Admin
        );
        assert!(ProjectRole::from_param("Owner").is_err());
        assert_eq!(InvitationState::answer(false), InvitationState::Declined);
        assert_eq!(
            InvitationState::parse("pending"),
            Some(InvitationState::Pending)
        );
    }
}
